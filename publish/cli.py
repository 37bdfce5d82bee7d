"""`python -m publish` / `make publish`: fill the deployed stack's buckets and refresh the instance."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from publish.collection import DEFAULT_PER_ALBUM
from publish.core import publish_all
from publish.refresh import DEFAULT_TIMEOUT_S, instance_state, refresh_instance
from publish.stack import samconfig_value, stack_outputs
from publish.uploader import DEFAULT_CONCURRENCY, PublishError

DEFAULT_STACK = "visual-image-search"
DEFAULT_SAMPLE_COUNT = 600


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every default shown by --help, and listed in docs/settings.md)."""
    p = argparse.ArgumentParser(
        prog="python -m publish",
        description="Upload the site, gallery, albums, weights, agent and index to the deployed stack's "
                    "buckets (reading its CloudFormation outputs), then refresh the search instance.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--stack-name", help="stack to publish to (default: samconfig.toml's, else "
                   f"{DEFAULT_STACK})")
    p.add_argument("--region",
                   help="AWS region (default: samconfig.toml's deploy region, else the AWS config)")
    p.add_argument("--endpoint-url", help="S3/CloudFormation/SSM endpoint (default: AWS_ENDPOINT_URL or AWS)")
    p.add_argument("--samconfig", type=Path, default=Path("samconfig.toml"),
                   help="where stack name and region are read from")
    p.add_argument("--images", type=Path, help="album folders (one subfolder per album); default: a "
                   "generated sample collection in the cache folder")
    p.add_argument("--sample-count", type=int, default=DEFAULT_SAMPLE_COUNT,
                   help="images in the generated sample collection when --images is not given")
    p.add_argument("--site-dir", type=Path, default=Path("site"), help="the static page's files")
    p.add_argument("--weights", help="featurizer weights: FILE.params (uploaded to models/), s3://..., "
                   "pretrained or seed:N (default: the engine's IMAGESEARCH_WEIGHTS)")
    p.add_argument("--size", type=int,
                   help="featurizer input size (default: IMAGESEARCH_INPUT_SIZE, else 224 for pretrained "
                   "weights and 32 for seed:N)")
    p.add_argument("--per-album", type=int, default=DEFAULT_PER_ALBUM,
                   help="images per album the result cache warm-up covers with --cache-warm albums")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="uploads at once")
    p.add_argument("--cache-dir", type=Path, default=Path("build/publish-cache"),
                   help="where downloaded weights, index versions and the sample collection are kept")
    p.add_argument("--no-index", action="store_true", help="do not build or publish the index")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--reindex", action="store_true",
                       help="featurize on Lambda (the stack's featurize queue), not here "
                       "(docs/featurize.md). Default: on Lambda when the weights differ from the live "
                       "index's and the stack has the queue")
    where.add_argument("--no-reindex", action="store_true",
                       help="build the index here even when the weights changed")
    p.add_argument("--force-index", action="store_true", help="build a new index version even if unchanged")
    p.add_argument("--cache-warm", choices=("all", "albums", "off"), default="all",
                   help="warm the result cache of the live index: the top 10 of every indexed image, "
                   "of the album images only, or none")
    p.add_argument("--no-agent", action="store_true", help="do not upload the agent bundle and bootstrap")
    p.add_argument("--no-refresh", action="store_true", help="do not tell the instance to refresh")
    p.add_argument("--refresh-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help="seconds to wait for the instance's refresh and health answer")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.per_album < 1 or args.concurrency < 1 or args.sample_count < 1:
        p.error("--per-album, --concurrency and --sample-count must be at least 1")
    return args


def _sample_collection(cache_dir: Path, count: int) -> Path:
    """A deterministic sample collection, generated once per count into the cache folder."""
    from imagesearch.model.sample_data import cached_collection

    return cached_collection(cache_dir, count=count)


def _index_step(args: argparse.Namespace, session: boto3.Session, outputs: dict, say) -> dict:
    """publish_all's index_step: the local build or the re-index (the featurize queue), chosen when
    the index step runs (publish.reindex.choose_index_step: --reindex, --no-reindex, else the
    re-index when the weights changed and the stack has the queue)."""
    from publish.index import publish_index
    from publish.reindex import NO_QUEUE, auto_index_step, reindex_step

    queue_url = outputs.get("FeaturizeQueueUrl")
    if args.reindex and not queue_url:
        raise PublishError(NO_QUEUE)
    reindex = None
    if queue_url:
        reindex = reindex_step(session.client("sqs", endpoint_url=args.endpoint_url), queue_url)
    where = "lambda" if args.reindex else "local" if args.no_reindex else "auto"
    return {"index_step": auto_index_step(publish_index, reindex, where=where, say=say)}


def run(args: argparse.Namespace, session: boto3.Session, say=print) -> int:
    """Publish with the clients of `session`; return the exit code."""
    endpoint = args.endpoint_url
    client_config = Config(max_pool_connections=max(10, args.concurrency + 4),
                           retries={"mode": "standard", "max_attempts": 5})
    s3 = session.client("s3", endpoint_url=endpoint, config=client_config)
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    stack = args.stack_name or samconfig_value(args.samconfig, "stack_name") or DEFAULT_STACK
    outputs = stack_outputs(cloudformation, stack)
    say(f"stack {stack}: site s3://{outputs['SiteBucketName']}, gallery s3://{outputs['GalleryBucketName']}")

    images = args.images
    if images is None:
        images = _sample_collection(args.cache_dir, args.sample_count)
        say(f"no --images: publishing the sample collection ({args.sample_count} images) from {images}")
    report = publish_all(
        s3, site_bucket=outputs["SiteBucketName"], gallery_bucket=outputs["GalleryBucketName"],
        api_url=outputs["ApiUrl"], site_dir=args.site_dir, images_dir=images, weights=args.weights,
        per_album=args.per_album, index=not args.no_index, agent=not args.no_agent,
        index_options={"work_dir": args.cache_dir / "index", "size": args.size, "force": args.force_index},
        progress=not args.quiet, concurrency=args.concurrency, cache_warm=args.cache_warm,
        cache_dir=args.cache_dir / "index", **_index_step(args, session, outputs, say),
    )
    for line in report.lines():
        say(f"  {line}")
    say(f"  total    {report.total}")
    if outputs.get("IndexBackend") == "s3vectors" and not args.no_index:
        from publish.vectors import publish_vectors

        synced = publish_vectors(session.client("s3vectors", endpoint_url=endpoint), s3,
                                 outputs["GalleryBucketName"], outputs["VectorBucketName"],
                                 cache_dir=args.cache_dir / "index")
        say(f"  vectors  {synced.put} put, {synced.deleted} deleted, {synced.kept} kept"
            + (" (rewritten: new weights or build)" if synced.rewritten else ""))
    if report.warm is not None and not report.warm.skipped:
        w = report.warm
        say(f"  cache    {w.entries} entries ({w.bytes / 1e6:.1f} MB) for {w.version} in {w.total_s:.1f} s "
            f"(search {w.compute_s:.1f} s), {w.pruned} old entries removed")

    # The instance runs only the bootstrap whose hash the stack pins, and the API's CORS allows only
    # the page's origin: both are stack parameters publish sets (docs/deploy.md).
    from publish.agent import BOOTSTRAP
    from publish.pin import set_stack_parameters, wanted_parameters

    set_stack_parameters(cloudformation, stack,
                         wanted_parameters(outputs, None if args.no_agent else BOOTSTRAP), say)
    if outputs.get("SiteURL"):
        say(f"the page: {outputs['SiteURL']}")

    if args.no_refresh:
        say("refresh skipped (--no-refresh)")
        return 0
    instance_id, document = outputs.get("InstanceId"), outputs.get("RefreshDocumentName")
    if not instance_id or not document:
        say("refresh skipped: the stack has no InstanceId or RefreshDocumentName output")
        return 0
    ec2 = session.client("ec2", endpoint_url=endpoint)
    state = instance_state(ec2, instance_id)
    if state != "running":
        say(f"refresh skipped: instance {instance_id} is {state or 'gone'}; it runs the bootstrap "
            "from the gallery bucket when it next starts")
        return 0
    say(f"refreshing {instance_id} with {document} (waits for the daemon's health)...")
    result = refresh_instance(session.client("ssm", endpoint_url=endpoint), instance_id, document,
                              timeout_s=args.refresh_timeout)
    say(f"instance healthy: {result.health}" if result.health else f"refresh output:\n{result.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, publish, report errors as one clear line and a non-zero exit."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    region = args.region or samconfig_value(args.samconfig, "region")
    try:
        return run(args, boto3.Session(region_name=region))
    except PublishError as e:
        print(f"publish: {e}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as e:
        print(f"publish: AWS error: {e}", file=sys.stderr)
        return 1
