"""Image bytes to the network's input: the one pixel pipeline both featurizers use.

The instance (MXNet, imagesearch.model.features) and the featurize function (ONNX Runtime) must
give the same vectors for the same file, so the steps live here once: `decoding` (sniff an
allowed format, refuse bombs, EXIF orientation, reduced-scale JPEG decode, strip-wise 8-bit RGB,
only the colour profile kept) and `network_input` (resize, normalise). Pure Pillow and numpy (no
MXNet, no imagesearch), so the function's layer and the instance's bundle both carry it. What is
the instance's own (the memory gate, per-format caps from its settings) stays in imagesearch
(model/images.py over decode_budget.py) and reaches decode() as its `pixel_cap` and `hold` hooks.
"""

from __future__ import annotations

from image_prep.decoding import (
    ACCEPTED_TEXT,
    ALLOWED_FORMATS,
    BACKGROUND,
    REDUCING_GAP,
    BadImage,
    decode,
    decoded_size,
    formats,
    to_rgb,
)
from image_prep.network_input import IMAGENET_MEAN, IMAGENET_STD, to_input

__all__ = ["ACCEPTED_TEXT", "ALLOWED_FORMATS", "BACKGROUND", "IMAGENET_MEAN", "IMAGENET_STD", "REDUCING_GAP",
           "BadImage", "decode", "decoded_size", "formats", "to_input", "to_rgb"]
