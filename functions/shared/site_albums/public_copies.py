"""The public copies of a gallery image in the site bucket, and their removal.

Each gallery image the index holds has a thumbnail `thumbs/<album>/<file>` and a preview
`previews/<album>/<file>` (made at publish and ingest), and the search function copies a match's
preview to `results/<gallery key>` (docs/contracts.md). When an image leaves the index, every copy
must leave the site too, or a removed photo stays readable by anyone who kept the link. Every path
that removes images from the index calls `delete_public_copies` with the keys that left: publish
(after a new version goes live) and the ingest function (for a batch's deletions and refusals).
It ships in the functions' shared layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

RESULTS_PREFIX = "results/"
DISPLAY_PREFIXES = ("thumbs/", "previews/")
GALLERY_PREFIX = "gallery/"
_BATCH = 1000  # DeleteObjects takes at most 1000 keys per call


class PublicCopiesNotDeleted(RuntimeError):
    """S3 refused to delete some public copies; the message names the first."""


def result_key(gallery_key: str) -> str:
    """Where the search function copies a match (the function's copier.result_key is the same rule)."""
    return RESULTS_PREFIX + gallery_key


def public_keys(gallery_key: str) -> list[str]:
    """Every site key that may hold a copy of a gallery image: its thumb, preview and result copy."""
    keys = [result_key(gallery_key)]
    if gallery_key.startswith(GALLERY_PREFIX):
        rest = gallery_key[len(GALLERY_PREFIX):]
        keys += [prefix + rest for prefix in DISPLAY_PREFIXES]
    return keys


def keys_that_left(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """The keys of one index version that the next one no longer holds, sorted."""
    return sorted(set(before) - set(after))


def delete_public_copies(s3: Any, site_bucket: str, gallery_keys: Iterable[str]) -> int:
    """Delete the thumb, preview and result copy of each gallery key (absent ones are fine).

    Returns how many gallery keys' copies were asked to go. Raises PublicCopiesNotDeleted naming the first key
    S3 refused to delete.
    """
    gallery_keys = set(gallery_keys)
    keys = sorted({k for gallery_key in gallery_keys for k in public_keys(gallery_key)})
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
    return len(gallery_keys)
