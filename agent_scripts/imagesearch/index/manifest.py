"""A version's arrays and manifest assembled from (key, hash, feature) rows, and the operation reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagesearch.errors import SearchError
from imagesearch.index.calibration import LabelledFeatures, measure_bands
from imagesearch.index.lsh import LshBuildParams, LshTables
from imagesearch.index.recall import measure_recall
from imagesearch.index.vectors import VECTOR_DTYPE, centre_and_normalise, feature_mean
from imagesearch.model.features import FEATURE_DIM, MODEL_NAME


@dataclass(frozen=True)
class ModeRule:
    """LSH becomes an index's default mode only when its held-out recall and work are good enough."""

    min_recall: float  # IMAGESEARCH_MIN_RECALL
    max_scored: float  # IMAGESEARCH_MAX_SCORED

    def choose(self, recall: dict | None) -> str:
        """"lsh" or "exact" for a build's measured recall (None: too few vectors to measure)."""
        good = (
            recall is not None
            and recall["recall"] >= self.min_recall
            and recall["fraction_scored"] <= self.max_scored
        )
        return "lsh" if good else "exact"

    def describe(self) -> str:
        """The rule as the manifest records it."""
        return f"lsh if held-out recall@10 >= {self.min_recall} and fraction scored <= {self.max_scored}"


def source_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """A sha256 over the sorted (key, content hash) pairs: equal digests mean the same images."""
    h = hashlib.sha256()
    for key, digest in sorted(pairs):
        h.update(f"{key}\t{digest}\n".encode())
    return h.hexdigest()


def assemble(
    keys: list[str],
    hashes: list[str],
    features: np.ndarray,
    *,
    weights: dict,
    size: int,
    lsh: LshBuildParams,
    probes: int,
    mode_rule: ModeRule,
    extra: dict | None = None,
    size_from: str | None = None,
    labelled: LabelledFeatures | None = None,
    kept_bands: dict | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and manifest of a version: a pure function of the (key, hash, feature) set and parameters.

    `probes` is recorded as the default probe count of a query (and is the one recall is measured
    with); `mode_rule` decides the default mode from that recall. The score bands are measured
    here (imagesearch.index.calibration): near_duplicate on `labelled` when given, else kept from
    `kept_bands` (a parent version's), else by the fallback rule.

    Rows are sorted by key and everything derived (mean, vectors, tables, recall) is computed from
    the stored float16 features, so an incremental update and a fresh build agree exactly.
    """
    if len(set(keys)) != len(keys):
        raise SearchError("internal", "duplicate keys reached assemble()")
    order = sorted(range(len(keys)), key=keys.__getitem__)
    keys = [keys[i] for i in order]
    hashes = [hashes[i] for i in order]
    features = np.asarray(features, dtype=np.float16)
    if order != list(range(len(order))):  # no second copy of the features when already in key order
        features = features[order]
    features = np.ascontiguousarray(features)
    n = len(keys)
    if not np.isfinite(features).all():
        raise SearchError("internal", "features overflow float16; the weights produce values above 65504")
    mean = feature_mean(features)
    vectors = centre_and_normalise(features, mean, VECTOR_DTYPE)
    tables = LshTables.build(vectors, lsh)
    recall = measure_recall(vectors, lsh, probes=probes, k=10, queries=200, seed=lsh.seed, tables=tables)
    bands = measure_bands(vectors, hashes, mean, labelled=labelled, kept=kept_bands, seed=lsh.seed)
    arrays = {
        "features": features,
        "vectors": vectors,
        "mean": mean,
        "hashes": np.array(hashes, dtype="S64"),
        "keys": np.array(keys, dtype=f"<U{max([1, *map(len, keys)])}"),
        "lsh_planes": tables.planes,
        "lsh_codes": tables.codes,
        "lsh_order": tables.order,
    }
    manifest = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "count": n,
        "dim": FEATURE_DIM,
        "model": {
            "name": MODEL_NAME,
            "layer": "features (global average pool, 2048-d)",
            "input_size": size,
            # Who chose the size: the operator, or the weights' default (docs/engine.md).
            **({"input_size_from": size_from} if size_from else {}),
            "preprocess": "content-sniffed decode, RGB, bilinear resize to input_size, ImageNet mean/std",
        },
        "weights": weights,
        "lsh": lsh.to_json(n, default_probes=probes),
        "recall": recall,
        "default_mode": mode_rule.choose(recall),
        "default_mode_rule": mode_rule.describe(),
        "bands": bands,
        "vectors": {"features": "float16 raw", "vectors": "float16 centred, L2-normalised"},
        "source_digest": source_digest(zip(keys, hashes, strict=True)),
        **(extra or {}),
    }
    return arrays, manifest


def build_report(
    kind: str,
    version: str | None,
    index_root: str,
    manifest: dict | None,
    skipped: list[dict],
    started: float,
    **more: Any,
) -> dict:
    """The JSON report of one operation: what went live, what was skipped and why, how long it took."""
    seconds = time.perf_counter() - started
    report = {
        "ok": True,
        "kind": kind,
        "index_root": index_root,
        "version": version,
        "count": manifest["count"] if manifest else None,
        "skipped": len(skipped),
        "skipped_by_reason": dict(Counter(s["reason"] for s in skipped)),
        "skipped_files": skipped,
        "seconds": round(seconds, 2),
    }
    if manifest:
        report.update(
            recall=manifest["recall"],
            default_mode=manifest["default_mode"],
            weights=manifest["weights"],
            source_digest=manifest["source_digest"],
        )
    report.update(more)
    return report
