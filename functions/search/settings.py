"""Every environment variable the search Lambda reads, with its default and a line of help.

One table (as datasette's SETTINGS): code reads values through `load()` or `get()`, and a test
fails when a setting is missing from docs/settings.md. POWERTOOLS_* variables are set by the
template's Globals and read by Powertools itself; they are listed for the docs, not read here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from errors import Misconfigured


# The agent has the same small record (imagesearch.settings); the function's package ships without
# the agent code, so each side keeps its own copy rather than importing across deployables.
@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SITE_BUCKET", "",
            "Public site bucket: each match's preview (previews/...) is copied to results/ in it."),
    Setting("GALLERY_BUCKET", "",
            "Private gallery bucket the matches (gallery/...) are copied from."),
    Setting("SEARCH_DOCUMENT_NAME", "",
            "Name of the SSM Command document that runs the search on the instance."),
    Setting("INSTANCE_TAG_KEY", "ImageSearchRole",
            "Tag key that marks the search instance."),
    Setting("INSTANCE_TAG_VALUE", "search",
            "Tag value that marks the search instance."),
    Setting("PUBLIC_BASE_URL", "",
            "Site origin used to build image URLs (url = base.rstrip('/') + '/' + key); empty gives "
            "root-relative URLs."),
    Setting("COPY_WORKERS", "10",
            "Threads copying matches to the site bucket at once; the S3 connection pool is sized above it."),
    Setting("DEADLINE_SECONDS", "25",
            "Cap on one request in seconds (1..29); the Lambda's remaining time minus 1.5 s caps it too."),
    Setting("INSTANCE_CACHE_SECONDS", "60",
            "How long a warm container reuses the instance id it found (0 = look it up on every request)."),
    Setting("RESULT_CACHE", "on",
            "'on': answer from the result cache under cache/<version>/ in the gallery bucket and fill it "
            "on a miss; 'off': always ask the agent through SSM."),
    Setting("CACHE_VERSION_SECONDS", "5",
            "How long a container trusts the live index version it read from index/current.json "
            "(0 = read it on every request)."),
    Setting("MAX_UPLOAD_BYTES", "10485760",
            "Largest query image a user may upload (POST /uploads signs 1 byte to this; /search checks "
            "it again)."),
    Setting("FRESH_TOKEN_PARAMETER", "",
            "Name of the SSM SecureString parameter holding the token a caller must send in the "
            "x-imagesearch-fresh-token header to ask with \"fresh\": true (read when first needed, "
            "kept 300 s per container); empty: fresh is refused to every caller (403)."),
    Setting("AWS_ENDPOINT_URL", "",
            "Endpoint for every AWS client of the function (read by boto3); the local stack points it at its "
            "moto server, and S3 then uses path-style addressing."),
    Setting("AWS_ENDPOINT_URL_SSM", "",
            "Endpoint of the function's SSM client alone (read by boto3, over AWS_ENDPOINT_URL); the local "
            "stack points it at its SSM stand-in (docs/local.md)."),
    Setting("POWERTOOLS_SERVICE_NAME", "image-search",
            "Service name in logs, traces and metrics (set by the template's Globals)."),
    Setting("POWERTOOLS_METRICS_NAMESPACE", "ImageSearch",
            "CloudWatch namespace of the function's metrics (set by the template's Globals)."),
    Setting("POWERTOOLS_LOG_LEVEL", "INFO",
            "Log level of the function (set by the template's Globals)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}

# The HTTP API gives up at 30 s; the function must answer (504) before that.
API_LIMIT_SECONDS = 29.0


def get(name: str) -> str:
    """The value of a setting: the environment's, else the table's default."""
    return os.environ.get(name, _BY_NAME[name].default)


def get_default(name: str) -> str:
    """The table's default for a setting, whatever the environment says."""
    return _BY_NAME[name].default


def _number(name: str, kind: type, low: float, high: float) -> float:
    raw = get(name)
    try:
        value = kind(raw)
    except ValueError as e:
        raise Misconfigured(f"{name}={raw!r} is not a {kind.__name__}") from e
    if not low <= value <= high:
        raise Misconfigured(f"{name}={raw!r} must be between {low} and {high}")
    return value


def copy_workers() -> int:
    """COPY_WORKERS as a checked integer (also sizes the S3 connection pool at import)."""
    return int(_number("COPY_WORKERS", int, 1, 64))


@dataclass(frozen=True)
class LambdaSettings:
    """The settings one request needs, read and checked together."""

    site_bucket: str
    gallery_bucket: str
    document_name: str
    tag_key: str
    tag_value: str
    public_base_url: str
    copy_workers: int
    deadline_seconds: float
    instance_cache_seconds: float
    cache_enabled: bool = True
    cache_version_seconds: float = 5.0
    max_upload_bytes: int = 10 * 1024 * 1024
    fresh_token_parameter: str = ""

    def url(self, key: str) -> str:
        """The URL the page loads for a site bucket key."""
        return self.public_base_url.rstrip("/") + "/" + key


def load() -> LambdaSettings:
    """Read and check the settings; a missing or malformed one raises Misconfigured (HTTP 500)."""
    missing = [n for n in ("SITE_BUCKET", "GALLERY_BUCKET", "SEARCH_DOCUMENT_NAME") if not get(n)]
    if missing:
        raise Misconfigured("missing environment variables: " + ", ".join(missing))
    return LambdaSettings(
        site_bucket=get("SITE_BUCKET"),
        gallery_bucket=get("GALLERY_BUCKET"),
        document_name=get("SEARCH_DOCUMENT_NAME"),
        tag_key=get("INSTANCE_TAG_KEY"),
        tag_value=get("INSTANCE_TAG_VALUE"),
        public_base_url=get("PUBLIC_BASE_URL"),
        copy_workers=copy_workers(),
        deadline_seconds=float(_number("DEADLINE_SECONDS", float, 1.0, API_LIMIT_SECONDS)),
        instance_cache_seconds=float(_number("INSTANCE_CACHE_SECONDS", float, 0.0, 3600.0)),
        cache_enabled=_switch("RESULT_CACHE"),
        cache_version_seconds=float(_number("CACHE_VERSION_SECONDS", float, 0.0, 300.0)),
        max_upload_bytes=int(_number("MAX_UPLOAD_BYTES", int, 1, 100 * 1024 * 1024)),
        fresh_token_parameter=get("FRESH_TOKEN_PARAMETER"),
    )


def _switch(name: str) -> bool:
    raw = get(name)
    if raw not in ("on", "off"):
        raise Misconfigured(f"{name}={raw!r} must be 'on' or 'off'")
    return raw == "on"
