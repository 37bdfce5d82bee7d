"""Featurize speed: ONNX Runtime (the featurize function) against MXNet (the instance), per image.

Both run the same seeded ResNet-50 at 224 px on the same decoded sample images (the shared
image_prep decode and input), on this machine's CPU:
- per image, batch 1 and batch 16, each runtime with every core (the instance's way);
- "containers": processes running the function's path (decode + input + ONNX Runtime) with one
  intra-op thread each (about the one vCPU a 2048 MB Lambda gets), one alone and two at once.
S3 reads are not included (they overlap nothing here; on Lambda they are in the function's time).
The section goes into docs/benchmarks.md (between its own markers) and the figures into
docs/bench/featurize_speed.json, which docs/scale.md's projection uses.

Usage: python bench/featurize_speed.py [--images 48] [--repeat 3] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from doc_section import write_section

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions" / "featurize"))
TITLE = "Featurize: ONNX Runtime (the featurize function) against MXNet (the instance)"
SECTION = "featurize-speed"  # its markers in docs/benchmarks.md (bench/doc_section.py)
SIZE = 224
COMMAND = "python bench/featurize_speed.py"


def sample_bytes(n: int) -> list[bytes]:
    """n PNGs of the sample collection at 320 px (decoded and resized to 224 like any image)."""
    from imagesearch.model.sample_data import ALBUMS, render

    out = []
    albums = list(ALBUMS)
    for i in range(n):
        buf = io.BytesIO()
        render(albums[i % len(albums)], i, size=320).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _inputs(images: list[bytes]):
    import image_prep
    import numpy as np

    square = (SIZE, SIZE)  # decoded for the input size, as the function and the instance do
    return np.stack([image_prep.to_input(image_prep.decode(b, max_pixels=10**8, size=square), SIZE)
                     for b in images])


def _per_image(run, x, batch: int, repeat: int) -> float:
    """Median seconds per image of `run` over `repeat` passes of x in chunks of `batch`."""
    run(x[:batch])  # warm-up (oneDNN / ORT allocate for the shape)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for start in range(0, len(x), batch):
            run(x[start : start + batch])
        times.append((time.perf_counter() - t) / len(x))
    return statistics.median(times)


def _container(model_path: str, images: list[bytes], start, out) -> None:
    """One 'container': the function's path on its images with one intra-op thread."""
    from model import OnnxFeaturizer

    model = OnnxFeaturizer(Path(model_path).read_bytes(), threads=1, chunk=16)
    model.featurize_arrays(_inputs(images[:1]))
    start.wait()
    t = time.perf_counter()
    model.featurize_arrays(_inputs(images))
    out.put(time.perf_counter() - t)


def containers(model_path: str, images: list[bytes], count: int) -> float:
    """Images per second of `count` concurrent containers, each doing all of `images`."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(count + 1), ctx.Queue()
    procs = [ctx.Process(target=_container, args=(model_path, images, start, out)) for _ in range(count)]
    for p in procs:
        p.start()
    start.wait()
    t = time.perf_counter()
    for _ in procs:
        out.get()
    wall = time.perf_counter() - t
    for p in procs:
        p.join()
    return count * len(images) / wall


def measure(n_images: int, repeat: int) -> dict:
    """Every figure of the section."""
    import mxnet
    import onnxruntime
    from imagesearch.model.features import Featurizer
    from imagesearch.model.onnx_model import export_model
    from model import OnnxFeaturizer

    images = sample_bytes(n_images)
    t = time.perf_counter()
    x = _inputs(images)
    prep = (time.perf_counter() - t) / len(images)
    mx_feat = Featurizer.load("seed:0", size=SIZE, batch_size=16)
    with tempfile.TemporaryDirectory(prefix="featurize-bench-") as tmp:
        model_path = os.path.join(tmp, "model.onnx")
        export_model(mx_feat, Path(model_path))
        ort_feat = OnnxFeaturizer(Path(model_path).read_bytes(), threads=0, chunk=16)
        result = {"images": n_images, "repeat": repeat, "size": SIZE, "cores": os.cpu_count(),
                  "load_average": os.getloadavg()[0], "decode_and_input_s": prep,
                  "mxnet": mxnet.__version__, "onnxruntime": onnxruntime.__version__, "per_image_s": {}}
        for batch in (1, 16):
            result["per_image_s"][f"mxnet_b{batch}"] = _per_image(mx_feat.featurize_arrays, x, batch, repeat)
            result["per_image_s"][f"onnx_b{batch}"] = _per_image(ort_feat.featurize_arrays, x, batch, repeat)
        del mx_feat, ort_feat
        result["containers_img_s"] = {str(c): containers(model_path, images, c) for c in (1, 2)}
    result["command"] = COMMAND
    return result


def section(r: dict) -> str:
    """The markdown section."""
    p = r["per_image_s"]
    rows = [f"| MXNet {r['mxnet']} (instance) | {b} | {p[f'mxnet_b{b}'] * 1000:.1f} ms | "
            f"{1 / p[f'mxnet_b{b}']:.1f} |" for b in (1, 16)]
    rows += [f"| ONNX Runtime {r['onnxruntime']} (function) | {b} | {p[f'onnx_b{b}'] * 1000:.1f} ms | "
             f"{1 / p[f'onnx_b{b}']:.1f} |" for b in (1, 16)]
    c = r["containers_img_s"]
    return "\n".join([
        f"## {TITLE}",
        "",
        f"Made by `{r['command']}` (its own command; `make bench` keeps it). Seeded ResNet-50 (`seed:0`) at "
        f"{r['size']} px on {r['images']} sample images, median of {r['repeat']} passes, on {r['cores']} "
        f"shared cores (1-minute load average {r['load_average']:.1f} when it ran: other work shared the "
        "machine, so read the ratios more than the absolute figures). The network only; decoding and "
        f"the input tensor add {r['decode_and_input_s'] * 1000:.1f} ms per image on either path.",
        "",
        "| runtime | batch | per image | images/s |",
        "|---|---|---|---|",
        *rows,
        "",
        "Containers (the function's path: decode, input, ONNX Runtime with one thread each, about the one "
        "vCPU of a 2048 MB Lambda):",
        "",
        "| containers at once | images/s (all together) |",
        "|---|---|",
        f"| 1 | {c['1']:.1f} |",
        f"| 2 | {c['2']:.1f} |",
        "",
        "docs/bench/featurize_speed.json holds these figures; docs/scale.md projects a re-index from them.",
    ])


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(prog="bench/featurize_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=48)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--json", type=Path, default=REPO / "docs" / "bench" / "featurize_speed.json")
    args = p.parse_args(argv)
    result = measure(args.images, args.repeat)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    write_section(SECTION, section(result), args.out)
    print(section(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
