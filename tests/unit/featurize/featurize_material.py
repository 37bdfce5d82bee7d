"""The featurize tests' constants and images (made here, never downloaded)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

GALLERY = "gallery-bucket"
SIZE = 32  # the smallest input ResNet-50 accepts; keeps the tests cheap on 2 shared cores
ENV = {"GALLERY_BUCKET": GALLERY}


def png(seed: int, size: int = 40, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()
