"""The rule for adding to a live S3 index: every image added must be in the gallery, byte for byte.

A search answer's matches are copied from the gallery bucket (docs/contracts.md), so a vector for a
key the gallery does not hold can never be shown, and a vector for bytes the gallery does not hold
shows one image while having matched another. `index add` on an S3 index root therefore refuses
the whole batch when any new or changed key is absent from the index's bucket or differs from it;
the operator uploads the images to gallery/ first (publish does) and adds again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imagesearch.errors import SearchError
from imagesearch.model.images import content_hash
from imagesearch.s3io import read_s3_capped

_SHOWN = 5  # keys named in the refusal; the count says how many more


def unmatched_keys(
    s3: Any, bucket: str, wanted: Iterable[tuple[str, str, str]], *, max_bytes: int
) -> dict[str, str]:
    """Of (key, content hash, where it was read) triples, those the bucket lacks or holds other bytes of.

    Returns key -> "not_in_gallery" | "differs_from_gallery". An image read from the bucket's own
    object under the same key is its gallery copy and costs no second read.
    """
    bad: dict[str, str] = {}
    for key, digest, where in wanted:
        if where == f"s3://{bucket}/{key}":
            continue
        try:
            held = read_s3_capped(s3, bucket, key, max_bytes)
        except SearchError as e:
            if e.code not in ("not_found", "too_large"):
                raise
            # An object over the cap cannot be the image just read within it.
            bad[key] = "not_in_gallery" if e.code == "not_found" else "differs_from_gallery"
            continue
        if content_hash(held) != digest:
            bad[key] = "differs_from_gallery"
    return bad


def refuse_unmatched(
    s3: Any, bucket: str, wanted: Iterable[tuple[str, str, str]], *, max_bytes: int
) -> None:
    """bad_request naming the keys the gallery bucket lacks or holds other bytes of; None when all match."""
    bad = unmatched_keys(s3, bucket, wanted, max_bytes=max_bytes)
    if not bad:
        return
    shown = ", ".join(f"{k} ({why})" for k, why in sorted(bad.items())[:_SHOWN])
    more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    raise SearchError(
        "bad_request",
        f"{len(bad)} image(s) are not in s3://{bucket} as indexed: {shown}{more}; upload them to "
        "the gallery first (publish does), then add again. Nothing was added.",
    )
