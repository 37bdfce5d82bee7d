"""Image bytes to the network's input: the one decode and preprocessing both featurizers use.

The instance (MXNet, imagesearch.features) and the featurize function (ONNX Runtime) must give
the same vectors for the same file, so the steps live here once: sniff an allowed format, refuse
bombs, apply EXIF orientation, flatten to 8-bit RGB, resize and normalise. Pure Pillow and numpy
(no MXNet, no imagesearch), so the function's layer and the instance's bundle can both carry it.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Formats sniffed from content. A short allow-list keeps Pillow away from decoders such as EPS,
# which would run Ghostscript on whatever a bucket holds.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
# Transparent pixels are shown on white, as the page and most viewers show them.
BACKGROUND = (255, 255, 255)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


class BadImage(ValueError):
    """The bytes are not an image this project decodes; the message says why."""


def to_rgb(im: Image.Image) -> Image.Image:
    """The one normalisation of a decoded image to 8-bit RGB (call after EXIF orientation).

    Pillow's plain convert("RGB") clips 16-bit grey at 255 (nearly all white) and drops alpha,
    which leaves whatever colour the encoder stored under transparent pixels (often black).
    """
    if im.mode in _SIXTEEN_BIT:
        wide = np.asarray(im, dtype=np.uint32)
        im = Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


def decode(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode `data` into an RGB image, or raise BadImage saying why.

    The format is sniffed from the content (never the extension); truncated or corrupt files,
    non-images and images over `max_pixels` (decompression bombs) are refused before or while
    decoding, never half-read.
    """
    if not data:
        raise BadImage("the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning here is a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = im.size
            if width * height > max_pixels:
                raise BadImage(
                    f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
                    "(possible decompression bomb)"
                )
            im.load()  # the first frame of an animation (GIF, APNG, WebP)
            return to_rgb(ImageOps.exif_transpose(im))
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImage(f"decompression bomb refused: {e}") from e
    except UnidentifiedImageError as e:
        raise BadImage(f"not an image in a supported format ({', '.join(ALLOWED_FORMATS)})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow reports truncated and corrupt data as OSError, and a few plugins as the others.
        raise BadImage(f"truncated or corrupt image: {e}") from e


def to_input(image: Image.Image, size: int) -> np.ndarray:
    """One image as a normalised CHW float32 array of `size` x `size` (the network's input)."""
    im = image.convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))
