"""The featurize pipeline: read and decode sources in a thread pool while the model runs batches.

Bad files (unreadable, too large, not an image, truncated, decompression bombs) are skipped,
counted and returned for the report; they never abort a build.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from imagesearch import decode_budget
from imagesearch.errors import SearchError
from imagesearch.model.features import FEATURE_DIM, Featurizer
from imagesearch.model.images import content_hash, decode_image
from imagesearch.model.sources import Source


@dataclass(frozen=True)
class Limits:
    """What a build refuses to read or decode."""

    max_bytes: int
    max_pixels: int


def _prepare(src: Source, limits: Limits, preprocess: Callable | None, size: int) -> dict:
    """Read, hash, decode and (with `preprocess`) turn one source into a model input; or say why not."""
    skip = {"where": src.where, "key": src.key}
    if src.size is not None and src.size > limits.max_bytes:
        return {**skip, "reason": "too_large", "message": f"{src.size} bytes, over {limits.max_bytes}"}
    try:
        data = src.read()
    except SearchError as e:
        return {**skip, "reason": e.code if e.code == "too_large" else "unreadable", "message": e.message}
    except OSError as e:
        return {**skip, "reason": "unreadable", "message": f"{type(e).__name__}: {e}"}
    if len(data) > limits.max_bytes:
        return {**skip, "reason": "too_large", "message": f"{len(data)} bytes, over {limits.max_bytes}"}
    try:
        # Reduced to what the model needs (JPEG decodes at reduced scale), within the process's
        # memory budget: the pool's threads decode at once only as many pixels as it allows.
        image = decode_image(data, max_pixels=limits.max_pixels, size=(size, size))
    except SearchError as e:
        return {**skip, "reason": "bad_image", "message": e.message}
    return {"key": src.key, "hash": content_hash(data), "x": preprocess(image) if preprocess else None}


def _run_model(featurizer: Featurizer, arrays: np.ndarray) -> np.ndarray:
    """float16 features of `arrays`, each model batch holding its activations in the decode gate.

    While the model runs, the pool decodes the next chunk: a near-cap decode beside a batch's
    activations went past the process's memory (ingest with batch size 1 and worst PNGs: 509 MiB
    of its 512); in the gate they take turns once together they would exceed the budget.
    """
    gate = decode_budget.shared_gate()
    out = []
    for start in range(0, len(arrays), featurizer.batch_size):
        part = arrays[start : start + featurizer.batch_size]
        with gate.hold(decode_budget.model_run_bytes(len(part), featurizer.size)):
            out.append(featurizer.featurize_arrays(part).astype(np.float16))
    return np.concatenate(out)


@dataclass
class Featurized:
    """What a pass over sources produced: keys, content hashes, float16 features, skipped files."""

    keys: list[str]
    hashes: list[str]
    features: np.ndarray
    skipped: list[dict]


def featurize_sources(
    sources: list[Source],
    featurizer: Featurizer | None,
    limits: Limits,
    *,
    threads: int = 8,
    progress: bool = False,
) -> Featurized:
    """Read and decode in a thread pool while the model featurizes the previous chunk.

    With featurizer None only hashes are computed (and images still decoded, so a bad file is
    treated the same way as in a real build).
    """
    batch = featurizer.batch_size if featurizer else 64
    chunk = batch * 4
    preprocess = featurizer.preprocess if featurizer else None
    # Without a featurizer images are only checked: the smallest input any featurizer takes will do.
    size = featurizer.size if featurizer else 32
    keys, hashes, feats, skipped, seen = [], [], [], [], set()
    chunks = [sources[i : i + chunk] for i in range(0, len(sources), chunk)]
    with (
        ThreadPoolExecutor(max_workers=max(1, threads)) as pool,
        tqdm(total=len(sources), unit="img", file=sys.stderr, disable=not progress, desc="featurize") as bar,
    ):
        futures = [pool.submit(_prepare, s, limits, preprocess, size) for s in chunks[0]] if chunks else []
        for i in range(len(chunks)):
            results = [f.result() for f in futures]
            if i + 1 < len(chunks):
                futures = [pool.submit(_prepare, s, limits, preprocess, size) for s in chunks[i + 1]]
            good = []
            for r in results:
                if "reason" in r:
                    skipped.append(r)
                elif r["key"] in seen:
                    skipped.append(
                        {
                            "where": r["key"],
                            "key": r["key"],
                            "reason": "duplicate_key",
                            "message": "two files map to the same safe key",
                        }
                    )
                else:
                    seen.add(r["key"])
                    good.append(r)
            if good and featurizer is not None:
                feats.append(_run_model(featurizer, np.stack([r["x"] for r in good])))
            keys += [r["key"] for r in good]
            hashes += [r["hash"] for r in good]
            bar.update(len(results))
    features = np.concatenate(feats) if feats else np.zeros((0, FEATURE_DIM), dtype=np.float16)
    return Featurized(keys, hashes, features, skipped)
