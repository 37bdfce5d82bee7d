"""`make smoke`: N real searches against a deployed stack (its CloudFormation outputs) or the local
stack (its URL), the p50/p95 of every stage, and the three access checks a first deploy must pass.
Each search asks with `fresh` (past the result cache), so every one makes the SSM round trip; it
sends the operator's fresh token, read from the stack's SSM parameter (docs/function.md, "Fresh").

Checks: every result URL is publicly readable; a gallery object is NOT readable anonymously; the
site bucket has the rule that expires results/. Exit 0 only when all searches and checks pass.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from publish.stack import samconfig_value, stack_outputs
from publish.uploader import PublishError

STAGES = ("ssm_send", "ssm_wait", "search", "copy", "total")
RESULTS_PREFIX = "results/"
DEFAULT_SEARCHES = 20
DEFAULT_STACK = "visual-image-search"
SAMCONFIG = Path("samconfig.toml")
# The local stack's site bucket (`python -m devstack` prints it; --site-bucket for another).
LOCAL_SITE_BUCKET = "imagesearch-local-site"
LOCAL_PLACEHOLDER_KEY = "testing"  # noqa: S105 - moto's placeholder credentials, not a secret
LOCAL_GALLERY_BUCKET = "imagesearch-local-gallery"
# The local stack's fresh token parameter (/<stack name>/fresh-token; the local stack name).
LOCAL_FRESH_TOKEN_PARAMETER = "/imagesearch-local/fresh-token"  # noqa: S105 - a name, not the token
FRESH_TOKEN_HEADER = "x-imagesearch-fresh-token"  # noqa: S105 - a header name


@dataclass
class Target:
    """Where the product answers: its page origin, its API, its buckets and the anonymous gallery URL."""

    site_url: str  # ends with "/": albums.json and results/ are under it
    api_url: str  # POST {api_url}/search
    site_bucket: str
    gallery_public_url: Callable[[str], str]  # the URL anyone would use for a gallery key
    s3: object
    fresh_token: str = ""  # sent with every search so `fresh` is allowed


@dataclass
class Report:
    """What one smoke run measured and found."""

    timings: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    failures: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every search and every check passed."""
        return not self.failures


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between the sorted values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _get(url: str, timeout: float) -> int:
    """The status of an anonymous GET (no credentials of any kind)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - the stack's own URLs
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def _search(api_url: str, key: str, k: int, timeout: float, fresh_token: str) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the stack's own API
        # fresh: past the result cache (publish warms it for every album image), so each search
        # makes the SSM round trip this check is for; only the operator's token may ask for it.
        api_url.rstrip("/") + "/search", data=json.dumps({"key": key, "k": k, "fresh": True}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", FRESH_TOKEN_HEADER: fresh_token})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return json.load(resp)
    except urllib.error.HTTPError as e:
        body = e.read() or b"{}"
        raise PublishError(f"search {key}: HTTP {e.code} {body[:300].decode(errors='replace')}") from e


def album_keys(site_url: str, timeout: float) -> list[str]:
    """Every listed image of the site, album by album, as the API's album query key `albums/<a>/<f>`.

    Read as the page reads it: albums.json, then each album's pages `listings/<album>/<n>.json`.
    """
    def get(path: str) -> dict:
        with urllib.request.urlopen(site_url + path, timeout=timeout) as resp:  # noqa: S310 - the site's URL
            return json.load(resp)

    keys = []
    for album in get("albums.json")["albums"]:
        for page in range(1, int(album.get("pages") or 0) + 1):
            keys += ["albums/" + img["key"].removeprefix("gallery/")
                     for img in get(f"listings/{album['name']}/{page}.json")["images"]]
    return keys


def expiry_rule(s3, bucket: str) -> dict | None:
    """The enabled lifecycle rule expiring results/ in the site bucket, or None."""
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
            return None
        raise
    for rule in rules:
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix"))
        expires = (rule.get("Expiration") or {}).get("Days")
        if rule.get("Status") == "Enabled" and prefix == RESULTS_PREFIX and expires:
            return rule
    return None


def run_smoke(target: Target, *, searches: int = DEFAULT_SEARCHES, k: int = 5, seed: int | None = None,
              timeout: float = 60.0) -> Report:
    """N searches over random album images, then the access checks; the report."""
    report = Report()
    keys = album_keys(target.site_url, timeout)
    if not keys:
        report.failures.append("albums.json lists no images")
        return report
    rng = random.Random(seed)
    result_urls: list[str] = []
    gallery_key = None
    for _ in range(searches):
        key = rng.choice(keys)
        try:
            answer = _search(target.api_url, key, k, timeout, target.fresh_token)
        except PublishError as e:
            report.failures.append(str(e))
            continue
        missing = [stage for stage in STAGES if stage not in answer.get("timings_ms", {})]
        if missing:
            report.failures.append(f"search {key}: the answer ({answer.get('path')}) has no timing for "
                                   f"{', '.join(missing)}")
            continue
        for stage in STAGES:
            report.timings[stage].append(float(answer["timings_ms"][stage]))
        for result in answer.get("results", []):
            if result.get("url"):
                result_urls.append(result["url"])
                gallery_key = gallery_key or result["key"].removeprefix(RESULTS_PREFIX)
            else:
                report.failures.append(f"search {key}: result {result.get('key')} has no URL")
    done = len(report.timings["total"])
    report.lines.append(f"{done} of {searches} searches answered (k={k})")
    if done:
        report.lines.append(f"{'stage':10} {'p50 ms':>9} {'p95 ms':>9}")
        for stage in STAGES:
            values = report.timings[stage]
            report.lines.append(f"{stage:10} {percentile(values, 50):9.1f} {percentile(values, 95):9.1f}")

    unreadable = [url for url in result_urls if _get(url, timeout) != 200]
    readable = len(result_urls) - len(unreadable)
    report.lines.append(f"result URLs publicly readable: {readable} of {len(result_urls)}")
    report.failures += [f"result URL not publicly readable: {url}" for url in unreadable[:5]]
    if not result_urls:
        report.failures.append("no result URL to check")

    if gallery_key:
        url = target.gallery_public_url(gallery_key)
        status = _get(url, timeout)
        report.lines.append(f"gallery object read anonymously: HTTP {status} ({url})")
        if status == 200:
            report.failures.append(f"gallery object {gallery_key} is readable anonymously at {url}")

    rule = expiry_rule(target.s3, target.site_bucket)
    if rule is None:
        report.failures.append(
            f"site bucket {target.site_bucket} has no enabled rule expiring {RESULTS_PREFIX}")
    else:
        report.lines.append(f"results expiry rule: {rule.get('ID')} expires {RESULTS_PREFIX} after "
                            f"{rule['Expiration']['Days']} day(s)")
    return report


def fresh_token(ssm, parameter: str) -> str:
    """The operator's fresh token from its SecureString parameter; PublishError saying how to set it."""
    try:
        return ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "ParameterNotFound":
            raise
        raise PublishError(
            f"no fresh token: smoke asks with \"fresh\", which needs the SecureString parameter {parameter}; "
            f"create it with: aws ssm put-parameter --type SecureString --name {parameter} "
            f"--value \"$(openssl rand -hex 32)\" (docs/function.md, \"Fresh\")") from e


def deployed_target(session: boto3.Session, stack: str, endpoint: str | None = None) -> Target:
    """The deployed stack's target, from its CloudFormation outputs (as publish reads them)."""
    outputs = stack_outputs(session.client("cloudformation", endpoint_url=endpoint), stack)
    region = session.region_name
    gallery = outputs["GalleryBucketName"]
    site_url = outputs["WebsiteURL"].rstrip("/") + "/"
    return Target(
        site_url=site_url, api_url=outputs["ApiUrl"], site_bucket=outputs["SiteBucketName"],
        gallery_public_url=lambda key: f"https://{gallery}.s3.{region}.amazonaws.com/"
                                       + urllib.parse.quote(key),
        s3=session.client("s3", endpoint_url=endpoint),
        fresh_token=fresh_token(session.client("ssm", endpoint_url=endpoint),
                                outputs["FreshTokenParameterName"]))


def local_target(url: str, s3_endpoint: str, site_bucket: str = LOCAL_SITE_BUCKET,
                 session: boto3.Session | None = None) -> Target:
    """A stack served from URLs alone: its page URL (the API under `api`) and its S3 endpoint (the
    local stack prints both), e.g. the local stack's dev server and moto.

    A local S3 stand-in does not enforce bucket policies, so the anonymous gallery read is tried
    where the public reads the product there: the page's origin, which serves the site bucket
    alone. Requests to the endpoint are signed with the environment's credentials when it has
    any, else with placeholder ones (moto checks no signature, but files its parameters by account).
    """
    session = session or boto3.Session()
    if not session.get_credentials():
        session = boto3.Session(aws_access_key_id=LOCAL_PLACEHOLDER_KEY,
                                aws_secret_access_key=LOCAL_PLACEHOLDER_KEY, region_name=session.region_name)
    s3 = session.client("s3", endpoint_url=s3_endpoint, region_name=session.region_name or "us-east-1",
                        config=Config(s3={"addressing_style": "path"}))
    site_url = url.rstrip("/") + "/"
    return Target(site_url=site_url, api_url=site_url + "api", site_bucket=site_bucket,
                  gallery_public_url=lambda key: site_url + urllib.parse.quote(key), s3=s3,
                  # moto serves every service on one endpoint; the local stack put its token there.
                  fresh_token=fresh_token(session.client("ssm", endpoint_url=s3_endpoint,
                                                         region_name=session.region_name or "us-east-1"),
                                          LOCAL_FRESH_TOKEN_PARAMETER))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m publish.smoke", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url",
                   help="the local stack's page URL (with --s3-endpoint); default: the deployed stack")
    p.add_argument("--s3-endpoint", help="the local stack's moto endpoint (printed by `make demo`)")
    p.add_argument("--site-bucket", default=LOCAL_SITE_BUCKET,
                   help=f"with --url: the site bucket at --s3-endpoint (default {LOCAL_SITE_BUCKET})")
    p.add_argument("--stack-name", help=f"deployed stack (default: samconfig.toml's, else {DEFAULT_STACK})")
    p.add_argument("--region", help="AWS region (default: samconfig.toml's, else the AWS config)")
    p.add_argument("--endpoint-url", help="CloudFormation/S3 endpoint for the deployed stack (tests)")
    p.add_argument("--searches", type=int, default=DEFAULT_SEARCHES, help="number of searches (default 20)")
    p.add_argument("--k", type=int, default=5, help="matches per search (default 5)")
    p.add_argument("--seed", type=int, default=None, help="seed for the random choice of images")
    args = p.parse_args(argv)
    if args.url and not args.s3_endpoint:
        p.error("--url needs --s3-endpoint (the local stack's moto URL, printed at start)")
    if args.searches < 1:
        p.error("--searches must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the smoke test and print its report; exit 1 when anything failed."""
    args = parse_args(argv)
    try:
        if args.url:
            target = local_target(args.url, args.s3_endpoint, args.site_bucket)
        else:
            region = args.region or samconfig_value(SAMCONFIG, "region")
            stack = args.stack_name or samconfig_value(SAMCONFIG, "stack_name") or DEFAULT_STACK
            target = deployed_target(boto3.Session(region_name=region), stack, args.endpoint_url)
        report = run_smoke(target, searches=args.searches, k=args.k, seed=args.seed)
    except (PublishError, ClientError, BotoCoreError, urllib.error.URLError, OSError) as e:
        print(f"smoke: {e}", file=sys.stderr)
        return 1
    for line in report.lines:
        print(line)
    for failure in report.failures:
        print(f"FAILED: {failure}")
    print("smoke: ok" if report.ok else f"smoke: {len(report.failures)} failure(s)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
