"""Images for the parity test: textures, odd modes, EXIF, phone formats, photographs packages ship."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from imagesearch.model.sample_data import render
from PIL import Image


def _encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def shipped_photographs() -> dict[str, bytes]:
    """Photographs installed with matplotlib (a dev dependency) and scikit-image when present."""
    photos: dict[str, bytes] = {}
    import matplotlib

    sample = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if sample.is_file():
        photos["grace_hopper.jpg"] = sample.read_bytes()
    try:
        from skimage import data  # optional: not a project dependency
    except ImportError:
        return photos
    for name in ("astronaut", "coffee", "chelsea"):
        photos[f"skimage-{name}.jpg"] = _encode(Image.fromarray(getattr(data, name)()), "JPEG", quality=92)
    return photos


def parity_images() -> dict[str, bytes]:
    """Name -> encoded bytes: what both featurizers must agree on."""
    rng = np.random.default_rng(7)
    images = {f"{album}.png": _encode(render(album, 0, size=96)) for album in ("marble", "brick", "clouds")}
    images["grey.png"] = _encode(render("wood", 1, size=80).convert("L"))
    rgba = Image.fromarray(rng.integers(0, 255, (60, 90, 4), dtype=np.uint8), "RGBA")
    images["transparent.png"] = _encode(rgba)
    wide = Image.fromarray(rng.integers(0, 65535, (50, 70), dtype=np.uint16).astype(np.int32), "I")
    images["sixteen-bit.png"] = _encode(wide.convert("I;16"))
    rotated = render("stripes", 2, size=120).resize((160, 90))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    images["exif-rotated.jpg"] = _encode(rotated, "JPEG", quality=90, exif=exif.tobytes())
    images.update(shipped_photographs())
    images.update(phone_formats())
    return images


def phone_formats() -> dict[str, bytes]:
    """What phones send: a large JPEG stored on its side (decoded at reduced scale), HEIC, AVIF, WebP."""
    photo = render("marble", 3, size=96).resize((1600, 1200), Image.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = {"phone-on-its-side.jpg": _encode(photo, "JPEG", quality=90, exif=exif.tobytes()),
           "photo.webp": _encode(photo.resize((800, 600)), "WEBP", quality=90),
           "photo.avif": _encode(photo.resize((640, 480)), "AVIF", quality=80)}
    try:
        import pillow_heif
    except ImportError:  # HEIC decodes only where pillow-heif is installed (the dev venv has it)
        return out
    pillow_heif.register_heif_opener()
    out["photo.heic"] = _encode(photo.resize((640, 480)), "HEIF", quality=80)
    return out
