"""Section 1: index build throughput through the operator's command, `imagesearch index build`."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import plots
from agent_proc import console_script
from report import Section, figure, table


@dataclass
class Build:
    """One timed build: what it indexed, at which size, and how long each part took."""

    label: str
    size: int
    images: int
    wall_s: float
    featurize_s: float
    report: dict

    @property
    def featurize_rate(self) -> float:
        """Images featurized per second (reading, decoding and the model; no start-up)."""
        return self.images / self.featurize_s if self.featurize_s else float("nan")

    @property
    def wall_rate(self) -> float:
        """Images per second over the whole command, start-up and publishing included."""
        return self.images / self.wall_s


def run_build(images_dir: Path, out_dir: Path, size: int, weights: str, label: str) -> Build:
    """Run `imagesearch index build` once and time it; the command's own JSON report is kept."""
    cmd = [console_script("imagesearch"), "index", "build", "--images", str(images_dir),
           "--out", str(out_dir), "--size", str(size), "--weights", weights, "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"index build failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    featurize = float(report.get("featurize_seconds") or wall)
    return Build(label, size, int(report["count"]), wall, featurize, report)


def subset(images_dir: Path, out_dir: Path, count: int) -> Path:
    """Symlink the first files of every album (round robin) into out_dir: a smaller, same-shaped set."""
    albums = sorted(p for p in images_dir.iterdir() if p.is_dir())
    files = {a.name: sorted(a.iterdir()) for a in albums}
    chosen: list[Path] = []
    i = 0
    while len(chosen) < count and any(i < len(f) for f in files.values()):
        chosen += [f[i] for f in files.values() if i < len(f)][: count - len(chosen)]
        i += 1
    for src in chosen:
        dest = out_dir / src.parent.name / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            dest.symlink_to(src.resolve())
    return out_dir


TARGET_COUNT = 30000  # the collection size the product is sized for (README, docs/benchmarks.md)


def duration(seconds: float) -> str:
    """Seconds under two minutes, else minutes (or hours)."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def section(builds: list[Build], plot_dir: Path, rel_dir: str, full_count: int = TARGET_COUNT) -> Section:
    """The markdown section and its throughput plot."""
    rows = [[b.label, f"{b.size} px", f"{b.images:,}", duration(b.wall_s), duration(b.featurize_s),
             f"{b.featurize_rate:.1f}", f"{b.wall_rate:.1f}", duration(full_count / b.featurize_rate)]
            for b in builds]
    rates = {f"{b.size} px ({b.images:,} img)": [b.featurize_rate] for b in builds}
    plots.bars(plot_dir / "build.png", rates, "images per second (featurize)", "Index build throughput")
    mode = builds[0].report.get("default_mode")
    recall = builds[0].report.get("recall") or {}
    body = "\n\n".join([
        "Each build is one run of `imagesearch index build --size PX --weights W` (reading, decoding, "
        "ResNet-50 features in batches, LSH tables, the build-time recall check and publishing the version). "
        "*Featurize* is the build's own timing of reading + decoding + the model; *wall* includes process "
        "start-up, loading the model, the LSH tables and writing the arrays. A build runs once (n=1): it is "
        "long and its per-image rate is already an average over every batch. The 224 px build runs on a "
        "subset (every album represented) because it is much slower; the last column extrapolates each "
        "measured rate to the product's 30,000 images.",
        table(["build", "input", "images", "wall", "featurize", "img/s (featurize)", "img/s (wall)",
               f"featurizing {full_count:,} at that rate"], rows),
        f"The default-size build chose `default_mode = {mode}` (held-out recall@10 "
        f"{recall.get('recall', 'n/a')}, fraction scored {recall.get('fraction_scored', 'n/a')}).",
        figure(f"{rel_dir}/build.png", "build throughput"),
    ])
    return Section("Index build throughput", body)
