"""Write duplicates.json (docs/contracts.md, "duplicates.json") for the live index at publish.

The groups are the engine's (imagesearch.ops.duplicates: the batch search's top 10 of every image,
joined transitively at the index's near_duplicate band); pixels and bytes are read from the
local album folder the gallery was published from (the same bytes).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from publish.uploader import Counts, PublishError

log = logging.getLogger(__name__)


def _published(s3, site_bucket: str) -> dict | None:
    """The site's duplicates.json, or None when it is absent or unreadable (then it is rewritten)."""
    import json

    from botocore.exceptions import ClientError
    from imagesearch.ops.duplicates import DUPLICATES_JSON

    try:
        doc = json.loads(s3.get_object(Bucket=site_bucket, Key=DUPLICATES_JSON)["Body"].read())
    except (ClientError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("groups"), list) else None


def publish_duplicates(s3, site_bucket: str, gallery_bucket: str, images_dir: Path, *,
                       work_dir: Path | None = None, collected=None) -> tuple[Counts, dict | None]:
    """Put duplicates.json for the live version: (counts, the document); (nothing, None) without an index.

    Kept (counted unchanged) when the site's duplicates.json already names the live version.
    `collected`: the groups the cache warm-up joined from its top 10 of every image of the live
    version (imagesearch.ops.duplicates.GroupCollector); without them the search runs here.
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="duplicates-") as tmp:
            return publish_duplicates(s3, site_bucket, gallery_bucket, images_dir, work_dir=Path(tmp),
                                      collected=collected)
    from botocore.exceptions import BotoCoreError, ClientError
    from imagesearch.errors import SearchError
    from imagesearch.index.opened import OpenIndex
    from imagesearch.index.storage import GALLERY_INDEX_PREFIX, open_store
    from imagesearch.ops.duplicates import facts_from_folder, find_duplicates, write_duplicates_json

    try:
        store = open_store(f"s3://{gallery_bucket}/{GALLERY_INDEX_PREFIX}", s3=s3)
        version = store.read_current()
        if version is None:
            return Counts(), None
        current = _published(s3, site_bucket)
        if current is not None and current.get("version") == version:
            return Counts(0, 1), current
        index = OpenIndex.open(store, s3=s3, cache_dir=str(work_dir))
        if not index.manifest.get("bands"):
            log.warning("duplicates.json: index version %s has no score bands; rebuild it", version)
            return Counts(), None
        doc = find_duplicates(index, facts_from_folder(str(images_dir)), collected=collected)
        write_duplicates_json(s3, site_bucket, doc)
    except SearchError as e:
        raise PublishError(f"cannot write duplicates.json ({e.code}): {e.message}") from e
    except (ClientError, BotoCoreError) as e:
        raise PublishError(f"cannot write duplicates.json to s3://{site_bucket}: {e}") from e
    return Counts(1, 0), doc
