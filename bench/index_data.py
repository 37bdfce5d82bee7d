"""Read the live version of a local index through the engine's own artifact loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from imagesearch.index.artifacts import load_version
from imagesearch.index.storage import LocalIndexStore


@dataclass
class IndexData:
    """A version's manifest, memory-mapped arrays and folder."""

    manifest: dict
    arrays: dict[str, np.ndarray]
    directory: Path

    @property
    def vectors(self) -> np.ndarray:
        """The search vectors (centred, L2-normalised float32) as an ndarray view of the memory map."""
        return np.asarray(self.arrays["vectors"], dtype=np.float32)

    @property
    def keys(self) -> list[str]:
        """The gallery keys, row order."""
        return [str(k) for k in self.arrays["keys"]]

    @property
    def npy_bytes(self) -> int:
        """Bytes of the version's .npy files."""
        return sum(p.stat().st_size for p in self.directory.glob("*.npy"))


def open_live(index_root: Path) -> IndexData:
    """The version current.json names under a local index root."""
    store = LocalIndexStore(str(index_root))
    version = store.read_current()
    if version is None:
        raise FileNotFoundError(f"no current.json under {index_root}")
    directory = store.local_dir(version)
    manifest, arrays = load_version(directory)
    return IndexData(manifest, arrays, Path(directory))
