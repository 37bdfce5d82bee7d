"""One opened index version: lookup by content hash, featurize, and search a vector (LSH or exact)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagesearch import settings
from imagesearch.errors import SearchError
from imagesearch.index.artifacts import load_version
from imagesearch.index.calibration import answer_bands
from imagesearch.index.lazy_model import LazyFeaturizer
from imagesearch.index.lsh import LshTables, default_probes, lsh_search
from imagesearch.index.modes import MODES
from imagesearch.index.storage import IndexStore, open_store
from imagesearch.index.vectors import exact_search
from imagesearch.model.features import matches_manifest


@dataclass(frozen=True)
class QueryConfig:
    """The query-time settings of an open index, taken from the settings record when it is opened."""

    forced_mode: str | None  # IMAGESEARCH_MODE: a mode for every query; None uses the manifest's
    max_pixels: int  # IMAGESEARCH_MAX_PIXELS: largest query image decoded (width x height)

    @classmethod
    def from_settings(cls, cfg: settings.Settings) -> QueryConfig:
        """The query-time values of a loaded settings record."""
        return cls(forced_mode=cfg.mode, max_pixels=cfg.max_pixels)


class OpenIndex(LazyFeaturizer):
    """A memory-mapped index version plus the featurizer that made it (loaded on first need)."""

    def __init__(
        self,
        *,
        version: str,
        directory: str,
        manifest: dict,
        arrays: dict[str, np.ndarray],
        featurizer: Any = None,
        s3: Any = None,
        cache_dir: str | None = None,
        query: QueryConfig | None = None,
    ) -> None:
        self.version = version
        self.directory = directory
        self.manifest = manifest
        self.count = int(manifest["count"])
        self.default_mode = manifest.get("default_mode", "exact")
        self.default_probes = default_probes(manifest)
        self._query = query or QueryConfig.from_settings(settings.load())
        self._max_pixels = self._query.max_pixels
        self._vectors = arrays["vectors"]
        self._mean = np.asarray(arrays["mean"], dtype=np.float32)
        self._keys = arrays["keys"]
        self._tables = LshTables(arrays["lsh_planes"], arrays["lsh_codes"], arrays["lsh_order"])
        self._rows_by_hash: dict[str, list[int]] = {}
        for row, h in enumerate(arrays["hashes"].tolist()):
            self._rows_by_hash.setdefault(h.decode("ascii"), []).append(row)
        self._featurizer = featurizer
        self._s3 = s3
        self._cache_dir = cache_dir
        self._load_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        index_root: str | IndexStore,
        *,
        s3: Any = None,
        cache_dir: str | None = None,
        version: str | None = None,
        featurizer: Any = None,
        query: QueryConfig | None = None,
    ) -> OpenIndex:
        """Open `version` (default: the one current.json names) of the index at `index_root`.

        An S3 version is fetched into `cache_dir` once, then memory-mapped. `featurizer` is reused
        when its weights digest and input size match the manifest's. Raises index_unavailable.
        `cache_dir` and `query` left out come from the settings table, read once here.
        """
        if cache_dir is None or query is None:
            cfg = settings.load()
            cache_dir = cfg.cache_dir if cache_dir is None else cache_dir
            query = query or QueryConfig.from_settings(cfg)
        store = open_store(index_root, s3=s3)
        if version is None:
            version = store.read_current()
            if version is None:
                raise SearchError("index_unavailable", f"no index at {store.root} (no current.json)")
        directory = store.local_dir(version, cache_dir=cache_dir)
        manifest, arrays = load_version(directory)
        if manifest.get("version") != version:
            raise SearchError("index_unavailable", f"{directory} holds version {manifest.get('version')!r}")
        if featurizer is not None and not matches_manifest(featurizer, manifest):
            featurizer = None
        return cls(
            version=version,
            directory=directory,
            manifest=manifest,
            arrays=arrays,
            featurizer=featurizer,
            s3=s3,
            cache_dir=cache_dir,
            query=query,
        )

    def lookup(self, content_hash: str, gallery_key: str | None = None) -> int | None:
        """The row of an image already in the index (by content hash), else None.

        `gallery_key` (where the image would be) serves the S3 Vectors backend; here the hash suffices.
        """
        rows = self._rows_by_hash.get(content_hash)
        return rows[0] if rows else None

    def key(self, row: int) -> str:
        """The key (e.g. gallery/marble/x.png) of a row."""
        return str(self._keys[row])

    def vector(self, row: int) -> np.ndarray:
        """The stored search vector (centred, L2-normalised) of a row."""
        if not 0 <= row < self.count:
            raise SearchError("bad_request", f"row {row} is outside the index (0..{self.count - 1})")
        return np.array(self._vectors[row], dtype=np.float32)

    def search_vector(
        self,
        vector: np.ndarray,
        k: int,
        *,
        mode: str | None = None,
        probes: int | None = None,
        exclude_hash: str | None = None,
    ) -> list[dict]:
        """[{"key", "score"}] best first, leaving out every row whose content hash is exclude_hash.

        `probes` (LSH buckets probed per table) defaults to the manifest's; a query may ask for
        more or fewer without a rebuild. Thread-safe: it only reads the memory-mapped arrays.
        """
        mode = self.resolve_mode(mode)
        if k < 1:
            raise SearchError("bad_request", f"k must be at least 1, not {k}")
        probes = self.default_probes if probes is None else probes
        if probes < 1:
            raise SearchError("bad_request", f"probes must be at least 1, not {probes}")
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if q.shape[0] != self._vectors.shape[1]:
            raise SearchError(
                "bad_request", f"vector has {q.shape[0]} dimensions, the index {self._vectors.shape[1]}"
            )
        norm = float(np.linalg.norm(q))
        if norm > 0:
            q = q / norm
        exclude = np.array(self._rows_by_hash.get(exclude_hash, []) if exclude_hash else [], dtype=np.int64)
        if self.count == 0:
            return []
        if mode == "exact":
            rows, scores = exact_search(self._vectors, q, k, exclude)
        else:
            rows, scores, _ = lsh_search(self._vectors, self._tables, q, k, exclude, probes=probes)
        return [
            {"key": self.key(int(r)), "score": round(float(s), 6)} for r, s in zip(rows, scores, strict=True)
        ]

    def resolve_mode(self, mode: str | None) -> str:
        """The mode to use: the one asked for, else IMAGESEARCH_MODE, else the manifest's default."""
        mode = mode or self._query.forced_mode or self.default_mode
        if mode not in MODES:
            raise SearchError("bad_request", f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        return mode


def index_summary(index: Any, mode: str) -> dict:
    """The answer's `index` object: version, count, the (resolved) mode actually used, and the
    version's score bands (left out for a version built before bands were measured)."""
    bands = answer_bands((getattr(index, "manifest", None) or {}).get("bands"))
    return {"version": index.version, "count": index.count, "mode": mode,
            **({"bands": bands} if bands else {})}
