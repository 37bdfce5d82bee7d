"""Score bands of one index: near_duplicate, similar, weak, measured in the index with its weights.

A flat score cutoff does not carry across weights (a seeded network scores unrelated photos
at 0.85, a pretrained one lower), so each version's manifest records its own bands
(docs/engine.md, "Score bands"):

- `similar`: the 99th percentile of the scores of random pairs of distinct images of this index;
  a match above it is closer than 99 in 100 random pairs.
- `near_duplicate`: from a labelled near-duplicate set (imagesearch.model.near_duplicate_set, made from
  real photographs a package ships) featurized with the same weights and centred with this
  index's mean: the threshold that best separates copies from different photos (pair F1). The
  operator's build measures it (scikit-image is a dev dependency, never the instance's); an
  ingest or retable keeps the parent's. Without a labelled set: halfway from `similar` to 1.0,
  recorded as a fallback.

The manifest's `bands` also records the nearest-neighbour and random-pair score percentiles the
bands came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imagesearch.index.vectors import centre_and_normalise, scores_of

BANDS = ("near_duplicate", "similar", "weak")
SIMILAR_PERCENTILE = 99.0
NN_QUERIES = 256  # nearest-neighbour scores measured for this many sampled images
RANDOM_PAIRS = 20_000  # random pairs of distinct images scored
# In a real gallery copies are far rarer than 1 in 1,000 random pairs; when more random pairs
# than that score above the labelled threshold, these weights cannot tell this collection's
# images from copies at that score, and the band rises to the collection's own FLOOR_PERCENTILE.
FLOOR_PERCENTILE = 99.9
FLOOR_MIN_IMAGES = 100  # below this, random pairs are too few (and too often copies) to be a floor
ALL_PAIRS_UP_TO = 128  # below this many images every pair is scored instead of a sample
PAIR_BLOCK = 2048  # pairs scored at once: 2 x (2,048 x 2,048) float32 = 32 MiB
RULE = "near_duplicate if score >= near_duplicate; similar if score >= similar; else weak"


def band_of(score: float, bands: dict | None) -> str | None:
    """The band of one match's score under a manifest's `bands`; None when the index has none."""
    if not bands:
        return None
    if score >= bands["near_duplicate"]:
        return "near_duplicate"
    return "similar" if score >= bands["similar"] else "weak"


def with_bands(results: list[dict], bands: dict | None) -> list[dict]:
    """Each match {"key", "score"} with its "band" added (the agent's answer and the result cache);
    unchanged for a version without bands (the function then answers "band": null)."""
    if not bands:
        return results
    return [{**r, "band": band_of(r["score"], bands)} for r in results]


def answer_bands(bands: dict | None) -> dict | None:
    """The thresholds an answer's `index` object carries: {"near_duplicate", "similar"}."""
    return {"near_duplicate": bands["near_duplicate"], "similar": bands["similar"]} if bands else None


@dataclass(frozen=True)
class LabelledFeatures:
    """A labelled near-duplicate set featurized with an index's weights: rows of one group are copies."""

    features: np.ndarray  # (n, 2048) raw features, as the index stores them
    groups: list[str]  # the photo each row was made from
    description: dict  # what the set is (imagesearch.model.near_duplicate_set.describe)


def _percentiles(scores: np.ndarray, points: tuple[float, ...]) -> dict:
    if len(scores) == 0:
        return {"count": 0}
    values = np.percentile(scores, points)
    named = {f"p{str(p).rstrip('0').rstrip('.').replace('.', '_')}": round(float(v), 4)
             for p, v in zip(points, values, strict=True)}
    return {"count": int(len(scores)), **named}


def _image_ids(hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct content hash, each row's image id = its hash's first row).

    Identical bytes are one image: never a pair, never each other's neighbour.
    """
    first: dict[str, int] = {}
    ids = np.fromiter((first.setdefault(digest, row) for row, digest in enumerate(hashes)),
                      dtype=np.int64, count=len(hashes))
    return np.array(sorted(first.values()), dtype=np.int64), ids


def random_pair_scores(vectors: np.ndarray, rows: np.ndarray, *, pairs: int, seed: int) -> np.ndarray:
    """Scores of random pairs of different `rows` (every pair when there are few)."""
    n = len(rows)
    if n < 2:
        return np.zeros(0, dtype=np.float32)
    if n <= ALL_PAIRS_UP_TO:
        a, b = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        a = rng.integers(0, n, size=pairs)
        b = (a + rng.integers(1, n, size=pairs)) % n  # never the same row
    # In blocks: 20,000 pairs gathered at once held 2 x 164 MiB of float32 rows, on every build
    # and ingest (the ingest command's peak on a 1 GiB instance, docs/agent.md "Ingest").
    out = np.empty(len(a), dtype=np.float32)
    for start in range(0, len(a), PAIR_BLOCK):
        part = slice(start, start + PAIR_BLOCK)
        left = np.asarray(vectors[rows[a[part]]], dtype=np.float32)
        right = np.asarray(vectors[rows[b[part]]], dtype=np.float32)
        out[part] = np.einsum("ij,ij->i", left, right)
    return out


NN_BLOCK = 65_536  # rows scored at once: (65,536 x 256) float32 = 64 MiB, whatever the index size


def nearest_scores(vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray, *, queries: int,
                   seed: int) -> np.ndarray:
    """The best score of each of up to `queries` sampled images against every other image."""
    if len(rows) < 2:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    sample = rows if len(rows) <= queries else np.sort(rng.choice(rows, size=queries, replace=False))
    q = np.asarray(vectors[sample], dtype=np.float32)
    best = np.full(len(sample), -np.inf, dtype=np.float32)
    for start in range(0, len(vectors), NN_BLOCK):
        block = np.asarray(scores_of(vectors[start : start + NN_BLOCK], q), dtype=np.float32)
        same = ids[start : start + NN_BLOCK, None] == ids[sample][None, :]
        block[same] = -np.inf  # itself and its identical copies
        np.maximum(best, block.max(axis=0), out=best)
    return best


def labelled_threshold(labelled: LabelledFeatures, mean: np.ndarray) -> dict:
    """The near-duplicate threshold that best separates the labelled set's copies (pair F1).

    The set is centred with the index's mean, so its scores are the scores this index gives.
    F1 is constant between two consecutive pair scores; the threshold is the middle of the best
    such gap (the widest when several tie).
    """
    vectors = centre_and_normalise(np.asarray(labelled.features, dtype=np.float16), mean, np.float32)
    a, b = np.triu_indices(len(vectors), k=1)
    scores = np.einsum("ij,ij->i", vectors[a], vectors[b])
    groups = np.array(labelled.groups)
    same = groups[a] == groups[b]
    positives = int(same.sum())
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    tp = np.cumsum(y)
    taken = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (taken + positives)
    best_f1 = 0.0
    best = (float(s[0]) if len(s) else 1.0, 0.0, 0)
    for i in range(len(s)):  # a threshold just below s[i] takes pairs 0..i
        low = float(s[i + 1]) if i + 1 < len(s) else -1.0
        gap = float(s[i]) - low
        if gap <= 0:
            continue
        if f1[i] > best_f1 + 1e-12 or (abs(f1[i] - best_f1) <= 1e-12 and gap > best[1]):
            best_f1 = float(f1[i])
            best = ((float(s[i]) + low) / 2, gap, i)
    threshold, _, i = best
    predicted = s >= threshold
    tp_at = int((predicted & y).sum())
    return {
        "method": "labelled near-duplicate set (pair F1)",
        "set": labelled.description,
        "images": len(vectors),
        "positive_pairs": positives,
        "negative_pairs": int(len(s) - positives),
        "min_positive": round(float(scores[same].min()), 4) if positives else None,
        "max_negative": round(float(scores[~same].max()), 4) if positives < len(s) else None,
        "pair_precision": round(tp_at / max(1, int(predicted.sum())), 4),
        "pair_recall": round(tp_at / max(1, positives), 4),
        "threshold": round(threshold, 4),
    }


def measure_bands(
    vectors: np.ndarray,
    hashes: list[str],
    mean: np.ndarray,
    *,
    labelled: LabelledFeatures | None = None,
    kept: dict | None = None,
    seed: int = 0,
) -> dict:
    """The manifest's `bands` for an index of centred unit `vectors` (rows aligned with `hashes`).

    `labelled`: measure near_duplicate on it; else `kept` (a parent's `bands`) keeps the parent's
    near_duplicate threshold and its provenance; else the fallback rule.
    """
    rows, ids = _image_ids(hashes)
    random = random_pair_scores(vectors, rows, pairs=RANDOM_PAIRS, seed=seed)
    nearest = nearest_scores(vectors, ids, rows, queries=NN_QUERIES, seed=seed)
    if len(random):
        similar = float(np.percentile(random, SIMILAR_PERCENTILE))
        similar_from: dict[str, Any] = {"method": f"p{SIMILAR_PERCENTILE:g} of random-pair scores"}
    else:
        similar = 0.0
        similar_from = {"method": "fewer than 2 distinct images: every match below near_duplicate is similar"}
    if labelled is not None:
        near_from = labelled_threshold(labelled, mean)
        near = near_from["threshold"]
    elif kept and "near_duplicate" in kept:
        near = float(kept["near_duplicate"])
        near_from = {**kept.get("near_duplicate_from", {}), "kept": "from the parent version"}
    else:
        near = (similar + 1.0) / 2
        near_from = {"method": "fallback: halfway from similar to 1.0 (no labelled set at build)"}
    if len(rows) >= FLOOR_MIN_IMAGES and labelled is not None:
        floor = float(np.percentile(random, FLOOR_PERCENTILE))
        if floor > near:
            near_from["raised"] = (f"from {round(near, 4)} to p{FLOOR_PERCENTILE:g} of this index's "
                                   "random-pair scores: more than 1 in 1,000 random pairs scored above "
                                   "the labelled threshold")
            near = floor
    if similar > near:
        # Copies must never rank as merely similar: the labelled threshold wins.
        similar_from["capped"] = f"at near_duplicate (measured {round(similar, 4)})"
        similar = near
    return {
        "near_duplicate": round(near, 4),
        "similar": round(similar, 4),
        "rule": RULE,
        "near_duplicate_from": near_from,
        "similar_from": similar_from,
        "scores": {
            "nearest": _percentiles(nearest[np.isfinite(nearest)], (1.0, 5.0, 50.0, 95.0, 99.0)),
            "random": _percentiles(random, (50.0, 90.0, 99.0, 99.9)),
        },
    }


def featurize_labelled_set(featurizer: Any, limits: Any, *, threads: int = 4,
                           split: str = "calibration") -> LabelledFeatures | None:
    """The labelled near-duplicate set featurized with `featurizer`; None without scikit-image."""
    from imagesearch.model import near_duplicate_set as nds
    from imagesearch.model.pipeline import featurize_sources
    from imagesearch.model.sources import Source

    if not nds.available():
        return None
    images = nds.generate(split)
    sources = [Source(f"set/{i.group}/{i.name}", f"labelled set {i.name}", len(i.data),
                      (lambda data=i.data: data)) for i in images]
    done = featurize_sources(sources, featurizer, limits, threads=threads)
    group_of = {f"set/{i.group}/{i.name}": i.group for i in images}
    if done.skipped:
        # Every copy must be read, or the threshold is measured on a different set than recorded.
        raise ValueError(f"the labelled set could not be featurized: {done.skipped[0]}")
    return LabelledFeatures(np.asarray(done.features), [group_of[k] for k in done.keys],
                            nds.describe(images, split))
