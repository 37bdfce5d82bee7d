"""Display copies of a gallery image: a thumbnail and a preview, JPEG, upright, without private metadata.

The one maker of the site's `thumbs/` and `previews/` objects (docs/contracts.md, "S3 layout"),
used by `publish` and by `imagesearch ingest`. Pillow only. The original's EXIF (GPS, camera
serial, capture time) and XMP never reach a copy: the image is re-encoded from its pixels and only
the ICC colour profile is carried over. The decode is the engine's own (`images.open_oriented`:
reduced scale for large JPEGs, orientation applied, within the memory budget; `max_pixels` None
is this machine's cap).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from imagesearch.decode_budget import LARGE_BYTES, release_memory, shared_gate
from imagesearch.model.images import decode_cost, open_oriented

THUMB_SIZE = 256
PREVIEW_SIZE = 1280
SIZES = {"thumbs": THUMB_SIZE, "previews": PREVIEW_SIZE}
JPEG_QUALITY = {"thumbs": 80, "previews": 85}
CONTENT_TYPE = "image/jpeg"
CACHE_CONTROL = "public, max-age=86400"


@dataclass(frozen=True)
class DisplayCopies:
    """The JPEG bytes of each copy (by prefix: thumbs, previews) and the original's upright size."""

    copies: dict[str, bytes]
    width: int
    height: int


def _jpeg(im: Image.Image, long_side: int, quality: int) -> bytes:
    copy = im.copy()
    copy.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    icc = im.info.get("icc_profile")
    # No exif=/xmp= arguments and an info holding only the ICC profile: nothing else is written.
    copy.info = {}
    copy.save(out, "JPEG", quality=quality, optimize=True, progressive=True,
              **({"icc_profile": icc} if icc else {}))
    return out.getvalue()


def _original_size(data: bytes) -> tuple[int, int]:
    """The original's upright size (a draft decode shrinks the pixels, not what the listing reports).

    PNG's getexif() decodes the whole image (an eXIf chunk may follow the pixels): it holds the
    decode gate for that, or a near-cap PNG's pixels sat beside another copy's decode, outside the
    budget (+94 MiB on an ingest's peak, bench/decode_memory.py).
    """
    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
        cost = 0 if im.format == "JPEG" else decode_cost(data)
        with shared_gate().hold(cost):
            orientation = im.getexif().get(0x0112)
    if cost > LARGE_BYTES:
        release_memory()
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def make_display_copies(data: bytes, *, max_pixels: int | None = None) -> DisplayCopies:
    """The thumbnail and preview of an image's bytes; SearchError("bad_image") when it cannot be decoded."""
    im = open_oriented(data, max_side=PREVIEW_SIZE, max_pixels=max_pixels)  # refuses bad images first
    width, height = _original_size(data)
    copies = {prefix: _jpeg(im, size, JPEG_QUALITY[prefix]) for prefix, size in SIZES.items()}
    return DisplayCopies(copies=copies, width=width, height=height)


def display_key(prefix: str, gallery_key: str) -> str:
    """`thumbs/<album>/<file>` or `previews/<album>/<file>` of `gallery/<album>/<file>`."""
    if not gallery_key.startswith("gallery/"):
        raise ValueError(f"not a gallery key: {gallery_key!r}")
    return f"{prefix}/{gallery_key[len('gallery/'):]}"
