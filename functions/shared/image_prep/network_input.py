"""A decoded image to the network's input: resize to the square input size, ImageNet mean and std."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@functools.cache
def _mean_std() -> tuple[np.ndarray, np.ndarray]:
    return np.array(IMAGENET_MEAN, dtype=np.float32), np.array(IMAGENET_STD, dtype=np.float32)


def to_input(image: Image.Image, size: int) -> np.ndarray:
    """One image as a normalised CHW float32 array of `size` x `size` (the network's input)."""
    im = image.convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    mean, std = _mean_std()
    x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))
