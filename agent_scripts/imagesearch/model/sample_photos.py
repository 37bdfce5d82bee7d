"""Phone-like sample photos for tests and measurements: large, sideways with an EXIF orientation,
and carrying the private metadata a phone writes (GPS position, camera serial, capture time, XMP).

The pixels are four coloured quadrants plus texture, so a test can tell where the stored top-left
corner lands once orientation is applied: with orientation 6 (rotate 90 degrees clockwise to show)
the stored top-left (QUADRANTS["top_left"]) is shown at the top right and the stored bottom-left at
the top left.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

QUADRANTS = {"top_left": (220, 30, 30), "top_right": (30, 200, 40), "bottom_left": (30, 40, 220),
             "bottom_right": (240, 240, 240)}
# 3264 x 2448: the 8-megapixel sensor of many phones.
PHONE_SIZE = (3264, 2448)
SERIAL = "SN-PRIVATE-0123456789"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="PrivateTown"/>'
       b"</rdf:RDF></x:xmpmeta>")


def quadrant_pixels(size: tuple[int, int] = PHONE_SIZE, seed: int = 0) -> Image.Image:
    """Four flat-ish coloured quadrants with a little noise (so JPEG and features have texture)."""
    width, height = size
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), dtype=np.int16)
    half_w, half_h = width // 2, height // 2
    pixels[:half_h, :half_w] = QUADRANTS["top_left"]
    pixels[:half_h, half_w:] = QUADRANTS["top_right"]
    pixels[half_h:, :half_w] = QUADRANTS["bottom_left"]
    pixels[half_h:, half_w:] = QUADRANTS["bottom_right"]
    noise = rng.integers(-12, 13, size=(height // 16 + 1, width // 16 + 1, 1), dtype=np.int16)
    pixels += np.repeat(np.repeat(noise, 16, axis=0), 16, axis=1)[:height, :width]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def private_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: orientation, camera, serial, capture time and a GPS position."""
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 12"  # Model
    exif[0x0132] = "2026:07:14 09:30:00"  # DateTime
    ifd = exif.get_ifd(0x8769)  # Exif IFD
    ifd[0x9003] = "2026:07:14 09:30:00"  # DateTimeOriginal
    ifd[0xA431] = SERIAL  # BodySerialNumber
    gps = exif.get_ifd(0x8825)  # GPS IFD
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    gps[3], gps[4] = "E", (2.0, 17.0, 40.0)
    return exif


def phone_jpeg(size: tuple[int, int] = PHONE_SIZE, *, orientation: int = 6, seed: int = 0) -> bytes:
    """A sideways phone JPEG: the stored pixels with EXIF orientation, GPS, serial, time and XMP."""
    out = io.BytesIO()
    quadrant_pixels(size, seed).save(out, "JPEG", quality=90, exif=private_exif(orientation), xmp=XMP)
    return out.getvalue()


def phone_heic(size: tuple[int, int] = PHONE_SIZE, *, orientation: int = 6, seed: int = 0) -> bytes:
    """The same photo as HEIC (needs pillow-heif), with the same EXIF."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    out = io.BytesIO()
    # x265's fastest preset: an 8 MP HEIC in seconds, not half a minute; the decoder path is the same.
    quadrant_pixels(size, seed).save(out, "HEIF", quality=80, exif=private_exif(orientation).tobytes(),
                                     enc_params={"preset": "ultrafast"})
    return out.getvalue()
