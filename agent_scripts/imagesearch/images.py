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
            im.load()
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
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
