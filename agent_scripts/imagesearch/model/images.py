"""Image bytes in, a safe decoded RGB image out: content hashing and defensive decoding."""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from imagesearch.errors import SearchError

# Formats sniffed from content. A short allow-list keeps Pillow away from decoders such as EPS,
# which would run Ghostscript on whatever a bucket holds.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")


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


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode `data` into an RGB image, or raise SearchError("bad_image") saying why.

    The format is sniffed from the content (never the extension); truncated or corrupt files,
    non-images and images over `max_pixels` (decompression bombs) are refused before or while
    decoding, never half-read.
    """
    if not data:
        raise SearchError("bad_image", "the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning here is a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = im.size
            if width * height > max_pixels:
                raise SearchError(
                    "bad_image",
                    f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
                    "(possible decompression bomb)",
                )
            im.load()  # the first frame of an animation (GIF, APNG, WebP)
            return to_rgb(ImageOps.exif_transpose(im))
    except SearchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise SearchError("bad_image", f"decompression bomb refused: {e}") from e
    except UnidentifiedImageError as e:
        raise SearchError(
            "bad_image", f"not an image in a supported format ({', '.join(ALLOWED_FORMATS)})"
        ) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow reports truncated and corrupt data as OSError, and a few plugins as the others.
        raise SearchError("bad_image", f"truncated or corrupt image: {e}") from e
