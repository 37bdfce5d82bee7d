"""Clustered synthetic 2048-d features shaped like ResNet-50's pooled features, made without a model.

Shape (what real `features` outputs have, and how each is imitated here):
- non-negative and partly zero: the layer is a global average pool of ReLU outputs, so every value
  is >= 0 and some channels are 0 for a given image; here a ReLU of a Gaussian model;
- channels of very different scales: a per-channel scale drawn log-normally (heavy-tailed means);
- images gather by content into a few hundred groups (albums, subjects): `clusters` centres;
- within a group images vary along a few directions (pose, light, framing), not all 2048: each
  cluster has its own low-rank basis (`rank` directions) plus a smaller isotropic noise.
A collection is a pure function of (shape, n): the same arguments give the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIM = 2048


@dataclass(frozen=True)
class Shape:
    """The generator's knobs (defaults calibrated in bench/scale.py against seeded-model features)."""

    clusters: int = 300
    rank: int = 12
    centre_spread: float = 1.0  # how far cluster centres sit from the global mean, in channel scales
    within: float = 0.45  # spread along the cluster's own directions
    noise: float = 0.2  # isotropic noise on every channel
    offset: float = 0.8  # shift before the ReLU: sets the fraction of zero channels
    seed: int = 0


class Generator:
    """Draws rows of one synthetic collection in chunks (bounded memory at a million rows)."""

    def __init__(self, shape: Shape = Shape(), dim: int = DIM) -> None:
        self.shape = shape
        self.dim = dim
        rng = np.random.default_rng(shape.seed)
        self.scale = np.exp(rng.normal(0.0, 0.6, dim)).astype(np.float32)
        self.base = rng.normal(0.0, 1.0, dim).astype(np.float32)
        self.centres = (self.base + shape.centre_spread * rng.normal(0.0, 1.0, (shape.clusters, dim))
                        ).astype(np.float32)
        basis = rng.normal(0.0, 1.0, (shape.clusters, shape.rank, dim)).astype(np.float32)
        self.basis = basis / np.sqrt(shape.rank)
        # Cluster sizes are uneven like real albums: Zipf-like weights.
        w = 1.0 / np.arange(1, shape.clusters + 1) ** 0.5
        self.weights = w / w.sum()

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(features float16 (stop-start, dim), cluster ids) of rows start..stop-1."""
        rng = np.random.default_rng([self.shape.seed, 1, start, stop])
        n = stop - start
        cid = rng.choice(self.shape.clusters, size=n, p=self.weights)
        z = rng.standard_normal((n, self.shape.rank), dtype=np.float32) * self.shape.within
        x = self.centres[cid]
        for c in np.unique(cid):  # per cluster: one small matrix product, no (n, rank, dim) gather
            rows = np.flatnonzero(cid == c)
            x[rows] += z[rows] @ self.basis[c]
        x += rng.standard_normal((n, self.dim), dtype=np.float32) * self.shape.noise
        x += self.shape.offset
        np.maximum(x, 0.0, out=x)
        x *= self.scale
        return x.astype(np.float16), cid.astype(np.int32)

    def features(self, n: int, chunk: int = 20000) -> tuple[np.ndarray, np.ndarray]:
        """The first n rows, made chunk by chunk straight into float16."""
        out = np.empty((n, self.dim), dtype=np.float16)
        cid = np.empty(n, dtype=np.int32)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            out[start:stop], cid[start:stop] = self.rows(start, stop)
        return out, cid
