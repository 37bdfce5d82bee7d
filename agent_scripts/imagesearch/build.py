"""Build, add to and remove from an index: read images, featurize in batches, publish a new version.

Bad files (unreadable, too large, not an image, truncated, decompression bombs) are skipped,
counted and listed in the report; they never abort a build.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from imagesearch import settings
from imagesearch.artifacts import (
    load_version,
    local_version_dir,
    publish_version,
    read_current,
    read_manifest,
)
from imagesearch.errors import SearchError
from imagesearch.features import FEATURE_DIM, MODEL_NAME, Featurizer
from imagesearch.images import content_hash, decode_image
from imagesearch.index import (
    VECTOR_DTYPE,
    LshParams,
    LshTables,
    centre_and_normalise,
    feature_mean,
    measure_recall,
)
from imagesearch.keys import safe_album, safe_name
from imagesearch.s3io import is_s3_uri, list_objects, parse_s3_uri, read_s3_capped


@dataclass(frozen=True)
class Source:
    """One image to index: its key, where it comes from (for the report), its size if known, a reader."""

    key: str
    where: str
    size: int | None
    read: Callable[[], bytes]


@dataclass(frozen=True)
class Limits:
    """What a build refuses to read or decode."""

    max_bytes: int
    max_pixels: int

    @classmethod
    def from_settings(cls) -> Limits:
        """The limits of the settings table."""
        return cls(
            int(settings.get("IMAGESEARCH_BUILD_MAX_BYTES")), int(settings.get("IMAGESEARCH_MAX_PIXELS"))
        )


def lsh_params_from_settings() -> LshParams:
    """The LSH parameters of the settings table."""
    return LshParams(
        tables=int(settings.get("IMAGESEARCH_LSH_TABLES")),
        bits=int(settings.get("IMAGESEARCH_LSH_BITS")),
        probes=int(settings.get("IMAGESEARCH_LSH_PROBES")),
        seed=int(settings.get("IMAGESEARCH_LSH_SEED")),
    )


def source_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """A sha256 over the sorted (key, content hash) pairs: equal digests mean the same images."""
    h = hashlib.sha256()
    for key, digest in sorted(pairs):
        h.update(f"{key}\t{digest}\n".encode())
    return h.hexdigest()


def _read_file(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as f:
            return f.read()

    return read


def _visible_entries(path: str) -> list[os.DirEntry]:
    """A folder's entries in name order, hidden ones left out."""
    return sorted((e for e in os.scandir(path) if not e.name.startswith(".")), key=lambda e: e.name)


def local_sources(images_dir: str, key_prefix: str = "gallery/") -> tuple[list[Source], list[dict]]:
    """Images of a folder with one subfolder per album, keyed `<prefix><safe album>/<safe file>`.

    The same walk as the publisher's (hidden entries ignored, files directly inside album folders),
    so the keys match the gallery bucket. Files elsewhere are reported, not indexed.
    """
    if not os.path.isdir(images_dir):
        raise SearchError("bad_request", f"images folder {images_dir} does not exist")
    sources, skipped = [], []
    prefix = key_prefix if not key_prefix or key_prefix.endswith("/") else key_prefix + "/"
    for entry in _visible_entries(images_dir):
        if not entry.is_dir():
            skipped.append(
                {"where": entry.path, "reason": "not_in_album", "message": "not inside an album folder"}
            )
            continue
        album = safe_album(entry.name)
        for f in _visible_entries(entry.path):
            if not f.is_file():
                skipped.append(
                    {"where": f.path, "reason": "not_in_album", "message": "nested folders are not albums"}
                )
                continue
            try:
                size = f.stat().st_size
            except OSError:
                size = None
            sources.append(Source(f"{prefix}{album}/{safe_name(f.name)}", f.path, size, _read_file(f.path)))
    return sources, skipped


def s3_sources(s3: Any, uri: str) -> list[Source]:
    """Every object under an s3:// prefix, keyed by its own S3 key."""
    bucket, prefix = parse_s3_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    out = []
    for key, size in list_objects(s3, bucket, prefix):
        if key.endswith("/"):
            continue  # folder placeholder objects some tools create

        def read(key: str = key) -> bytes:
            # Capped: a listing's size may be stale, and the cap must hold anyway.
            return read_s3_capped(s3, bucket, key, int(settings.get("IMAGESEARCH_BUILD_MAX_BYTES")))

        out.append(Source(key, f"s3://{bucket}/{key}", size, read))
    return out


def collect_sources(
    images: str, *, s3: Any = None, key_prefix: str = "gallery/"
) -> tuple[list[Source], list[dict]]:
    """Sources from a local album folder or an s3:// prefix, plus files skipped while listing."""
    if is_s3_uri(images):
        if s3 is None:
            raise SearchError("bad_request", f"{images} is on S3 but no S3 client was given")
        return s3_sources(s3, images), []
    return local_sources(images, key_prefix)


def _prepare(src: Source, limits: Limits, preprocess: Callable | None) -> dict:
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
        image = decode_image(data, max_pixels=limits.max_pixels)
    except SearchError as e:
        return {**skip, "reason": "bad_image", "message": e.message}
    return {"key": src.key, "hash": content_hash(data), "x": preprocess(image) if preprocess else None}


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
    keys, hashes, feats, skipped, seen = [], [], [], [], set()
    chunks = [sources[i : i + chunk] for i in range(0, len(sources), chunk)]
    with (
        ThreadPoolExecutor(max_workers=max(1, threads)) as pool,
        tqdm(total=len(sources), unit="img", file=sys.stderr, disable=not progress, desc="featurize") as bar,
    ):
        futures = [pool.submit(_prepare, s, limits, preprocess) for s in chunks[0]] if chunks else []
        for i in range(len(chunks)):
            results = [f.result() for f in futures]
            if i + 1 < len(chunks):
                futures = [pool.submit(_prepare, s, limits, preprocess) for s in chunks[i + 1]]
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
                feats.append(featurizer.featurize_arrays(np.stack([r["x"] for r in good])).astype(np.float16))
            keys += [r["key"] for r in good]
            hashes += [r["hash"] for r in good]
            bar.update(len(results))
    features = np.concatenate(feats) if feats else np.zeros((0, FEATURE_DIM), dtype=np.float16)
    return Featurized(keys, hashes, features, skipped)


def assemble(
    keys: list[str],
    hashes: list[str],
    features: np.ndarray,
    *,
    weights: dict,
    size: int,
    lsh: LshParams,
    extra: dict | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and manifest of a version: a pure function of the (key, hash, feature) set and settings.

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
    recall = measure_recall(vectors, lsh, k=10, queries=200, seed=lsh.seed, tables=tables)
    min_recall = float(settings.get("IMAGESEARCH_MIN_RECALL"))
    max_scored = float(settings.get("IMAGESEARCH_MAX_SCORED"))
    use_lsh = (
        recall is not None and recall["recall"] >= min_recall and recall["fraction_scored"] <= max_scored
    )
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
            "preprocess": "content-sniffed decode, RGB, bilinear resize to input_size, ImageNet mean/std",
        },
        "weights": weights,
        "lsh": {**lsh.to_json(n), "bits_requested": lsh.bits},
        "recall": recall,
        "default_mode": "lsh" if use_lsh else "exact",
        "default_mode_rule": f"lsh if held-out recall@10 >= {min_recall} and fraction scored <= {max_scored}",
        "vectors": {"features": "float16 raw", "vectors": "float16 centred, L2-normalised"},
        "source_digest": source_digest(zip(keys, hashes, strict=True)),
        **(extra or {}),
    }
    return arrays, manifest


def _report(
    kind: str,
    version: str | None,
    index_root: str,
    manifest: dict | None,
    skipped: list[dict],
    started: float,
    **more: Any,
) -> dict:
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


def _keys_and_hashes(arrays: dict[str, np.ndarray]) -> tuple[list[str], list[str]]:
    """A loaded version's row keys and content hashes as Python strings."""
    return arrays["keys"].tolist(), [h.decode("ascii") for h in arrays["hashes"].tolist()]


def _current(index_root: str, s3: Any, cache_dir: str | None) -> tuple[str, dict, dict] | None:
    version = read_current(index_root, s3)
    if version is None:
        return None
    manifest, arrays = load_version(local_version_dir(index_root, version, s3=s3, cache_dir=cache_dir))
    return version, manifest, arrays


def build_index(
    images: str,
    index_root: str,
    *,
    s3: Any = None,
    weights: str | None = None,
    size: int | None = None,
    key_prefix: str = "gallery/",
    lsh: LshParams | None = None,
    featurizer: Featurizer | None = None,
    cache_dir: str | None = None,
    limits: Limits | None = None,
    threads: int | None = None,
    if_changed: bool = False,
    progress: bool = False,
) -> dict:
    """Index every image under `images` (album folder or s3:// prefix) as a new live version."""
    started = time.perf_counter()
    limits = limits or Limits.from_settings()
    lsh = lsh or lsh_params_from_settings()
    threads = threads or int(settings.get("IMAGESEARCH_READ_THREADS"))
    if featurizer is not None:
        size = size or featurizer.size
        weights = weights or featurizer.weights["source"]
    size = size or int(settings.get("IMAGESEARCH_INPUT_SIZE"))
    weights = weights or settings.get("IMAGESEARCH_WEIGHTS")
    cache_dir = cache_dir or settings.get("IMAGESEARCH_CACHE_DIR")
    sources, skipped = collect_sources(images, s3=s3, key_prefix=key_prefix)
    live = read_current(index_root, s3) if if_changed else None
    if live is not None:
        # Only the live manifest is read (an S3 version's arrays are not fetched), and the images
        # are hashed only when the weights and input size already match.
        manifest = read_manifest(index_root, live, s3=s3)
        if manifest["weights"]["source"] == weights and manifest["model"]["input_size"] == size:
            probe = featurize_sources(sources, None, limits, threads=threads, progress=progress)
            if manifest["source_digest"] == source_digest(zip(probe.keys, probe.hashes, strict=True)):
                return _report(
                    "build", live, index_root, manifest, skipped + probe.skipped, started, unchanged=True
                )
    if featurizer is None or featurizer.size != size or featurizer.weights["source"] != weights:
        featurizer = Featurizer.load(
            weights,
            size=size,
            s3=s3,
            cache_dir=cache_dir,
            batch_size=int(settings.get("IMAGESEARCH_BATCH_SIZE")),
        )
    t0 = time.perf_counter()
    done = featurize_sources(sources, featurizer, limits, threads=threads, progress=progress)
    featurize_s = time.perf_counter() - t0
    skipped += done.skipped
    if not done.keys:
        reasons = dict(Counter(s["reason"] for s in skipped))
        raise SearchError("bad_request", f"no image under {images} could be indexed (skipped: {reasons})")
    arrays, manifest = assemble(
        done.keys,
        done.hashes,
        done.features,
        weights=featurizer.weights,
        size=size,
        lsh=lsh,
        extra={"build": {"kind": "build", "source": images, "skipped": len(skipped)}},
    )
    version = publish_version(index_root, arrays, manifest, s3=s3)
    return _report(
        "build",
        version,
        index_root,
        manifest,
        skipped,
        started,
        unchanged=False,
        featurize_seconds=round(featurize_s, 2),
        images_per_second=round(len(sources) / featurize_s, 1) if featurize_s > 0 else None,
    )


def add_images(
    images: str,
    index_root: str,
    *,
    s3: Any = None,
    key_prefix: str = "gallery/",
    featurizer: Featurizer | None = None,
    cache_dir: str | None = None,
    limits: Limits | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> dict:
    """Add (or replace, if their content changed) the images under `images`; others are not re-featurized."""
    from imagesearch.searcher import load_featurizer

    started = time.perf_counter()
    limits = limits or Limits.from_settings()
    threads = threads or int(settings.get("IMAGESEARCH_READ_THREADS"))
    cache_dir = cache_dir or settings.get("IMAGESEARCH_CACHE_DIR")
    current = _current(index_root, s3, cache_dir)
    if current is None:
        raise SearchError("index_unavailable", f"no index at {index_root} to add to; run `index build` first")
    parent, manifest, arrays = current
    sources, skipped = collect_sources(images, s3=s3, key_prefix=key_prefix)
    # Hash first: an image already indexed under the same key costs one read, no model.
    probe = featurize_sources(sources, None, limits, threads=threads, progress=False)
    skipped += probe.skipped
    old_keys, old_hashes = _keys_and_hashes(arrays)
    have = dict(zip(old_keys, old_hashes, strict=True))
    fresh = {k for k, h in zip(probe.keys, probe.hashes, strict=True) if have.get(k) != h}
    unchanged = len(probe.keys) - len(fresh)
    if not fresh:
        return _report(
            "add", parent, index_root, manifest, skipped, started, added=0, replaced=0, unchanged=unchanged
        )
    if (
        featurizer is None
        or featurizer.digest != manifest["weights"]["sha256"]
        or featurizer.size != manifest["model"]["input_size"]
    ):
        featurizer = load_featurizer(manifest, s3=s3, cache_dir=cache_dir)
        featurizer.batch_size = int(settings.get("IMAGESEARCH_BATCH_SIZE"))
    done = featurize_sources(
        [s for s in sources if s.key in fresh], featurizer, limits, threads=threads, progress=progress
    )
    renewed = set(done.keys)
    keep = [i for i, k in enumerate(old_keys) if k not in renewed]
    keys = [old_keys[i] for i in keep] + done.keys
    hashes = [old_hashes[i] for i in keep] + done.hashes
    features = np.concatenate([np.asarray(arrays["features"][keep]), done.features])
    replaced = len(set(done.keys) & set(have))
    new_arrays, new_manifest = assemble(
        keys,
        hashes,
        features,
        weights=manifest["weights"],
        size=manifest["model"]["input_size"],
        lsh=LshParams.from_manifest(manifest),
        extra={"build": {"kind": "add", "parent": parent, "source": images}},
    )
    version = publish_version(index_root, new_arrays, new_manifest, s3=s3)
    return _report(
        "add",
        version,
        index_root,
        new_manifest,
        skipped + done.skipped,
        started,
        added=len(done.keys) - replaced,
        replaced=replaced,
        unchanged=unchanged,
        parent=parent,
    )


def remove_images(
    index_root: str,
    *,
    keys: Iterable[str] = (),
    prefixes: Iterable[str] = (),
    s3: Any = None,
    cache_dir: str | None = None,
) -> dict:
    """Drop the given keys (and every key under the given prefixes) into a new version; no model needed."""
    started = time.perf_counter()
    cache_dir = cache_dir or settings.get("IMAGESEARCH_CACHE_DIR")
    current = _current(index_root, s3, cache_dir)
    if current is None:
        raise SearchError("index_unavailable", f"no index at {index_root} to remove from")
    parent, manifest, arrays = current
    keys, prefixes = set(keys), tuple(prefixes)
    all_keys, all_hashes = _keys_and_hashes(arrays)
    gone = [i for i, k in enumerate(all_keys) if k in keys or (prefixes and k.startswith(prefixes))]
    missing = sorted(keys - set(all_keys))
    if not gone:
        return _report("remove", parent, index_root, manifest, [], started, removed=0, not_found=missing)
    drop = set(gone)
    keep = [i for i in range(len(all_keys)) if i not in drop]
    new_arrays, new_manifest = assemble(
        [all_keys[i] for i in keep],
        [all_hashes[i] for i in keep],
        np.asarray(arrays["features"][keep]),
        weights=manifest["weights"],
        size=manifest["model"]["input_size"],
        lsh=LshParams.from_manifest(manifest),
        extra={"build": {"kind": "remove", "parent": parent}},
    )
    version = publish_version(index_root, new_arrays, new_manifest, s3=s3)
    return _report(
        "remove",
        version,
        index_root,
        new_manifest,
        [],
        started,
        removed=len(gone),
        not_found=missing,
        parent=parent,
    )


def retable(index_root: str, lsh: LshParams, *, s3: Any = None, cache_dir: str | None = None) -> dict:
    """Rebuild the live version's LSH tables (and recall figures) with new parameters; no model needed."""
    started = time.perf_counter()
    cache_dir = cache_dir or settings.get("IMAGESEARCH_CACHE_DIR")
    current = _current(index_root, s3, cache_dir)
    if current is None:
        raise SearchError("index_unavailable", f"no index at {index_root}")
    parent, manifest, arrays = current
    keys, hashes = _keys_and_hashes(arrays)
    new_arrays, new_manifest = assemble(
        keys,
        hashes,
        np.asarray(arrays["features"]),
        weights=manifest["weights"],
        size=manifest["model"]["input_size"],
        lsh=lsh,
        extra={"build": {"kind": "retable", "parent": parent}},
    )
    version = publish_version(index_root, new_arrays, new_manifest, s3=s3)
    return _report("retable", version, index_root, new_manifest, [], started, parent=parent)
