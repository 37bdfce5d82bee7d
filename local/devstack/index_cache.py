"""Carry the live index over from one demo run to the next.

moto keeps its buckets in memory, so every run starts with an empty gallery. Saving the live index
version (current.json and its version folder) under the work dir, and putting it back into the
fresh bucket before publishing, lets the publisher see an unchanged index (its manifest records
the source digest) and skip the build, exactly as it would against a real bucket.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError

from publish.uploader import file_items, sync

INDEX_PREFIX = "index/"


def snapshot_dir(work_dir: Path, images_dir: Path) -> Path:
    """Where the index of one image folder is kept (one folder per image set: sets never evict each other)."""
    tag = hashlib.sha256(str(Path(images_dir).resolve()).encode()).hexdigest()[:12]
    return Path(work_dir) / "s3-index" / tag


def restore(s3, bucket: str, snapshot: Path) -> bool:
    """Upload a saved index into the bucket; False when there is none."""
    if not (snapshot / "current.json").is_file():
        return False
    sync(s3, bucket, file_items(snapshot, prefix=INDEX_PREFIX), label="index cache", progress=False)
    return True


def save(s3, bucket: str, snapshot: Path) -> str | None:
    """Save the bucket's live index version under snapshot (replacing the old one); its version."""
    try:
        pointer = json.loads(s3.get_object(Bucket=bucket, Key=INDEX_PREFIX + "current.json")["Body"].read())
    except ClientError as e:
        if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    version = pointer["version"]
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and swap, so a concurrent or interrupted run never sees half a copy.
    staging = Path(tempfile.mkdtemp(prefix=".index-", dir=snapshot.parent))
    try:
        prefix = f"{INDEX_PREFIX}{version}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                target = staging / obj["Key"][len(INDEX_PREFIX):]
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(target))
        (staging / "current.json").write_text(json.dumps(pointer))
        old = snapshot.with_name(snapshot.name + ".old")
        if snapshot.exists():
            snapshot.rename(old)
        staging.rename(snapshot)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return version
