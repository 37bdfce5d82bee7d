"""The system we replace, rebuilt only to be measured: a pickled dict of float tuples loaded per query.

This is the one place pickle appears in the project. The bench writes its own file into a private
temporary directory and reads it straight back to time the old approach; the product never reads
or writes pickles (loading a pickle from a bucket is code execution).
"""

from __future__ import annotations

import pickle  # noqa: S403  (see the module docstring: our own temp file, measuring the old system)
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_table(vectors: np.ndarray, keys: Sequence[str], path: Path) -> int:
    """Pickle {key: tuple of Python floats} as the old system stored it; returns the file's size."""
    if len(keys) != len(vectors):
        raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
    table = {key: tuple(row) for key, row in zip(keys, vectors.astype(np.float64).tolist(), strict=True)}
    with path.open("wb") as f:
        pickle.dump(table, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path.stat().st_size


def load_seconds(path: Path, repeats: int) -> list[float]:
    """Seconds to pickle.load the table, once per simulated query, `repeats` times."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        with path.open("rb") as f:
            table = pickle.load(f)  # noqa: S301  (our own file, written above in a temp dir)
        out.append(time.perf_counter() - start)
        del table
    return out

