"""The typed parameters of an index build, taken once from the settings record by the entry point."""

from __future__ import annotations

from dataclasses import dataclass

from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.manifest import ModeRule
from imagesearch.model.pipeline import Limits
from imagesearch.settings import Settings


@dataclass(frozen=True)
class BuildConfig:
    """What build, add, remove and retable take from the settings table (docs/settings.md)."""

    weights: str  # IMAGESEARCH_WEIGHTS, the featurizer a new index is built with
    input_size: int | None  # IMAGESEARCH_INPUT_SIZE; None: the weights decide (weights.default_input_size)
    limits: Limits  # IMAGESEARCH_BUILD_MAX_BYTES, IMAGESEARCH_MAX_PIXELS
    lsh: LshBuildParams  # IMAGESEARCH_LSH_TABLES, _BITS, _SEED
    probes: int  # IMAGESEARCH_LSH_PROBES: the default probe count a new index records
    mode_rule: ModeRule  # IMAGESEARCH_MIN_RECALL, IMAGESEARCH_MAX_SCORED
    threads: int  # IMAGESEARCH_READ_THREADS
    batch_size: int  # IMAGESEARCH_BATCH_SIZE
    cache_dir: str  # IMAGESEARCH_CACHE_DIR: weights and S3 index versions
    keep_versions: int | None = 3  # IMAGESEARCH_KEEP_VERSIONS; None keeps every version

    @classmethod
    def from_settings(cls, cfg: Settings) -> BuildConfig:
        """The build parameters of a loaded settings record (`imagesearch.settings.load()`)."""
        return cls(
            weights=cfg.weights,
            input_size=cfg.input_size,
            limits=Limits(max_bytes=cfg.build_max_bytes, max_pixels=cfg.max_pixels),
            lsh=LshBuildParams(tables=cfg.lsh_tables, bits=cfg.lsh_bits, seed=cfg.lsh_seed),
            probes=cfg.lsh_probes,
            mode_rule=ModeRule(min_recall=cfg.min_recall, max_scored=cfg.max_scored),
            threads=cfg.read_threads,
            batch_size=cfg.batch_size,
            cache_dir=cfg.cache_dir,
            keep_versions=cfg.keep_versions,
        )
