"""publish's index step done on Lambda (`make publish ARGS=--reindex`): imagesearch.ops.reindex's run.

It stands in for publish.index.publish_index inside publish_all (same signature, same Counts), so
what follows a new version is unchanged: stale result copies removed, the result cache warmed,
albums.json's index summary, the S3 Vectors sync, the instance's refresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagesearch.errors import SearchError

from publish.onnx_model import publish_onnx
from publish.uploader import Counts, PublishError

IndexStep = Callable[..., Counts]


def reindex_step(sqs: Any, queue_url: str, *, batch_size: int | None = None, timeout_s: float = 86400,
                 between: Callable[[], None] | None = None) -> IndexStep:
    """An index step that featurizes the gallery through the featurize queue (FeaturizeQueueUrl)."""

    def step(s3: Any, gallery_bucket: str, images_dir: Path, *, weights: str | None = None,
             size: int | None = None, work_dir: Path | None = None, force: bool = False,
             progress: bool = True) -> Counts:
        from imagesearch import settings
        from imagesearch.index.build_params import BuildConfig
        from imagesearch.index.calibration import featurize_labelled_set
        from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore
        from imagesearch.model.features import Featurizer
        from imagesearch.ops.reindex import (
            DEFAULT_BATCH,
            assemble_run,
            catch_up,
            gallery_keys,
            plan_run,
            start_run,
            wait_for_shards,
        )

        config = settings.load()
        try:
            featurizer = Featurizer.load(str(weights) if weights else config.weights,
                                         size=size or config.input_size, s3=s3,
                                         cache_dir=str(work_dir) if work_dir else config.cache_dir)
            _, model = publish_onnx(s3, gallery_bucket, featurizer, progress=progress)
            run = dt.datetime.now(dt.UTC).strftime("r%Y%m%dT%H%M%SZ")
            plan = plan_run(run, gallery_keys(s3, gallery_bucket), weights=featurizer.weights,
                            onnx_sha256=model.sha256, input_size=featurizer.size,
                            batch_size=batch_size or DEFAULT_BATCH)
            start_run(s3, sqs, gallery_bucket, queue_url, plan)
            wait_for_shards(s3, gallery_bucket, plan, timeout_s=timeout_s, progress=progress, between=between)
            plan, gone = catch_up(s3, sqs, gallery_bucket, queue_url, plan,
                                  batch_size=batch_size or DEFAULT_BATCH)
            wait_for_shards(s3, gallery_bucket, plan, timeout_s=timeout_s, progress=progress, between=between)
            # The near-duplicate band measured on the labelled set with the same weights, as
            # publish's own build does on this machine (None without scikit-image: the fallback).
            build = BuildConfig.from_settings(config)
            labelled = featurize_labelled_set(featurizer, build.limits, threads=build.threads)
            assemble_run(s3, gallery_bucket, plan, S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX),
                         config=build, drop=gone, labelled=labelled)
        except SearchError as e:
            raise PublishError(f"re-index failed ({e.code}): {e.message}") from e
        return Counts(1, 0)

    return step
