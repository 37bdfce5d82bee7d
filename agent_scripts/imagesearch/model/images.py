"""Image bytes in, a safe decoded RGB image out: content hashing and defensive decoding."""

from __future__ import annotations

import functools
import hashlib
import io
import math
import warnings

from PIL import Image, UnidentifiedImageError

from imagesearch import decode_budget
from imagesearch.decode_budget import PixelGate
from imagesearch.errors import SearchError

# Formats sniffed from content. A short allow-list keeps Pillow away from decoders such as EPS,
# which would run Ghostscript on whatever a bucket holds. AVIF is Pillow's own (its wheels carry
# libavif); HEIF is pillow-heif's, registered on the first decode (its import costs ~25 ms).
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "AVIF", "HEIF")
# What users are told they may bring (the page and the function say the same).
ACCEPTED_TEXT = "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC or AVIF"


def content_hash(data: bytes) -> str:
    """The sha256 hex digest of an image's bytes (its identity in the index)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# Transparent pixels are shown on white, as the page and most viewers show them.
BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


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
def _formats() -> tuple[str, ...]:
    """ALLOWED_FORMATS with pillow-heif registered (without it, where it is not installed, no HEIF)."""
    try:
        import pillow_heif
    except ImportError:
        return tuple(f for f in ALLOWED_FORMATS if f != "HEIF")
    pillow_heif.register_heif_opener()
    return ALLOWED_FORMATS


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


def _decode(data: bytes, *, max_pixels: int, need: tuple[int, int] | None, gate: PixelGate | None,
            max_side: int | None = None) -> Image.Image:
    """The one decode: sniff, cap, reduced-scale decode within the memory gate, RGB, upright.

    `need` is the size (upright) the caller will resize to: the result keeps each side at least
    REDUCING_GAP times it where the image is that large; None decodes at full size. `max_side`:
    resized (Lanczos) to fit it before the gate is let go.
    """
    if not data:
        raise SearchError("bad_image", "the file is empty")
    gate = gate or decode_budget.shared_gate()
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning here is a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_formats())
            width, height = im.size
            # Formats whose decoders hold more per pixel are admitted up to the same memory.
            cap = decode_budget.pixel_cap(max_pixels, im.format)
            if width * height > cap:
                raise SearchError(
                    "bad_image",
                    f"image is {width}x{height} = {width * height} pixels, over the limit of {cap} "
                    f"for {im.format} (possible decompression bomb)",
                )
            # PNG's getexif() decodes the whole image (an eXIf chunk may follow the pixels), so
            # only JPEG's orientation is read before the gate, where the draft size needs it.
            orientation = _orientation(im) if im.format == "JPEG" else None
            if need is not None and orientation is not None:
                # libjpeg scales while decoding (1/2, 1/4, 1/8): a 12-megapixel photo for a 224 px
                # input decodes ~16 times fewer pixels, faster and in a fraction of the memory.
                im.draft("RGB", tuple(math.ceil(side * REDUCING_GAP) for side in _raw(need, orientation)))
            cost = im.size[0] * im.size[1] * decode_budget.bytes_per_pixel(im.format)
            icc = im.info.get("icc_profile")
            with gate.hold(cost):
                im.load()  # the first frame of an animation (GIF, APNG, WebP)
                if orientation is None:
                    orientation = _orientation(im)
                raw_need = _raw(need, orientation) if need is not None else None
                out = _reduced_rgb(im, _factor(im.size, raw_need))
                del im
                # Inside the gate: a full-size result turned or resized after it was let go sat
                # beside the next image's decode (+120 MiB over the budget with display copies).
                if orientation != 1:
                    out = out.transpose(_TRANSPOSE[orientation])
                if max_side is not None:
                    out = _fit(out, max_side)
            # Nothing of the original's metadata travels with the pixels (no EXIF, XMP or GPS to
            # leak into a display copy, no orientation tag to turn it twice) but its colour profile.
            out.info = {"icc_profile": icc} if icc else {}
    except SearchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise SearchError("bad_image", f"decompression bomb refused: {e}") from e
    except UnidentifiedImageError as e:
        raise SearchError("bad_image", f"not an image in a supported format ({ACCEPTED_TEXT})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow reports truncated and corrupt data as OSError, and a few plugins as the others.
        raise SearchError("bad_image", f"truncated or corrupt image: {e}") from e
    if cost > decode_budget.LARGE_BYTES:
        decode_budget.release_memory()
    return out


def decode_image(data: bytes, *, max_pixels: int, size: tuple[int, int] | None = None,
                 gate: PixelGate | None = None) -> Image.Image:
    """Decode `data` into an upright RGB image, or raise SearchError("bad_image") saying why.

    The format is sniffed from the content (never the extension); truncated or corrupt files,
    non-images and images over `max_pixels` (decompression bombs) are refused before or while
    decoding, never half-read. EXIF orientation is applied. With `size` (the size the caller
    resizes to, e.g. the featurizer's input) a large image comes back reduced, each side still at
    least twice `size` (JPEG decodes at reduced scale); without it, at full size. Decoding holds
    its share of the memory budget in `gate` (default: the process's, decode_budget.shared_gate).
    """
    return _decode(data, max_pixels=max_pixels, need=size, gate=gate)


def decode_cost(data: bytes, *, size: tuple[int, int] | None = None) -> int:
    """The bytes decode_image(data, size=size) will hold, from the header alone (0: not an image).

    What the daemon reads to send a large decode to its own lane before decoding anything.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_formats())
            if size is not None and im.format == "JPEG":
                need = _raw(size, _orientation(im))
                im.draft("RGB", tuple(math.ceil(side * REDUCING_GAP) for side in need))
            return im.size[0] * im.size[1] * decode_budget.bytes_per_pixel(im.format)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError):
        return 0  # decode_image refuses it, quickly, with the reason


def open_oriented(data: bytes, *, max_side: int, max_pixels: int | None = None,
                  gate: PixelGate | None = None) -> Image.Image:
    """An upright RGB image whose long side is at most `max_side` (never enlarged), for display copies.

    Decoded at reduced scale where the format allows (JPEG), within the memory budget, then
    resized with Lanczos. Its `info` holds the original's ICC profile only (`icc_profile`, when it
    had one): no EXIF, XMP or GPS. Refuses what decode_image refuses, with the same SearchError("bad_image");
    `max_pixels` None: the cap of this machine's budget (decode_budget.DecodeBudget.from_memory).
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    if max_pixels is None:
        max_pixels = decode_budget.DecodeBudget.from_memory(decode_budget.machine_memory_mib()).max_pixels
    return _decode(data, max_pixels=max_pixels, need=(max_side, max_side), gate=gate, max_side=max_side)


def _fit(im: Image.Image, max_side: int) -> Image.Image:
    """`im` resized (Lanczos) so its long side is at most `max_side`; never enlarged."""
    long_side = max(im.size)
    if long_side <= max_side:
        return im
    scale = max_side / long_side
    return im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))),
                     Image.Resampling.LANCZOS)
