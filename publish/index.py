"""The search index: built locally with the engine and published as a new version of
s3://<gallery>/index only when the images (or the weights, or the input size) changed."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError

from publish.uploader import Counts, PublishError

INDEX_PREFIX = "index"
log = logging.getLogger(__name__)


def _get_json(s3, bucket: str, key: str) -> dict | None:
    from imagesearch.s3io import get_bytes

    try:
        body = get_bytes(s3, bucket, key)
    except ClientError as e:
        raise PublishError(f"cannot read s3://{bucket}/{key}: {e}") from e
    if body is None:
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError as e:
        raise PublishError(f"s3://{bucket}/{key} is not JSON: {e}") from e
    return value if isinstance(value, dict) else None


def live_manifest(s3, gallery_bucket: str) -> dict | None:
    """The manifest of the version index/current.json points at, or None when none is published."""
    from imagesearch.artifacts import CURRENT, MANIFEST, VERSION_RE

    pointer = _get_json(s3, gallery_bucket, f"{INDEX_PREFIX}/{CURRENT}")
    version = (pointer or {}).get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        return None
    return _get_json(s3, gallery_bucket, f"{INDEX_PREFIX}/{version}/{MANIFEST}")


def summary_from_manifest(manifest: dict) -> dict:
    """albums.json's `index` object {version, count, mode, pretrained, weights_label} (contracts)."""
    weights = manifest.get("weights", {})
    pretrained = bool(weights.get("pretrained"))
    source = str(weights.get("source", "?"))
    label = "pretrained ImageNet weights" if pretrained else f"demo weights, not pretrained ({source})"
    return {"version": manifest.get("version"), "count": manifest.get("count"),
            "mode": manifest.get("default_mode"), "pretrained": pretrained, "weights_label": label}


def albums_index_summary(s3, gallery_bucket: str) -> dict | None:
    """The `index` object of albums.json from the live manifest (None when there is no index)."""
    manifest = live_manifest(s3, gallery_bucket)
    return summary_from_manifest(manifest) if manifest is not None else None


def _unchanged(manifest: dict | None, images_dir: Path, weights: str, size: int, progress: bool) -> bool:
    """Whether the live index was built from exactly these images, weights and input size.

    Only manifest.json is fetched; the images are hashed (and decoded, as a build would) locally.
    """
    if manifest is None:
        return False
    built_with = (manifest.get("weights", {}).get("source"), manifest.get("model", {}).get("input_size"))
    if built_with != (weights, size):
        return False
    from imagesearch.build import Limits, collect_sources, featurize_sources, source_digest

    sources, _ = collect_sources(str(images_dir))
    probe = featurize_sources(sources, None, Limits.from_settings(), progress=progress)
    return manifest.get("source_digest") == source_digest(zip(probe.keys, probe.hashes, strict=True))


def publish_index(
    s3,
    gallery_bucket: str,
    images_dir: Path,
    *,
    weights: str | None = None,
    size: int | None = None,
    work_dir: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> Counts:
    """Build the index of images_dir and publish it to s3://<gallery>/index unless unchanged.

    weights: a .params path, s3://..., "pretrained" or "seed:N" (default: the engine's setting);
    the instance loads the same source, so publish_all passes weights it uploaded as s3:// URIs.
    Counts index versions: (1, 0) when a new version went live, (0, 1) when the live one was kept.
    """
    from imagesearch import settings
    from imagesearch.build import build_index
    from imagesearch.errors import SearchError

    weights = str(weights) if weights else settings.get("IMAGESEARCH_WEIGHTS")
    size = int(size or settings.get("IMAGESEARCH_INPUT_SIZE"))
    if not force:
        try:
            if _unchanged(live_manifest(s3, gallery_bucket), Path(images_dir), weights, size, progress):
                return Counts(0, 1)
        except SearchError as e:
            raise PublishError(f"cannot read the images in {images_dir}: {e.message}") from e
    with tempfile.TemporaryDirectory(prefix="publish-index-") as tmp:
        cache = Path(work_dir) if work_dir else Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        try:
            report = build_index(str(images_dir), f"s3://{gallery_bucket}/{INDEX_PREFIX}", s3=s3,
                                 weights=weights, size=size, cache_dir=str(cache), progress=progress)
        except SearchError as e:
            raise PublishError(f"index build failed ({e.code}): {e.message}") from e
    if report.get("skipped"):
        reasons = ", ".join(f"{n} {r}" for r, n in report["skipped_by_reason"].items())
        log.warning("index: skipped %d files (%s)", report["skipped"], reasons)
    return Counts(1, 0)
