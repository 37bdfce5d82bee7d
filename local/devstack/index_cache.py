"""Carry the live index over from one demo run to the next.

moto keeps its buckets in memory, so every run starts with an empty gallery. Saving the live index
version (current.json and its version folder) under the work dir, and putting it back into the
fresh bucket before publishing, lets the publisher see an unchanged index (its manifest records
the source digest) and skip the build, exactly as it would against a real bucket.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from imagesearch.index.storage import GALLERY_INDEX_PREFIX, LocalIndexStore, S3IndexStore

from publish.uploader import file_items, sync


def snapshot_dir(work_dir: Path, images_dir: Path) -> Path:
    """Where the index of one image folder is kept (one folder per image set: sets never evict each other)."""
    tag = hashlib.sha256(str(Path(images_dir).resolve()).encode()).hexdigest()[:12]
    return Path(work_dir) / "s3-index" / tag


def restore(s3, bucket: str, snapshot: Path) -> bool:
    """Upload a saved index (a local index root) into the bucket's index root; False when there is none."""
    if not snapshot.is_dir() or LocalIndexStore(str(snapshot)).read_current() is None:
        return False
    items = file_items(snapshot, prefix=f"{GALLERY_INDEX_PREFIX}/")
    sync(s3, bucket, items, label="index cache", progress=False)
    return True


def save(s3, bucket: str, snapshot: Path) -> str | None:
    """Save the bucket's live index version under snapshot (replacing the old one); its version."""
    live = S3IndexStore(s3, bucket, GALLERY_INDEX_PREFIX)
    version = live.read_current()
    if version is None:
        return None
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and swap, so a concurrent or interrupted run never sees half a copy.
    staging = Path(tempfile.mkdtemp(prefix=".index-", dir=snapshot.parent))
    try:
        live.fetch_version(version, str(staging / version))
        LocalIndexStore(str(staging)).set_current(version)
        old = snapshot.with_name(snapshot.name + ".old")
        if snapshot.exists():
            snapshot.rename(old)
        staging.rename(snapshot)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return version
