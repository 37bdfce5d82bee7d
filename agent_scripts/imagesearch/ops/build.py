"""The index operations: build, add to, remove from and retable an index, each as a new live version.

Sources are listed by imagesearch.model.sources, featurized by imagesearch.model.pipeline, assembled into a
version by imagesearch.index.manifest and stored by imagesearch.index.storage. Parameters come in typed
(`BuildConfig`); when a caller passes none, the settings table is read once, here at the top.
Over 300 lines on purpose: the operations share the steps that open the live version, check the
gallery and publish the result; apart, those steps would be repeated.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from imagesearch import settings
from imagesearch.errors import SearchError
from imagesearch.index.artifacts import load_version
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams, default_probes
from imagesearch.index.manifest import assemble, build_report, source_digest
from imagesearch.index.skipped import carry, record
from imagesearch.index.storage import (
    IndexStore,
    Pointer,
    PointerMoved,
    S3IndexStore,
    open_store,
    publish_version,
)
from imagesearch.model.features import Featurizer, load_featurizer
from imagesearch.model.pipeline import featurize_sources
from imagesearch.model.sources import Source, collect_sources
from imagesearch.model.weights import default_input_size
from imagesearch.ops.gallery_match import refuse_unmatched


def _config(config: BuildConfig | None) -> BuildConfig:
    return config if config is not None else BuildConfig.from_settings(settings.load())


def _keys_and_hashes(arrays: dict[str, np.ndarray]) -> tuple[list[str], list[str]]:
    """A loaded version's row keys and content hashes as Python strings."""
    return arrays["keys"].tolist(), [h.decode("ascii") for h in arrays["hashes"].tolist()]


# A switch lost to another build (a re-index, another process's batch) is redone on the version that
# won this many times in all before the update gives up (nothing applied; its caller retries).
POINTER_ATTEMPTS = 3


def _live(store: IndexStore, cache_dir: str, what: str) -> tuple[str, dict, dict]:
    """The live version's id, manifest and arrays; index_unavailable (saying `what`) when there is none."""
    pointer, manifest, arrays = _live_pointer(store, cache_dir, what)
    return pointer.version, manifest, arrays


def _live_pointer(store: IndexStore, cache_dir: str, what: str) -> tuple[Pointer, dict, dict]:
    """As _live, with the pointer as read (a conditional switch from this version compares it)."""
    pointer = store.read_pointer()
    if pointer.version is None:
        raise SearchError("index_unavailable", f"no index at {store.root}{what}")
    manifest, arrays = load_version(store.local_dir(pointer.version, cache_dir=cache_dir))
    return pointer, manifest, arrays


def _readable_live(store: IndexStore) -> tuple[str, dict] | None:
    """The live version and its manifest alone; None when there is none or it cannot be read.

    An unreadable live version (bad pointer, missing manifest, other format) is one a build replaces.
    """
    try:
        live = store.read_current()
        return None if live is None else (live, store.read_manifest(live))
    except SearchError as e:
        if e.code != "index_unavailable":
            raise
        return None


def build_index(
    images: str,
    index_root: str | IndexStore,
    *,
    config: BuildConfig | None = None,
    s3: Any = None,
    featurizer: Featurizer | None = None,
    weights: str | None = None,
    size: int | None = None,
    cache_dir: str | None = None,
    key_prefix: str = "gallery/",
    if_changed: bool = False,
    progress: bool = False,
    near_duplicate_set: bool = False,
) -> dict:
    """Index every image under `images` (album folder or s3:// prefix) as a new live version.

    `weights`, `size` and `cache_dir` override the config's (a given featurizer sets the first two).
    `near_duplicate_set`: measure the near-duplicate band on the labelled set (the operator's
    machine, scikit-image installed; imagesearch.index.calibration), else the fallback rule.
    """
    started = time.perf_counter()
    config = _config(config)
    store = open_store(index_root, s3=s3)
    if featurizer is not None:
        size = size or featurizer.size
        weights = weights or featurizer.weights["source"]
    # No size named anywhere: the weights decide (224 pretrained, 32 seeded; weights.default_input_size).
    size = size or config.input_size
    size_from = "operator" if size else "weights"
    weights = weights or config.weights
    cache_dir = cache_dir or config.cache_dir
    limits, threads = config.limits, config.threads
    sources, skipped = collect_sources(images, max_bytes=limits.max_bytes, s3=s3, key_prefix=key_prefix)
    live = _readable_live(store) if if_changed else None
    if live is not None:
        # Only the live manifest is read (an S3 version's arrays are not fetched), and the images
        # are hashed only when the weights and input size already match.
        live, manifest = live
        wanted = size or default_input_size(bool(manifest["weights"].get("pretrained")))
        # A version without score bands (built before them) is rebuilt even when nothing else changed.
        if (manifest["weights"]["source"] == weights and manifest["model"]["input_size"] == wanted
                and "bands" in manifest):
            probe = featurize_sources(sources, None, limits, threads=threads, progress=progress)
            if manifest["source_digest"] == source_digest(zip(probe.keys, probe.hashes, strict=True)):
                return build_report(
                    "build", live, store.root, manifest, skipped + probe.skipped, started, unchanged=True
                )
    if featurizer is None or (size and featurizer.size != size) or featurizer.weights["source"] != weights:
        featurizer = Featurizer.load(
            weights, size=size, s3=s3, cache_dir=cache_dir, batch_size=config.batch_size
        )
    size = featurizer.size
    t0 = time.perf_counter()
    done = featurize_sources(sources, featurizer, limits, threads=threads, progress=progress)
    featurize_s = time.perf_counter() - t0
    skipped += done.skipped
    if not done.keys:
        reasons = dict(Counter(s["reason"] for s in skipped))
        raise SearchError("bad_request", f"no image under {images} could be indexed (skipped: {reasons})")
    labelled = _labelled_set(featurizer, config) if near_duplicate_set else None
    arrays, manifest = assemble(
        done.keys,
        done.hashes,
        done.features,
        weights=featurizer.weights,
        size=size,
        lsh=config.lsh,
        probes=config.probes,
        mode_rule=config.mode_rule,
        extra={"build": {"kind": "build", "source": images, "skipped": len(skipped)},
               "skipped_files": record(skipped)},
        size_from=(
            "operator (--size or IMAGESEARCH_INPUT_SIZE)" if size_from == "operator"
            else "weights default (224 pretrained, 32 not pretrained)"
        ),
        labelled=labelled,
    )
    version = publish_version(store, arrays, manifest, keep=config.keep_versions)
    return build_report(
        "build",
        version,
        store.root,
        manifest,
        skipped,
        started,
        unchanged=False,
        featurize_seconds=round(featurize_s, 2),
        images_per_second=round(len(sources) / featurize_s, 1) if featurize_s > 0 else None,
    )


def _labelled_set(featurizer: Featurizer, config: BuildConfig) -> Any:
    """The labelled near-duplicate set featurized with the build's weights; bad_request without it."""
    from imagesearch.index.calibration import featurize_labelled_set

    labelled = featurize_labelled_set(featurizer, config.limits, threads=config.threads)
    if labelled is None:
        raise SearchError("bad_request", "the labelled near-duplicate set needs scikit-image "
                          "(pip install scikit-image, the project's dev extras); build without it "
                          "to use the fallback band rule")
    return labelled


def add_images(
    images: str,
    index_root: str | IndexStore,
    *,
    config: BuildConfig | None = None,
    s3: Any = None,
    featurizer: Featurizer | None = None,
    cache_dir: str | None = None,
    key_prefix: str = "gallery/",
    progress: bool = False,
) -> dict:
    """Add (or replace, if their content changed) the images under `images`; others are not re-featurized.

    On an S3 index root every new or changed key must be in the root's bucket with the same bytes
    (imagesearch.ops.gallery_match), or nothing is added.
    """
    config = _config(config)
    max_bytes = config.limits.max_bytes
    sources, skipped = collect_sources(images, max_bytes=max_bytes, s3=s3, key_prefix=key_prefix)
    report = update_images(
        index_root, sources=sources, config=config, s3=s3, featurizer=featurizer, cache_dir=cache_dir,
        source=images, progress=progress, kind="add",
    )
    if skipped:
        report["skipped_files"] = skipped + report["skipped_files"]
        report["skipped"] = len(report["skipped_files"])
        report["skipped_by_reason"] = dict(Counter(s["reason"] for s in report["skipped_files"]))
    return report


def update_images(
    index_root: str | IndexStore,
    *,
    sources: list[Source] = (),
    remove: Iterable[str] = (),
    config: BuildConfig | None = None,
    s3: Any = None,
    featurizer: Featurizer | None = None,
    cache_dir: str | None = None,
    source: str = "",
    progress: bool = False,
    kind: str = "update",
    refused: list[dict] = (),
) -> dict:
    """Add or replace `sources` and drop the keys in `remove`, all in ONE new live version.

    `refused` are skipped entries {"key", "reason", "message"} the caller refused before reading
    (e.g. names outside the key pattern); with the files skipped here they replace whatever the
    live manifest's `skipped_files` said about those keys (imagesearch.index.skipped).

    An image already indexed with the same content costs one read and no model run; a source that
    is also named in `remove` is added (the caller decides which came last). When nothing changes,
    no version is published and the live one is reported (so a repeated batch changes nothing).

    The switch is conditional on the live version read first: when another build went live
    meanwhile (a re-index, docs/featurize.md), the update is redone on that version (with its
    weights), up to POINTER_ATTEMPTS in all; then an internal error, nothing applied.
    """
    for attempt in range(1, POINTER_ATTEMPTS + 1):
        try:
            return _update_once(index_root, sources=sources, remove=remove, config=config, s3=s3,
                                featurizer=featurizer, cache_dir=cache_dir, source=source, progress=progress,
                                kind=kind, refused=refused)
        except PointerMoved as e:
            if attempt == POINTER_ATTEMPTS:
                raise SearchError("internal", f"{e.message}, {attempt} times in a row: the update was not "
                                  "applied; retry it") from e
    raise AssertionError("unreachable")


def _update_once(
    index_root: str | IndexStore,
    *,
    sources: list[Source],
    remove: Iterable[str],
    config: BuildConfig | None,
    s3: Any,
    featurizer: Featurizer | None,
    cache_dir: str | None,
    source: str,
    progress: bool,
    kind: str,
    refused: list[dict],
) -> dict:
    """update_images on the version live now; PointerMoved when another build switched first."""
    started = time.perf_counter()
    config = _config(config)
    store = open_store(index_root, s3=s3)
    cache_dir = cache_dir or config.cache_dir
    limits, threads = config.limits, config.threads
    pointer, manifest, arrays = _live_pointer(store, cache_dir, " to update; run `index build` first")
    parent = pointer.version
    # Hash first: an image already indexed under the same key costs one read, no model.
    probe = featurize_sources(list(sources), None, limits, threads=threads, progress=False)
    skipped = list(refused) + list(probe.skipped)
    old_keys, old_hashes = _keys_and_hashes(arrays)
    have = dict(zip(old_keys, old_hashes, strict=True))
    fresh = {k for k, h in zip(probe.keys, probe.hashes, strict=True) if have.get(k) != h}
    unchanged = len(probe.keys) - len(fresh)
    if fresh and isinstance(store, S3IndexStore):
        # A live S3 index serves copies from its own (gallery) bucket: refuse what it does not hold.
        where = {s.key: s.where for s in sources}
        refuse_unmatched(
            s3,
            store.bucket,
            [(k, h, where[k]) for k, h in zip(probe.keys, probe.hashes, strict=True) if k in fresh],
            max_bytes=limits.max_bytes,
        )
    added_keys = {s.key for s in sources}
    drop = {k for k in remove if k in have and k not in added_keys}
    missing = sorted(k for k in set(remove) - added_keys if k not in have)
    counts = {"unchanged": unchanged, "removed": len(drop), "not_found": missing}
    looked_at = {s.key for s in sources} | set(remove) | {r["key"] for r in refused}
    if not fresh and not drop and carry(manifest.get("skipped_files", []), looked_at, skipped) == \
            manifest.get("skipped_files", []):
        return build_report(kind, parent, store.root, manifest, skipped, started, added=0, replaced=0,
                            **counts)
    done = featurize_sources([], None, limits)
    if fresh:
        if (
            featurizer is None
            or featurizer.digest != manifest["weights"]["sha256"]
            or featurizer.size != manifest["model"]["input_size"]
        ):
            featurizer = load_featurizer(manifest, s3=s3, cache_dir=cache_dir, batch_size=config.batch_size)
        done = featurize_sources(
            [s for s in sources if s.key in fresh], featurizer, limits, threads=threads, progress=progress
        )
        skipped += done.skipped
    renewed = set(done.keys)
    keep = [i for i, k in enumerate(old_keys) if k not in renewed and k not in drop]
    keys = [old_keys[i] for i in keep] + done.keys
    hashes = [old_hashes[i] for i in keep] + done.hashes
    features = np.concatenate([np.asarray(arrays["features"][keep]), done.features])
    replaced = len(renewed & set(have))
    build = {"kind": kind, "parent": parent, "source": source}
    carried = carry(manifest.get("skipped_files", []), looked_at, skipped)
    new_arrays, new_manifest = _reassemble(keys, hashes, features, manifest, config, build,
                                           skipped_files=carried)
    version = publish_version(store, new_arrays, new_manifest, keep=config.keep_versions, expect=pointer)
    return build_report(
        kind,
        version,
        store.root,
        new_manifest,
        skipped,
        started,
        added=len(done.keys) - replaced,
        replaced=replaced,
        parent=parent,
        **counts,
    )


def _reassemble(
    keys: list[str],
    hashes: list[str],
    features: np.ndarray,
    manifest: dict,
    config: BuildConfig,
    build: dict,
    lsh: LshBuildParams | None = None,
    probes: int | None = None,
    skipped_files: list[dict] | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """A version derived from the live one: same weights and size, its LSH parameters unless given,
    its skipped files (the manifest's `skipped_files`) unless given."""
    return assemble(
        keys,
        hashes,
        features,
        weights=manifest["weights"],
        size=manifest["model"]["input_size"],
        lsh=lsh or LshBuildParams.from_manifest(manifest),
        probes=default_probes(manifest) if probes is None else probes,
        mode_rule=config.mode_rule,
        extra={"build": build, "skipped_files": (
            manifest.get("skipped_files", []) if skipped_files is None else skipped_files)},
        size_from=manifest["model"].get("input_size_from"),
        kept_bands=manifest.get("bands"),
    )


def remove_images(
    index_root: str | IndexStore,
    *,
    keys: Iterable[str] = (),
    prefixes: Iterable[str] = (),
    config: BuildConfig | None = None,
    s3: Any = None,
    cache_dir: str | None = None,
) -> dict:
    """Drop the given keys (and every key under the given prefixes) into a new version; no model needed."""
    started = time.perf_counter()
    config = _config(config)
    store = open_store(index_root, s3=s3)
    parent, manifest, arrays = _live(store, cache_dir or config.cache_dir, " to remove from")
    keys, prefixes = set(keys), tuple(prefixes)
    all_keys, all_hashes = _keys_and_hashes(arrays)
    gone = [i for i, k in enumerate(all_keys) if k in keys or (prefixes and k.startswith(prefixes))]
    missing = sorted(keys - set(all_keys))
    if not gone:
        return build_report("remove", parent, store.root, manifest, [], started, removed=0, not_found=missing)
    drop = set(gone)
    keep = [i for i in range(len(all_keys)) if i not in drop]
    new_arrays, new_manifest = _reassemble(
        [all_keys[i] for i in keep],
        [all_hashes[i] for i in keep],
        np.asarray(arrays["features"][keep]),
        manifest,
        config,
        {"kind": "remove", "parent": parent},
        skipped_files=carry(manifest.get("skipped_files", []), [all_keys[i] for i in gone], []),
    )
    version = publish_version(store, new_arrays, new_manifest, keep=config.keep_versions)
    return build_report(
        "remove",
        version,
        store.root,
        new_manifest,
        [],
        started,
        removed=len(gone),
        not_found=missing,
        parent=parent,
    )


def retable(
    index_root: str | IndexStore,
    lsh: LshBuildParams,
    *,
    probes: int | None = None,
    config: BuildConfig | None = None,
    s3: Any = None,
    cache_dir: str | None = None,
) -> dict:
    """Rebuild the live version's LSH tables (and recall figures) with new parameters; no model needed.

    `probes` sets the default probe count the new version records (None keeps the live one's).
    """
    started = time.perf_counter()
    config = _config(config)
    store = open_store(index_root, s3=s3)
    parent, manifest, arrays = _live(store, cache_dir or config.cache_dir, "")
    keys, hashes = _keys_and_hashes(arrays)
    new_arrays, new_manifest = _reassemble(
        keys,
        hashes,
        np.asarray(arrays["features"]),
        manifest,
        config,
        {"kind": "retable", "parent": parent},
        lsh=lsh,
        probes=probes,
    )
    version = publish_version(store, new_arrays, new_manifest, keep=config.keep_versions)
    return build_report("retable", version, store.root, new_manifest, [], started, parent=parent)
