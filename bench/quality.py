"""Section 5: retrieval quality, precision@k by album label, our features against raw pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plots
from imagesearch.index.vectors import centre_and_normalise, exact_search, feature_mean
from imagesearch.model.images import decode_image
from report import Section, figure, table

KS = (1, 5, 10)


@dataclass
class QualityResult:
    """Mean precision@k (share of the k nearest neighbours in the query's album) per representation."""

    queries: int
    count: int
    albums: int
    precision: dict[str, dict[int, float]]
    chance: float
    weights_label: str


def album_of(key: str) -> str:
    """The album of a gallery key `gallery/<album>/<file>`."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "gallery":
        raise ValueError(f"not a gallery key: {key!r}")
    return parts[1]


def raw_pixels(paths: Sequence[Path], max_pixels: int = 4096 * 4096) -> np.ndarray:
    """Every image decoded to RGB at its own size and flattened (all must share one size)."""
    rows = [np.asarray(decode_image(p.read_bytes(), max_pixels=max_pixels), dtype=np.float32).ravel()
            for p in paths]
    sizes = {r.size for r in rows}
    if len(sizes) != 1:
        raise ValueError(f"raw-pixel baseline needs images of one size, got {len(sizes)} sizes")
    return np.stack(rows)


def pixel_vectors(paths: Sequence[Path]) -> np.ndarray:
    """Raw pixels centred and L2-normalised the same way the index treats features."""
    pixels = raw_pixels(paths)
    return centre_and_normalise(pixels, feature_mean(pixels))


def precision_at(vectors: np.ndarray, labels: Sequence[str], query_rows: Sequence[int]) -> dict[int, float]:
    """Mean share of same-album neighbours among the k nearest (the query itself excluded)."""
    labels_arr = np.asarray(labels)
    hits = {k: 0 for k in KS}
    for row in query_rows:
        found, _ = exact_search(vectors, vectors[row], max(KS), exclude=np.array([row]))
        same = labels_arr[found] == labels_arr[row]
        for k in KS:
            hits[k] += int(same[:k].sum())
    return {k: hits[k] / (k * len(query_rows)) for k in KS}


def measure(feature_vectors: np.ndarray, keys: Sequence[str], image_paths: Sequence[Path], queries: int,
            weights_label: str, seed: int = 0) -> QualityResult:
    """Precision@k of the index's vectors and of raw pixels on the same query rows."""
    labels = [album_of(k) for k in keys]
    rows = np.sort(np.random.default_rng(seed).choice(len(keys), size=min(queries, len(keys)), replace=False))
    counts = np.unique(labels, return_counts=True)[1]
    # Chance: a random other image shares the album with probability sum(c(c-1)) / (n(n-1)).
    n = len(labels)
    chance = float((counts * (counts - 1)).sum() / (n * (n - 1)))
    precision = {
        "ResNet-50 features (ours)": precision_at(np.asarray(feature_vectors, np.float32), labels, rows),
        "raw pixels (centred, normalised)": precision_at(pixel_vectors(image_paths), labels, rows),
    }
    return QualityResult(len(rows), n, len(counts), precision, chance, weights_label)


def section(result: QualityResult, plot_dir: Path, rel_dir: str) -> Section:
    """The markdown section and its precision@k plot."""
    rows = [[name, *(f"{p[k]:.3f}" for k in KS)] for name, p in result.precision.items()]
    rows.append(["chance (random image)", *(f"{result.chance:.3f}" for _ in KS)])
    series = {name: [p[k] for k in KS] for name, p in result.precision.items()}
    series["chance"] = [result.chance] * len(KS)
    plots.lines(plot_dir / "precision.png", KS, series, "k", "precision@k (same album)",
                "Retrieval quality by album label")
    body = "\n\n".join([
        f"{result.queries} query images from {result.count:,} in {result.albums} albums; a neighbour counts "
        "when it is in the query's album; exact cosine search, the query itself excluded. Raw pixels are the "
        "flattened RGB images, centred and L2-normalised with the engine's own function. "
        f"Weights: **{result.weights_label}**.",
        table(["representation", *(f"precision@{k}" for k in KS)], rows),
        figure(f"{rel_dir}/precision.png", "precision at k"),
    ])
    return Section("Retrieval quality: precision@k by album", body)
