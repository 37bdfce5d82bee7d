"""The image collection the demo searches: the user's folder, or a cached generated sample."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

DEFAULT_COUNT = 480
SAMPLE_SEED = 0
_COMPLETE = ".complete"


def sample_collection(work_dir: Path, count: int = DEFAULT_COUNT, seed: int = SAMPLE_SEED) -> Path:
    """The generated sample albums for (count, seed), made once and reused from work_dir."""
    from imagesearch.sample_data import generate  # the engine's generator (imports numpy and Pillow)

    if count < 1:
        raise ValueError(f"--count must be at least 1, got {count}")
    target = Path(work_dir) / f"samples-{count}-seed{seed}"
    if (target / _COMPLETE).exists():
        return target
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    # Generate beside the target and rename, so an interrupted run never leaves a half collection
    # that a later run would take as complete.
    staging = Path(tempfile.mkdtemp(prefix=".samples-", dir=work_dir))
    try:
        generate(staging, count=count, seed=seed)
        (staging / _COMPLETE).write_text(f"count={count} seed={seed}\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def user_collection(images: Path) -> Path:
    """The user's folder, checked: one subfolder per album."""
    path = Path(images).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"--images {images}: not a folder")
    if not any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        raise ValueError(f"--images {images}: expected one subfolder of images per album, found none")
    return path
