"""The model an index version was built with, loaded on first use: shared by both index backends."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class LazyFeaturizer:
    """Mixin for an opened index: `manifest`, `_s3`, `_cache_dir`, `_featurizer`, `_load_lock` are set by it.

    MXNet is slow to start and a version may only ever answer indexed images, so the model waits
    for the first new image (or warm_up); the lock keeps concurrent first queries to one load.
    """

    manifest: dict
    _s3: Any
    _cache_dir: str | None
    _featurizer: Any
    _load_lock: threading.Lock
    _max_pixels: int  # the largest query image decoded (IMAGESEARCH_MAX_PIXELS)
    _mean: np.ndarray

    @property
    def featurizer(self) -> Any:
        """The featurizer this version was built with, loaded on first use."""
        if self._featurizer is None:
            from imagesearch.model.features import load_featurizer

            with self._load_lock:
                if self._featurizer is None:
                    self._featurizer = load_featurizer(self.manifest, s3=self._s3, cache_dir=self._cache_dir)
        return self._featurizer

    def _input_size(self) -> tuple[int, int]:
        size = int(self.manifest["model"]["input_size"])  # known without loading the model
        return (size, size)

    def decode_cost(self, image_bytes: bytes) -> int:
        """The bytes decode_query will hold (read from the header; the daemon's lane choice)."""
        from imagesearch.model.images import decode_cost

        return decode_cost(image_bytes, size=self._input_size())

    def decode_query(self, image_bytes: bytes) -> Any:
        """A query image decoded (reduced to what the model needs) within the memory budget; thread-safe."""
        from imagesearch.model.images import decode_image

        return decode_image(image_bytes, max_pixels=self._max_pixels, size=self._input_size())

    def featurize_decoded(self, image: Any) -> np.ndarray:
        """The search vector of a decoded image, centred on this version's mean; not thread-safe."""
        from imagesearch.index.vectors import centre_and_normalise

        return centre_and_normalise(self.featurizer.featurize_images([image]), self._mean)[0]

    def featurize(self, image_bytes: bytes) -> np.ndarray:
        """The search vector of new image bytes; not thread-safe (callers serialize)."""
        return self.featurize_decoded(self.decode_query(image_bytes))

    def warm_up(self) -> None:
        """Load the model and run it once, so the first new image does not pay for either."""
        f = self.featurizer
        f.featurize_arrays(np.zeros((1, 3, f.size, f.size), dtype=np.float32))
