"""The agent bundle: a reproducible tar.gz of what runs on the instance, and its pointer.

The archive holds the `imagesearch` package (and the shared `cache_entries` and `site_albums`
packages it uses, and `image_prep`), the systemd unit, bootstrap.sh, the hashed lock of
the runtime dependencies (`requirements.lock`), their wheels under `wheels/` (publish/wheelhouse.py)
and a minimal pyproject.toml, with fixed timestamps, owners and order, so the same
sources always give the same bytes and the same name `agent-<sha256 prefix>.tar.gz`. In the
gallery bucket it lives at `agent/agent-<hash>.tar.gz`, next to `agent/bootstrap.sh`, and
`agent/current.json` points at it:

    {"format": 1, "version": "<hash>", "key": "agent/agent-<hash>.tar.gz", "sha256": "<full>", "bytes": N}

bootstrap.sh reads that pointer, verifies the sha256 and installs the bundle only when it changed,
with `pip install --no-index --require-hashes` from the bundle's own wheels.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from publish.wheelhouse import WHEELHOUSE, WheelhouseError, locked_wheels

AGENT_DIR = Path(__file__).resolve().parent.parent / "agent_scripts"
# Shared with the functions (their layer): the result cache's format and the album listing rule,
# which the instance's warm-up after an ingest uses.
SHARED_DIR = Path(__file__).resolve().parent.parent / "functions" / "shared"
SHARED_PACKAGES = ("cache_entries", "site_albums", "image_prep")
PREFIX = "agent/"
POINTER_KEY = PREFIX + "current.json"
BOOTSTRAP_KEY = PREFIX + "bootstrap.sh"
POINTER_FORMAT = 1
HASH_CHARS = 16  # 64 bits of the archive's sha256 in its name; the pointer carries all 256

# The agent alone, installable with pip elsewhere; bootstrap.sh itself needs no build step.
PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "imagesearch-agent"
version = "{version}"
description = "Visual image search agent: warm daemon, thin SSM client, engine."
requires-python = ">=3.11,<3.12"

[project.scripts]
imagesearch = "imagesearch.cli:main"
imagesearch-query = "imagesearch.agent.client:main"

[tool.setuptools]
packages = {packages}
"""

_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", "~")


def engine_packages(agent_dir: Path) -> list[str]:
    """The `imagesearch` package and its sub-packages (each folder with an __init__.py), sorted."""
    root = agent_dir / "imagesearch"
    return sorted(".".join(p.parent.relative_to(agent_dir).parts) for p in root.rglob("__init__.py")
                  if not _SKIP_DIRS & set(p.parts))


def _package_version(agent_dir: Path) -> str:
    for line in (agent_dir / "imagesearch" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise ValueError(f"no __version__ in {agent_dir}/imagesearch/__init__.py")


def bundle_files(agent_dir: Path = AGENT_DIR, wheelhouse: Path | None = None,
                 shared_dir: Path = SHARED_DIR) -> dict[str, tuple[bytes, int]]:
    """Archive name -> (content, mode) of every file the bundle holds, sorted by name.

    With a wheelhouse, the locked wheels go under wheels/ (what the instance installs); without
    one the bundle holds the code only, which tests use and an instance cannot install.
    """
    files: dict[str, tuple[bytes, int]] = {}
    for package in [agent_dir / "imagesearch"] + [shared_dir / name for name in SHARED_PACKAGES]:
        for dirpath, dirnames, filenames in os.walk(package):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
            for name in filenames:
                if name.endswith(_SKIP_SUFFIXES) or name.startswith("."):
                    continue
                path = Path(dirpath) / name
                files[path.relative_to(package.parent).as_posix()] = (path.read_bytes(), 0o644)
    for rel, mode in (("bootstrap.sh", 0o755), ("requirements.lock", 0o644),
                      ("systemd/imagesearch.service", 0o644)):
        path = agent_dir / rel
        if not path.is_file():
            raise FileNotFoundError(f"the agent bundle needs {path}")
        files[rel] = (path.read_bytes(), mode)
    packages = [*engine_packages(agent_dir), *SHARED_PACKAGES]
    files["pyproject.toml"] = (PYPROJECT.format(version=_package_version(agent_dir),
                                                packages=json.dumps(packages)).encode(), 0o644)
    if wheelhouse is not None:
        for path in locked_wheels(Path(wheelhouse), agent_dir / "requirements.lock").values():
            files[f"wheels/{path.name}"] = (path.read_bytes(), 0o644)
    return dict(sorted(files.items()))


def archive_bytes(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A gzip'd tar of `files` whose bytes depend on the contents only (no times, owners, order)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data, mode = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    # Level 1: the wheels (nearly all the bytes) are zip-compressed already; level 9 made the same
    # size (91 MiB) in 2.6 times the time (6.5 s against 2.5 here).
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=1) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def pointer_for(data: bytes) -> dict[str, Any]:
    """The agent/current.json body naming an archive with these bytes."""
    digest = hashlib.sha256(data).hexdigest()
    version = digest[:HASH_CHARS]
    return {"format": POINTER_FORMAT, "version": version, "key": f"{PREFIX}agent-{version}.tar.gz",
            "sha256": digest, "bytes": len(data)}


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_bundle(out_dir: Path, agent_dir: Path = AGENT_DIR, wheelhouse: Path | None = None) -> Path:
    """Write agent-<hash>.tar.gz and its current.json into out_dir; return the archive's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = archive_bytes(bundle_files(Path(agent_dir), wheelhouse))
    pointer = pointer_for(data)
    bundle = out_dir / Path(pointer["key"]).name
    if not (bundle.is_file() and bundle.read_bytes() == data):
        _write_atomic(bundle, data)
    _write_atomic(out_dir / "current.json", (json.dumps(pointer, indent=2, sort_keys=True) + "\n").encode())
    return bundle


def main(argv: list[str] | None = None) -> int:
    """`python -m publish.bundle --out dist`: build the bundle and print its pointer."""
    parser = argparse.ArgumentParser(prog="python -m publish.bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="dist", help="output folder (default: dist)")
    parser.add_argument("--wheelhouse", type=Path, default=WHEELHOUSE,
                        help="the locked wheels (default: the one `make wheelhouse` fills)")
    args = parser.parse_args(argv)
    try:
        bundle = build_bundle(Path(args.out), wheelhouse=args.wheelhouse)
    except WheelhouseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    pointer = pointer_for(bundle.read_bytes())
    print(json.dumps({"bundle": str(bundle), **pointer}, indent=2))
    print(f"bundle size: {pointer['bytes'] / 2**20:.1f} MiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
