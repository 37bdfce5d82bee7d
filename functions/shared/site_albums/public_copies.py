"""The copies of matches, `results/<gallery key>` in the site bucket, and their removal.

The search function copies a match there to show it (docs/contracts.md). When an image leaves the
index, its copy must leave the site too, or a removed photo stays readable by anyone who kept the
link until the lifecycle rule expires it. Every path that removes images from the index calls
`delete_public_copies` with the keys that left: publish (after a new version goes live) and the
ingest function (for a batch's deletions). It ships in the functions' shared layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

RESULTS_PREFIX = "results/"
_BATCH = 1000  # DeleteObjects takes at most 1000 keys per call


class PublicCopiesNotDeleted(RuntimeError):
    """S3 refused to delete some results/ copies; the message names the first."""


def result_key(gallery_key: str) -> str:
    """Where the search function copies a match (the function's copier.result_key is the same rule)."""
    return RESULTS_PREFIX + gallery_key


def keys_that_left(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """The keys of one index version that the next one no longer holds, sorted."""
    return sorted(set(before) - set(after))


def delete_public_copies(s3: Any, site_bucket: str, gallery_keys: Iterable[str]) -> int:
    """Delete `results/<key>` for each gallery key (absent copies are fine); return how many were asked.

    Raises PublicCopiesNotDeleted naming the first key S3 refused to delete.
    """
    keys = sorted({result_key(k) for k in gallery_keys})
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        answer = s3.delete_objects(
            Bucket=site_bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise PublicCopiesNotDeleted(
                f"{len(errors)} public copies in s3://{site_bucket} could not be deleted, first "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}",
            )
    return len(keys)
