"""Image bytes in, a safe decoded RGB image out: content hashing and defensive decoding."""

from __future__ import annotations

import hashlib

import image_prep
from PIL import Image

from imagesearch.errors import SearchError


def content_hash(data: bytes) -> str:
    """The sha256 hex digest of an image's bytes (its identity in the index)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode `data` into an RGB image, or raise SearchError("bad_image") saying why.

    The steps live in the shared image_prep package, so the featurize function decodes the same way.
    """
    try:
        return image_prep.decode(data, max_pixels=max_pixels)
    except image_prep.BadImage as e:
        raise SearchError("bad_image", str(e)) from e
