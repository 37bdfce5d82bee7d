"""`imagesearch reindex`: featurize the whole gallery on Lambda and go live with one new version.

Runs where the operator runs publish (it converts the weights with `onnx`, an operator
dependency, and assembles the version from the shards there; docs/featurize.md says why).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from imagesearch.settings import Settings


def run_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """Plan (or resume) a run, queue it, wait for every shard, assemble and publish the version."""
    import boto3

    from imagesearch.cli.common import print_json, progress_bar
    from imagesearch.index.build_params import BuildConfig
    from imagesearch.index.calibration import featurize_labelled_set
    from imagesearch.model.features import Featurizer
    from imagesearch.model.onnx_model import ensure_model
    from imagesearch.ops.reindex import (
        finish_run,
        gallery_keys,
        load_plan,
        plan_run,
        start_run,
        wait_for_shards,
    )

    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    featurizer = Featurizer.load(args.weights or settings.weights, size=args.size or settings.input_size,
                                 s3=s3, cache_dir=settings.cache_dir)
    model = ensure_model(s3, args.bucket, featurizer)
    run = args.run or dt.datetime.now(dt.UTC).strftime("r%Y%m%dT%H%M%SZ")
    # A resumed run keeps its stored batches; a new one lists the gallery now.
    plan = load_plan(s3, args.bucket, run) or plan_run(
        run, gallery_keys(s3, args.bucket), weights=featurizer.weights, onnx_sha256=model.sha256,
        input_size=featurizer.size, batch_size=args.batch_size)
    queued = start_run(s3, sqs, args.bucket, args.queue_url, plan)
    def wait(p: Any) -> None:
        wait_for_shards(s3, args.bucket, p, timeout_s=args.timeout, progress=progress_bar(args))

    wait(plan)
    # Score bands as publish's build measures them here: the labelled set with the same weights
    # where scikit-image is installed, else the fallback rule.
    build = BuildConfig.from_settings(settings)
    labelled = featurize_labelled_set(featurizer, build.limits, threads=build.threads)
    # Images put or deleted while the run featurized (ingest applied them to the old version): the
    # catch-up, then the switch only if no ingest went live since its listing (docs/featurize.md).
    plan, report = finish_run(s3, sqs, args.bucket, args.queue_url, plan,
                              args.index_root or f"s3://{args.bucket}/index", wait=wait, config=build,
                              labelled=labelled, batch_size=args.batch_size)
    print_json({**report, "run": run, "batches": len(plan.batches), "queued": len(queued)})
    return 0


def add_reindex_command(sub: Any) -> None:
    """Register `reindex`."""
    from imagesearch.ops.reindex import DEFAULT_BATCH

    p = sub.add_parser("reindex", help="featurize the gallery on Lambda into one new index version")
    p.add_argument("--bucket", required=True, help="the gallery bucket (the stack's GalleryBucketName)")
    p.add_argument("--queue-url", required=True, help="the stack's FeaturizeQueueUrl")
    p.add_argument("--weights", help="weights source (default: IMAGESEARCH_WEIGHTS)")
    p.add_argument("--size", type=int, help="input size (default: IMAGESEARCH_INPUT_SIZE, else the weights')")
    p.add_argument("--run", help="run id; an existing run resumes (default: a new one from the time)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="images per message (one shard)")
    p.add_argument("--index-root", help="where the version goes (default: s3://BUCKET/index)")
    p.add_argument("--timeout", type=float, default=86400.0, help="seconds to wait for every shard")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_reindex)
