"""publish's index step done on Lambda (`make publish ARGS=--reindex`): imagesearch.ops.reindex's run.

It stands in for publish.index.publish_index inside publish_all (same signature, same Counts), so
what follows a new version is unchanged: stale result copies removed, the result cache warmed,
albums.json's index summary, the S3 Vectors sync, the instance's refresh. `auto_index_step` picks
between the two when publish runs: the re-index when the weights changed and the stack has a
featurize queue (`choose_index_step`), the local build otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagesearch.errors import SearchError

from publish.onnx_model import publish_onnx
from publish.uploader import Counts, PublishError

IndexStep = Callable[..., Counts]
WHERE = ("auto", "local", "lambda")  # publish's --reindex / --no-reindex / neither
NO_QUEUE = "--reindex needs the stack's FeaturizeQueueUrl output: deploy the template first"


@dataclass(frozen=True)
class IndexChoice:
    """Which index step publish runs and the line it prints saying why."""

    reindex: bool
    why: str


def choose_index_step(where: str, live_sha256: str | None, new_sha256: str | None,
                      has_queue: bool) -> IndexChoice:
    """The re-index (Lambda) or the local build, from the flag, the weights digests and the queue.

    `where`: "lambda" (--reindex), "local" (--no-reindex) or "auto": the re-index when there is a
    live index whose weights digest (manifest `weights.sha256`) differs from the new weights' and
    the stack has a featurize queue; new weights mean featurizing every image again, the job the
    queue spreads over Lambda. Unchanged weights (or no live index) keep the local build, which
    featurizes only what changed (or nothing).
    """
    if where not in WHERE:
        raise ValueError(f"where must be one of {WHERE}, not {where!r}")
    if where == "lambda":
        return IndexChoice(True, "index: re-index on Lambda (--reindex)")
    if where == "local":
        return IndexChoice(False, "index: built here (--no-reindex)")
    if live_sha256 is None:
        return IndexChoice(False, "index: built here (no live index to compare weights with)")
    if new_sha256 == live_sha256:
        return IndexChoice(False, f"index: built here (weights unchanged, {live_sha256[:16]})")
    change = f"weights changed (live index {live_sha256[:16]}, new {str(new_sha256)[:16]})"
    if has_queue:
        return IndexChoice(True, f"index: {change}: every image is featurized again, on Lambda through "
                           "the featurize queue (--no-reindex builds here)")
    return IndexChoice(False, f"index: {change}, but the stack has no featurize queue "
                       "(FeaturizeQueueUrl): built here")


def auto_index_step(local: IndexStep, reindex: IndexStep | None, *, where: str = "auto",
                    say: Callable[[str], None] = print) -> IndexStep:
    """An index step that runs `reindex` or `local` as choose_index_step says, and prints why.

    The new weights' digest is the network's (imagesearch.model.features.params_digest, what the
    manifest records), so it is computed by loading them: only when there is a live index to compare
    with, no flag decided and the source is not the live one's by name (names_its_content).
    """

    def step(s3: Any, gallery_bucket: str, images_dir: Path, *, weights: str | None = None,
             size: int | None = None, work_dir: Path | None = None, force: bool = False,
             progress: bool = True) -> Counts:
        from publish.index import live_manifest

        live = live_manifest(s3, gallery_bucket) if where == "auto" else None
        live_sha = live["weights"]["sha256"] if live else None
        if live_sha and weights and weights == live["weights"].get("source") and names_its_content(weights):
            new_sha = live_sha  # the same seed, or the same copy publish made: no load needed
        else:
            new_sha = weights_digest(s3, weights, size=size, work_dir=work_dir) if live_sha else None
        choice = choose_index_step(where, live_sha, new_sha, reindex is not None)
        say(choice.why)
        if choice.reindex and reindex is None:
            raise PublishError(NO_QUEUE)
        chosen = reindex if choice.reindex else local
        return chosen(s3, gallery_bucket, images_dir, weights=weights, size=size, work_dir=work_dir,
                      force=force, progress=progress)

    return step


def names_its_content(weights: str) -> bool:
    """Whether a weights source names fixed contents: `seed:N`, or a copy publish made under models/
    (a new file gets a new key, publish.weights.weights_key), so an equal source means equal weights."""
    from publish.weights import MODELS_PREFIX

    return weights.startswith("seed:") or (weights.startswith("s3://")
                                           and weights.split("/", 3)[-1].startswith(MODELS_PREFIX))


def weights_digest(s3: Any, weights: str | None, *, size: int | None = None,
                   work_dir: Path | None = None) -> str:
    """The digest the manifest would record for `weights` (the engine's default when None)."""
    from imagesearch import settings
    from imagesearch.model.features import Featurizer

    config = settings.load()
    source = str(weights) if weights else config.weights
    try:
        featurizer = Featurizer.load(source, size=size or config.input_size, s3=s3,
                                     cache_dir=str(work_dir) if work_dir else config.cache_dir)
    except SearchError as e:
        raise PublishError(f"weights {weights}: {e.message}") from e
    return featurizer.digest


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
            finish_run,
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

            def wait(p) -> None:
                wait_for_shards(s3, gallery_bucket, p, timeout_s=timeout_s, progress=progress,
                                between=between)

            wait(plan)
            # The near-duplicate band measured on the labelled set with the same weights, as
            # publish's own build does on this machine (None without scikit-image: the fallback).
            build = BuildConfig.from_settings(config)
            labelled = featurize_labelled_set(featurizer, build.limits, threads=build.threads)
            # The catch-up and the conditional switch: no ingest event lost (docs/featurize.md).
            finish_run(s3, sqs, gallery_bucket, queue_url, plan,
                       S3IndexStore(s3, gallery_bucket, GALLERY_INDEX_PREFIX), wait=wait, config=build,
                       labelled=labelled, batch_size=batch_size or DEFAULT_BATCH)
        except SearchError as e:
            raise PublishError(f"re-index failed ({e.code}): {e.message}") from e
        return Counts(1, 0)

    return step
