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

    @property
    def featurizer(self) -> Any:
        """The featurizer this version was built with, loaded on first use."""
        if self._featurizer is None:
            from imagesearch.model.features import load_featurizer

            with self._load_lock:
                if self._featurizer is None:
                    self._featurizer = load_featurizer(self.manifest, s3=self._s3, cache_dir=self._cache_dir)
        return self._featurizer

    def warm_up(self) -> None:
        """Load the model and run it once, so the first new image does not pay for either."""
        f = self.featurizer
        f.featurize_arrays(np.zeros((1, 3, f.size, f.size), dtype=np.float32))
