"""`make bench` / `make bench-quick`: measure every stage in one run and write the report with its plots.

Usage: python bench/run.py [--quick] [--out docs/benchmarks.md] [--work-dir DIR] [--count N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ann_recall
import build_speed
import copy_stage
import end_to_end
import figures
import load_time
import machine
import memory
import old_system
import quality
import query_latency
import run_figures
from agent_proc import agent_env, running_daemon
from devstack.launcher import StackProcess
from devstack.s3server import MotoServer, client, create_buckets
from imagesearch import settings
from imagesearch.model import sample_data
from imagesearch.model.weights import default_input_size
from index_data import open_live
from report import Section, render, table, with_kept_tail

REPO = Path(__file__).resolve().parent.parent
SITE_BUCKET = "bench-site"
K = 5


@dataclass(frozen=True)
class Plan:
    """How much of everything one run measures."""

    count: int
    subset_224: int
    load_repeats: int
    model_repeats: int
    old_repeats: int
    query_repeats: int
    query_images: int
    cold_repeats: int
    mode_queries: int
    recall_queries: int
    quality_queries: int
    copy_repeats: int
    e2e_requests: int


QUICK = Plan(count=600, subset_224=24, load_repeats=5, model_repeats=2, old_repeats=3, query_repeats=20,
             query_images=10, cold_repeats=2, mode_queries=50, recall_queries=50, quality_queries=100,
             copy_repeats=5, e2e_requests=20)
FULL = Plan(count=30000, subset_224=200, load_repeats=20, model_repeats=3, old_repeats=3, query_repeats=200,
            query_images=50, cold_repeats=5, mode_queries=500, recall_queries=500, quality_queries=1000,
            copy_repeats=20, e2e_requests=200)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options."""
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small collection and few repeats (a few minutes)")
    p.add_argument("--out", type=Path, help="report path (default: bench/out/benchmarks.md with --quick, "
                                            "else docs/benchmarks.md); plots go to bench/ beside it")
    p.add_argument("--work-dir", type=Path,
                   help="images, indexes and logs (default: bench/out/work-quick or work-full)")
    p.add_argument("--count", type=int, help="images in the collection (default: 600 quick, 30000 full)")
    p.add_argument("--weights", default="seed:0",
                   help="featurizer weights: seed:N (default seed:0), "
                        "a .params path, or pretrained")
    p.add_argument("--made-by", default=None, help="the command to name in the report (default: this one)")
    return p.parse_args(argv)


def log(message: str) -> None:
    """Progress on stderr, with the time of day."""
    print(f"[bench {dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def sample_images(work: Path, count: int) -> Path:
    """The generated collection for this count (the engine's sample cache, made once per work dir)."""
    return sample_data.cached_collection(work, count=count, seed=0)


def fresh(path: Path) -> Path:
    """An empty directory at path."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def weights_label(manifest: dict, spec: str) -> str:
    """How the report names the featurizer's weights (the spec asked for, never a local path)."""
    w = manifest["weights"]
    kind = "ImageNet-pretrained" if w.get("pretrained") else "NOT pretrained: seeded random initialisation"
    return f"`{spec}` ({kind}, digest {w['sha256'][:12]})"


def measure_agent(index_root: Path, images: Path, work: Path, plan: Plan, count: int, npy_bytes: int
                  ) -> tuple[query_latency.QueryResult, memory.MemoryResult]:
    """Sections 3 and 6: the daemon and the thin client against a local S3 holding the query images."""
    result = query_latency.QueryResult(count, K)
    new_images = sample_data.cached_collection(work, count=plan.query_images, seed=1)  # seed 1: not indexed
    with MotoServer() as server:
        s3 = client("s3", server.endpoint_url)
        create_buckets(s3, SITE_BUCKET)
        picked = query_latency.pick_files(images, plan.query_images)
        indexed = query_latency.stage_queries(s3, SITE_BUCKET, picked)
        new = query_latency.stage_queries(s3, SITE_BUCKET, sorted(new_images.glob("*/*.png")), "new-")
        socket_path = work / "agent-cache" / "daemon.sock"
        env = agent_env(server.endpoint_url, index_root, fresh(work / "agent-cache"), socket_path)
        log("daemon: starting")
        with running_daemon(env, work / "daemon.log") as daemon:
            log("daemon: warm queries")
            query_latency.measure_warm(socket_path, SITE_BUCKET, indexed, K, plan.query_repeats, result,
                                       query_latency.WARM_INDEXED)
            query_latency.measure_warm(socket_path, SITE_BUCKET, new, K, plan.query_repeats, result,
                                       query_latency.WARM_NEW)
            mem = memory.measure(daemon.proc.pid, count, npy_bytes)
        log("cold thin client")
        query_latency.measure_cold(env, SITE_BUCKET, indexed, K, plan.cold_repeats, result)
    query_latency.measure_modes(index_root, work / "agent-cache", K, plan.mode_queries, result)
    return result, mem


def preamble(args: argparse.Namespace, count: int, seconds: float, weights: str) -> str:
    """Machine, software and the command that made the report."""
    made_by = args.made_by or machine.command_line()
    info = machine.describe(REPO)
    rows = [[name, value] for name, value in info.items()]
    return "\n\n".join([
        f"Made by `{made_by}` on {dt.date.today().isoformat()} in {seconds / 60:.1f} minutes; every figure "
        f"below comes from that one run ({'quick' if args.quick else 'full'} plan: {count:,} generated "
        "sample images in labelled albums, `imagesearch.model.sample_data.generate(seed=0)`). "
        f"Weights: {weights}. Figures are medians with their spread (IQR and p95) and n; ratios carry a "
        "bootstrap 95% interval.",
        table(["machine", ""], rows),
    ])


def run(args: argparse.Namespace) -> Path:
    """Measure everything and write the report; returns its path."""
    plan = QUICK if args.quick else FULL
    count = args.count or plan.count
    default_out = REPO / "bench" / "out" / "benchmarks.md" if args.quick else REPO / "docs" / "benchmarks.md"
    out = args.out or default_out
    plot_dir, rel = out.parent / "bench", "bench"
    plot_dir.mkdir(parents=True, exist_ok=True)
    work = args.work_dir or REPO / "bench" / "out" / f"work-{'quick' if args.quick else 'full'}"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    log(f"sample collection of {count} images")
    images = sample_images(work, count)
    # An empty setting follows the weights (224 pretrained, 32 seeded): the bench names its size.
    default_size = settings.load().input_size or default_input_size(args.weights == "pretrained")
    log(f"1. build at {default_size} px")
    index_root = fresh(work / "index")
    weights = args.weights
    builds = [build_speed.run_build(images, index_root, default_size, weights, "full collection")]
    log(f"1. build at 224 px on {plan.subset_224} images")
    small = build_speed.subset(images, fresh(work / "subset-224"), plan.subset_224)
    builds.append(build_speed.run_build(small, fresh(work / "index-224"), 224, weights, "subset"))
    data = open_live(index_root)
    sections: list[Section] = [build_speed.section(builds, plot_dir, rel)]

    log("2. load time")
    load = load_time.measure(index_root, work / "agent-cache", plan.load_repeats, plan.model_repeats,
                             plan.old_repeats)
    sections.append(load_time.section(load, plot_dir, rel))

    log("3/6. daemon, thin client, search modes")
    query, mem = measure_agent(index_root, images, work, plan, data.manifest["count"], data.npy_bytes)
    sections.append(query_latency.section(query, plot_dir, rel))

    log("4. recall")
    recall = ann_recall.measure(data.vectors, plan.recall_queries,
                                ann_recall.default_settings(ann_recall.LshSetting.from_manifest(data.manifest)))
    sections.append(ann_recall.section(recall, plot_dir, rel))

    log("5. quality")
    paths = [images / key.split("/", 1)[1] for key in data.keys]
    label = weights_label(data.manifest, args.weights)
    qual = quality.measure(data.vectors, data.keys, paths, plan.quality_queries, label)
    sections.append(quality.section(qual, plot_dir, rel))
    sections.append(memory.section(mem))

    log("7. copy")
    copy = copy_stage.measure([1, 10, 20], plan.copy_repeats)
    sections.append(copy_stage.section(copy, plot_dir, rel))

    log("8. end to end through the local stack")
    with StackProcess("--images", str(images), work_dir=work / "devstack", log_path=work / "devstack.log",
                      timeout=3600) as stack:
        keys = end_to_end.album_keys(stack.info["url"])
        e2e = end_to_end.measure(stack.info["api"], keys, count, K, plan.e2e_requests)
    sections.append(end_to_end.section(e2e, plot_dir, rel))

    sections.append(old_system.section(old_system.stages(load, query, copy, e2e)))
    seconds = time.perf_counter() - started
    text = render("Benchmarks", preamble(args, count, seconds, label), sections)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(with_kept_tail(text, out.read_text() if out.exists() else ""))
    # The same figures, machine-readable, for the documents that quote them (docs/figures_doc.py).
    measured = run_figures.figures(builds, load, query, mem, e2e, figures.report_name(out))
    written = figures.write(figures.figure_path(out), measured, args.made_by or "python bench/run.py")
    log(f"wrote {written.name}: `make figures-doc` carries its figures into the documents")
    log(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out} in {seconds / 60:.1f} min")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
