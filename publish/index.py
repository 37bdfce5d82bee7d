"""The search index: built locally with the engine and published as a new version of
s3://<gallery>/index only when the images (or the weights, or the input size) changed."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError
from imagesearch.errors import SearchError

from publish.uploader import Counts, PublishError

log = logging.getLogger(__name__)


def live_manifest(s3, gallery_bucket: str) -> dict | None:
    """The manifest of the live version of s3://<gallery>/index; None when none is published or readable."""
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore  # numpy: imported when used

    store = S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX)
    try:
        version = store.read_current()
        return None if version is None else store.read_manifest(version)
    except SearchError as e:
        log.warning("index: the live version in %s cannot be read (%s)", store.root, e.message)
        return None
    except ClientError as e:
        raise PublishError(f"cannot read the index in {store.root}: {e}") from e


def summary_from_manifest(manifest: dict) -> dict:
    """albums.json's `index` object {version, count, mode, pretrained, demo, weights_label} (contracts)."""
    from site_albums import index_summary  # one home, shared with the ingest function

    return index_summary(manifest)


def live_version(s3, gallery_bucket: str) -> str | None:
    """The live version id of s3://<gallery>/index; None when none is published or readable."""
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore

    try:
        return S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX).read_current()
    except SearchError:
        return None


def remove_stale_results(s3, gallery_bucket: str, site_bucket: str, before: str | None) -> int:
    """Delete the public copies of keys the live version dropped since version `before`; return how many.

    Publish never deletes gallery objects (the gallery is additive and versioned); an image leaves
    the product when it leaves the index, so that is when its `results/` copy goes.
    """
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore
    from site_albums import PublicCopiesNotDeleted, delete_public_copies, keys_that_left

    store = S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX)
    after = live_version(s3, gallery_bucket)
    if before is None or after is None or after == before:
        return 0
    try:
        old, new = (store.read_array(v, "keys").tolist() for v in (before, after))
        return delete_public_copies(s3, site_bucket, keys_that_left(old, new))
    except SearchError as e:
        raise PublishError(f"cannot remove stale results/ copies: {e.message}") from e
    except PublicCopiesNotDeleted as e:
        raise PublishError(str(e)) from e


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
    from imagesearch.index.build_params import BuildConfig
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore
    from imagesearch.model import near_duplicate_set
    from imagesearch.ops.build import build_index

    store = S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX)
    with tempfile.TemporaryDirectory(prefix="publish-index-") as tmp:
        cache = Path(work_dir) if work_dir else Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        try:
            config = BuildConfig.from_settings(settings.load())
            # Unless forced, the engine's own check keeps the live version when its manifest records
            # the same images (source digest), weights and input size: only manifest.json is fetched.
            report = build_index(str(images_dir), store, config=config, s3=s3,
                                 weights=str(weights) if weights else None, size=size, cache_dir=str(cache),
                                 if_changed=not force, progress=progress,
                                 # The operator's machine measures the near-duplicate band on the
                                 # labelled set (scikit-image, a dev dependency); else the fallback.
                                 near_duplicate_set=near_duplicate_set.available())
        except SearchError as e:
            raise PublishError(f"index build failed ({e.code}): {e.message}") from e
    if report.get("skipped"):
        reasons = ", ".join(f"{n} {r}" for r, n in report["skipped_by_reason"].items())
        log.warning("index: skipped %d files (%s)", report["skipped"], reasons)
    return Counts(0, 1) if report.get("unchanged") else Counts(1, 0)
