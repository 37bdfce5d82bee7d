"""The image collection the demo searches: the user's folder, or a cached generated sample."""

from __future__ import annotations

from pathlib import Path

DEFAULT_COUNT = 480
SAMPLE_SEED = 0
# Albums whose first image also gets a re-saved JPEG copy, so the Duplicates view has groups.
SAMPLE_COPIES = 4


def sample_collection(work_dir: Path, count: int = DEFAULT_COUNT, seed: int = SAMPLE_SEED) -> Path:
    """The generated sample albums for (count, seed), made once and reused from work_dir."""
    from imagesearch.model.sample_data import (
        cached_collection,  # the engine's one sample cache (numpy, Pillow)
    )

    if count < 1:
        raise ValueError(f"--count must be at least 1, got {count}")
    return cached_collection(work_dir, count=count, seed=seed, copies=SAMPLE_COPIES)


def user_collection(images: Path) -> Path:
    """The user's folder, checked: one subfolder per album."""
    path = Path(images).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"--images {images}: not a folder")
    if not any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        raise ValueError(f"--images {images}: expected one subfolder of images per album, found none")
    return path
