"""Display copies of a gallery image: a thumbnail and a preview, JPEG, upright, without private metadata.

The one maker of the site's `thumbs/` and `previews/` objects (docs/contracts.md, "S3 layout"),
used by `publish` and by `imagesearch ingest`. Pillow only. The original's EXIF (GPS, camera
serial, capture time) and XMP never reach a copy: the image is re-encoded from its pixels and only
the ICC colour profile is carried over. Large JPEGs are decoded at a reduced scale (`draft`).
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from imagesearch.errors import SearchError
from imagesearch.images import ALLOWED_FORMATS, to_rgb

THUMB_SIZE = 256
PREVIEW_SIZE = 1280
SIZES = {"thumbs": THUMB_SIZE, "previews": PREVIEW_SIZE}
JPEG_QUALITY = {"thumbs": 80, "previews": 85}
CONTENT_TYPE = "image/jpeg"
CACHE_CONTROL = "public, max-age=86400"
# Display copies are made only of images the index accepted; the cap is a second guard.
DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class DisplayCopies:
    """The JPEG bytes of each copy (by prefix: thumbs, previews) and the original's upright size."""

    copies: dict[str, bytes]
    width: int
    height: int


@functools.cache
def _register_heif() -> None:
    """HEIC/HEIF through pillow-heif when installed (the engine's own registration may replace this)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


def open_oriented(data: bytes, *, draft_to: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode `data` at no less than `draft_to` px on the long side, orientation applied, RGB.

    The one decode of this module (the lead may point it at the engine's shared helper).
    """
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            formats = tuple(dict.fromkeys((*ALLOWED_FORMATS, "HEIF", "AVIF")))
            im = Image.open(io.BytesIO(data), formats=formats)
            if im.width * im.height > max_pixels:
                raise SearchError("bad_image", f"image is {im.width}x{im.height}, over {max_pixels} pixels")
            if im.format == "JPEG" and max(im.size) > draft_to:
                # DCT scaling: decode at 1/2, 1/4 or 1/8 while both sides stay >= the box of the
                # same aspect whose long side is draft_to (a square box would keep a 4:3 photo whole).
                scale = draft_to / max(im.size)
                im.draft("RGB", (math.ceil(im.width * scale), math.ceil(im.height * scale)))
            im.load()
            icc = im.info.get("icc_profile")
            upright = to_rgb(ImageOps.exif_transpose(im))
    except SearchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, SyntaxError,
            ValueError, EOFError) as e:
        raise SearchError("bad_image", f"cannot make a display copy: {e}") from e
    upright.info = {"icc_profile": icc} if icc else {}
    return upright


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
    """The original's upright size (a draft decode shrinks the pixels, not what the listing reports)."""
    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
        orientation = im.getexif().get(0x0112)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def make_display_copies(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DisplayCopies:
    """The thumbnail and preview of an image's bytes; SearchError("bad_image") when it cannot be decoded."""
    im = open_oriented(data, draft_to=PREVIEW_SIZE, max_pixels=max_pixels)
    copies = {prefix: _jpeg(im, size, JPEG_QUALITY[prefix]) for prefix, size in SIZES.items()}
    width, height = _original_size(data)
    return DisplayCopies(copies=copies, width=width, height=height)


def display_key(prefix: str, gallery_key: str) -> str:
    """`thumbs/<album>/<file>` or `previews/<album>/<file>` of `gallery/<album>/<file>`."""
    if not gallery_key.startswith("gallery/"):
        raise ValueError(f"not a gallery key: {gallery_key!r}")
    return f"{prefix}/{gallery_key[len('gallery/'):]}"
