"""The featurize layer's unpacked size, as Lambda counts it, without Docker or a deployment.

pip installs the layer's requirements (functions/featurize/layer/requirements.txt) as binary
wheels for the function's platform (python3.12, arm64 Linux) into a temporary folder; the bytes
of every file there are what the layer unpacks to. The record (docs/bench/featurize_layer.json)
is what tests/unit/template/test_featurize_template.py checks against Lambda's 250 MB limit.

Usage: python bench/featurize_layer.py [--out docs/bench/featurize_layer.json]   (needs the registry)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "functions" / "featurize" / "layer" / "requirements.txt"
# The template's Globals put every function on arm64; glibc 2.34 on the python3.12 runtime.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_27_aarch64", "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.12"


def requirements() -> list[str]:
    """The layer's pinned requirements, comments dropped."""
    lines = REQUIREMENTS.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def measure(target: Path) -> dict:
    """Install the wheels into `target`/python and return the record."""
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--only-binary=:all:",
                    "--implementation", "cp", "--python-version", PYTHON_VERSION, *platform_args,
                    "--target", str(target / "python"), "-r", str(REQUIREMENTS)], check=True)
    sizes: dict[str, int] = {}
    for path in (target / "python").iterdir():
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        sizes[path.name] = sum(f.stat().st_size for f in files)
    return {"requirements": requirements(), "platforms": list(PLATFORMS), "python": PYTHON_VERSION,
            "unpacked_bytes": sum(sizes.values()),
            "largest": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:8]),
            "command": "python bench/featurize_layer.py"}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(prog="bench/featurize_layer.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "featurize_layer.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="featurize-layer-") as tmp:
        record = measure(Path(tmp))
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{record['unpacked_bytes'] / 1e6:.1f} MB unpacked -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
