"""Phone-like photos for the decode benchmarks: real photographs scaled up, with EXIF written by Pillow.

The photographs are the ones scikit-image ships (skimage.data, no download); each is scaled up to
the size a phone writes (12 megapixels, 4032 x 3024), stored sideways with EXIF orientation 6 (as
a phone held upright stores it) and GPS tags, as JPEG (quality 90), or HEIC / AVIF.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "hubble_deep_field")
PHONE_SIZE = (4032, 3024)  # 12.2 megapixels, the usual phone camera
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def photo(name: str) -> Image.Image:
    """One of scikit-image's sample photographs as an RGB image."""
    import skimage.data

    array = getattr(skimage.data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(array[..., :3]).astype(np.uint8), "RGB")


def phone_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: orientation, camera, capture time and a GPS position."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "BenchPhone"  # Make
    exif[0x0110] = "Model 12"  # Model
    exif[0x0132] = "2026:06:01 12:00:00"  # DateTime
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.6)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.2)
    return exif


def phone_image(index: int, size: tuple[int, int] = PHONE_SIZE) -> Image.Image:
    """The index-th photo scaled up to `size` as the sensor saw it (landscape), mirrored on odd turns."""
    base = photo(PHOTOS[index % len(PHOTOS)])
    if (index // len(PHOTOS)) % 2:
        base = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return base.resize(size, Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str = "JPEG", orientation: int = 6, quality: int = 90) -> bytes:
    """`image` stored sideways as a phone stores a portrait: rotated, with the orientation tag to undo it."""
    stored = image.transpose(Image.Transpose.ROTATE_90) if orientation == 6 else image
    out = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    stored.save(out, fmt, quality=quality, exif=phone_exif(orientation).tobytes())
    return out.getvalue()


def phone_jpegs(count: int, size: tuple[int, int] = PHONE_SIZE) -> list[bytes]:
    """`count` 12-megapixel phone JPEGs (orientation 6, GPS), made from the sample photographs."""
    return [encode(phone_image(i, size)) for i in range(count)]
