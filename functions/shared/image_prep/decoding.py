"""Image bytes to an upright 8-bit RGB image: the one pixel pipeline of the instance and the functions.

Sniff an allowed format from the content, refuse bombs, read the EXIF orientation, decode a JPEG
at reduced scale (libjpeg's draft) when the caller names the size it will resize to, convert to
RGB strip by strip, turn upright, keep only the colour profile. Pure Pillow (numpy only for 16-bit
grey), no imagesearch: the instance's imagesearch.model.images adds its memory gate and per-format
caps through `pixel_cap` and `hold`; the featurize function calls it as it is.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from PIL import Image, UnidentifiedImageError

# Formats sniffed from content. A short allow-list keeps Pillow away from decoders such as EPS,
# which would run Ghostscript on whatever a bucket holds. AVIF is Pillow's own (its wheels carry
# libavif); HEIF is pillow-heif's, registered on the first decode (its import costs ~25 ms).
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "AVIF", "HEIF")
# What users are told they may bring (the page and the functions say the same).
ACCEPTED_TEXT = "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC or AVIF"
# Transparent pixels are shown on white, as the page and most viewers show them.
BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# Decoding at reduced scale keeps at least this many times the size asked for, so the final resize
# still averages (Pillow's own thumbnail() uses the same gap, "indistinguishable" from a full decode).
REDUCING_GAP = 2.0
# Conversion to RGB works on strips of about this many pixels, so a near-cap image is never held
# twice over (the decoded image plus a full-size RGB copy).
_STRIP_PIXELS = 1 << 20
# EXIF orientation (tag 0x0112) -> the transpose that makes the image upright (ImageOps.exif_transpose's).
_ORIENTATION = 0x0112
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
# Pillow's errors for truncated, corrupt or unreadable data (a few plugins raise the others).
_PILLOW_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError,
                  EOFError)


class BadImage(ValueError):
    """The bytes are not an image this project decodes; the message says why."""


def to_rgb(im: Image.Image) -> Image.Image:
    """The one normalisation of a decoded image to 8-bit RGB (call after EXIF orientation).

    Pillow's plain convert("RGB") clips 16-bit grey at 255 (nearly all white) and drops alpha,
    which leaves whatever colour the encoder stored under transparent pixels (often black).
    """
    if im.mode in _SIXTEEN_BIT:
        import numpy as np  # only 16-bit grey needs it

        wide = np.asarray(im, dtype=np.uint32)
        im = Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


@functools.cache
def formats() -> tuple[str, ...]:
    """ALLOWED_FORMATS with pillow-heif registered (without it, where it is not installed, no HEIF)."""
    try:
        import pillow_heif
    except ImportError:
        return tuple(f for f in ALLOWED_FORMATS if f != "HEIF")
    pillow_heif.register_heif_opener()
    return ALLOWED_FORMATS


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(_ORIENTATION, 1))
    except (ValueError, TypeError, SyntaxError, OSError):  # a corrupt EXIF block: shown as stored
        return 1
    return value if value in _TRANSPOSE else 1


def _raw(need: tuple[int, int], orientation: int) -> tuple[int, int]:
    """A size asked for upright, in the stored image's frame (swapped when it is stored on its side)."""
    return (need[1], need[0]) if orientation in (5, 6, 7, 8) else need


def _factor(size: tuple[int, int], need: tuple[int, int] | None) -> int:
    """The largest integer reduction keeping each side at least REDUCING_GAP x `need` (1: none)."""
    if need is None:
        return 1
    return max(1, min(int(size[0] / (need[0] * REDUCING_GAP)), int(size[1] / (need[1] * REDUCING_GAP))))


def _reduced_rgb(im: Image.Image, factor: int) -> Image.Image:
    """`im` (loaded, any mode) as RGB, box-reduced by `factor`, converted strip by strip.

    Each strip's height is a multiple of `factor`, so the result equals a whole-image reduce.
    """
    width, height = im.size
    opaque = "transparency" not in im.info
    if factor == 1 and im.mode == "RGB" and opaque:
        return im
    if im.mode in ("RGB", "L") and opaque:
        return to_rgb(im.reduce(factor))  # Pillow reduces these in place of a copy: no strips needed
    rows = max(factor, (_STRIP_PIXELS // max(1, width)) // factor * factor)
    out = Image.new("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    for top in range(0, height, rows):
        part = to_rgb(im.crop((0, top, width, min(height, top + rows))))
        out.paste(part.reduce(factor) if factor > 1 else part, (0, top // factor))
    return out


def _fit(im: Image.Image, max_side: int) -> Image.Image:
    """`im` resized (Lanczos) so its long side is at most `max_side`; never enlarged."""
    long_side = max(im.size)
    if long_side <= max_side:
        return im
    scale = max_side / long_side
    return im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))),
                     Image.Resampling.LANCZOS)


def _draft(im: Image.Image, need: tuple[int, int] | None) -> int | None:
    """Ask libjpeg for a reduced-scale decode of a JPEG; its orientation (None: not read yet).

    PNG's getexif() decodes the whole image (an eXIf chunk may follow the pixels), so only JPEG's
    orientation is read before loading, where the draft size needs it.
    """
    if im.format != "JPEG":
        return None
    orientation = _orientation(im)
    if need is not None:
        # libjpeg scales while decoding (1/2, 1/4, 1/8): a 12-megapixel photo for a 224 px
        # input decodes ~16 times fewer pixels, faster and in a fraction of the memory.
        im.draft("RGB", tuple(math.ceil(side * REDUCING_GAP) for side in _raw(need, orientation)))
    return orientation


def decoded_size(data: bytes, *, size: tuple[int, int] | None = None) -> tuple[str, tuple[int, int]] | None:
    """(format, pixels decoded) that decode(data, size=size) will load, from the header alone.

    None: not an image decode() accepts (it refuses it, quickly, with the reason).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=formats())
            _draft(im, size)
            return im.format, im.size
    except _PILLOW_ERRORS:
        return None


def _same_cap(max_pixels: int, image_format: str | None) -> int:
    return max_pixels


def decode(data: bytes, *, max_pixels: int, size: tuple[int, int] | None = None,
           pixel_cap: Callable[[int, str | None], int] = _same_cap,
           hold: Callable[[Image.Image], AbstractContextManager] | None = None,
           max_side: int | None = None) -> Image.Image:
    """Decode `data` into an upright RGB image, or raise BadImage saying why.

    The format is sniffed from the content (never the extension); truncated or corrupt files,
    non-images and images over the pixel cap (decompression bombs) are refused before or while
    decoding, never half-read. `size` is the size (upright) the caller will resize to: a large
    image comes back reduced, each side still at least REDUCING_GAP times it (a JPEG decodes at
    reduced scale); None decodes at full size. Nothing of the original's metadata travels with the
    pixels but its colour profile (`info["icc_profile"]`).

    `pixel_cap(max_pixels, format)`: the cap of one format (default: `max_pixels` for all).
    `hold(image)`: a context held while the opened (drafted, not yet loaded) image decodes, e.g. a
    share of a memory budget (default: none). `max_side`: the result resized (Lanczos) to fit it,
    never enlarged, before `hold` is let go (display copies).
    """
    if not data:
        raise BadImage("the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning here is a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=formats())
            width, height = im.size
            cap = pixel_cap(max_pixels, im.format)
            if width * height > cap:
                raise BadImage(f"image is {width}x{height} = {width * height} pixels, over the limit of "
                               f"{cap} for {im.format} (possible decompression bomb)")
            orientation = _draft(im, size)
            icc = im.info.get("icc_profile")
            with hold(im) if hold is not None else nullcontext():
                im.load()  # the first frame of an animation (GIF, APNG, WebP)
                if orientation is None:
                    orientation = _orientation(im)
                raw_need = _raw(size, orientation) if size is not None else None
                out = _reduced_rgb(im, _factor(im.size, raw_need))
                del im
                # Inside the hold: a full-size result turned or resized after it was let go sat
                # beside the next image's decode (+120 MiB over the budget with display copies).
                if orientation != 1:
                    out = out.transpose(_TRANSPOSE[orientation])
                if max_side is not None:
                    out = _fit(out, max_side)
            # No EXIF, XMP or GPS to leak into a display copy, no orientation tag to turn it twice.
            out.info = {"icc_profile": icc} if icc else {}
            return out
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImage(f"decompression bomb refused: {e}") from e
    except UnidentifiedImageError as e:
        raise BadImage(f"not an image in a supported format ({ACCEPTED_TEXT})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow reports truncated and corrupt data as OSError, and a few plugins as the others.
        raise BadImage(f"truncated or corrupt image: {e}") from e
