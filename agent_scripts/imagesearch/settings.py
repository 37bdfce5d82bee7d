"""Every environment variable the engine and agent read, with its default and a line of help.

One table (as datasette's SETTINGS), read once per process: an entry point calls `load(environ)`
and passes the typed `Settings` (or the few values a piece needs) down; nothing deep inside the
engine or the agent reads the environment. docs/settings.md is generated from this table
(`make settings-doc`) and a test fails when it drifts.

Plain NamedTuples, not dataclasses: the thin client's warm path imports this module, and
`dataclasses` (with the `inspect` it pulls in) would add milliseconds to every SSM search.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from imagesearch.errors import SearchError

if TYPE_CHECKING:
    from imagesearch.decode_budget import DecodeBudget


def _optional(value: str) -> str | None:
    return value or None


def _backend(value: str) -> str:
    """instance or s3vectors (docs/scale.md says when to choose which)."""
    if value not in ("instance", "s3vectors"):
        raise ValueError(value)
    return value


def _count(value: str) -> int:
    """A whole number, zero or more."""
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _buckets(value: str) -> frozenset[str]:
    """A comma-separated bucket list as a set (empty: any bucket)."""
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def _int_or_none(raw: str) -> int | None:
    """An integer, or None for an empty value (the setting then follows something else)."""
    return int(raw) if raw.strip() else None


class Setting(NamedTuple):
    """One environment variable: its default, a line of help, and where `load` puts it."""

    name: str
    default: str
    help: str
    field: str | None = None  # the Settings attribute; None: read by others (bootstrap, MXNet, boto3)
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("IMAGESEARCH_INDEX", "/var/lib/imagesearch/index",
            "Index root: a local folder or s3://bucket/prefix holding current.json and version folders.",
            "index"),
    Setting("IMAGESEARCH_CACHE_DIR", "/var/lib/imagesearch/cache",
            "Where index versions and weights fetched from S3 are kept on local disk.",
            "cache_dir"),
    Setting("IMAGESEARCH_SOCKET", "/run/imagesearch/daemon.sock",
            "Unix socket the daemon listens on and the thin client connects to.",
            "socket"),
    # The engine (index build, featurizer, search).
    Setting("IMAGESEARCH_WEIGHTS", "pretrained",
            "Build weights: FILE.params, s3://bucket/key.params, pretrained, or seed:N (not pretrained).",
            "weights"),
    Setting("IMAGESEARCH_INPUT_SIZE", "",
            "Square featurizer input size in pixels; empty: it follows the weights, 224 for pretrained "
            "(the trained resolution), 32 for seeded demo weights (docs/engine.md).",
            "input_size", _int_or_none),
    Setting("IMAGESEARCH_BATCH_SIZE", "64",
            "Images per featurizer batch.",
            "batch_size", int),
    Setting("IMAGESEARCH_READ_THREADS", "8",
            "Threads reading and decoding images during an index build.",
            "read_threads", int),
    Setting("IMAGESEARCH_BUILD_MAX_BYTES", "20971520",
            "Largest image file an index build reads, in bytes; larger files are skipped and reported.",
            "build_max_bytes", int),
    Setting("IMAGESEARCH_MAX_PIXELS", "",
            "Largest image (width x height) decoded when building or querying; larger ones are bombs. "
            "Empty: derived from IMAGESEARCH_MEMORY_MIB so the worst admitted image fits the decode "
            "budget (23.5 megapixels on a 1 GiB instance, at most 40; docs/engine.md).",
            "max_pixels", _int_or_none),
    Setting("IMAGESEARCH_LSH_TABLES", "16",
            "LSH hash tables per index.",
            "lsh_tables", int),
    Setting("IMAGESEARCH_LSH_BITS", "0",
            "Hyperplanes (bits) per LSH table; 0 chooses round(log2(count)) + 3 (18 at 30,000 images).",
            "lsh_bits", int),
    Setting("IMAGESEARCH_LSH_PROBES", "32",
            "Buckets probed per LSH table per query (multi-probe), the query's own included; recorded at "
            "build time as the index's default, changeable per query without a rebuild.",
            "lsh_probes", int),
    Setting("IMAGESEARCH_LSH_SEED", "0",
            "Seed of the LSH hyperplanes and of the held-out recall sample.",
            "lsh_seed", int),
    Setting("IMAGESEARCH_MIN_RECALL", "0.95",
            "LSH becomes an index's default mode only if its measured recall@10 is at least this.",
            "min_recall", float),
    Setting("IMAGESEARCH_MAX_SCORED", "0.2",
            "LSH becomes the default mode only if it also scores at most this fraction of the vectors.",
            "max_scored", float),
    Setting("IMAGESEARCH_MODE", "",
            "Search mode at query time (lsh or exact); empty uses the index manifest's default_mode.",
            "mode", _optional),
    Setting("MXNET_HOME", "~/.mxnet",
            "MXNet's data folder: `weights fetch` keeps the verified pretrained file in its models/."),
    Setting("MXNET_GLUON_REPO", "",
            "A mirror of the MXNet model zoo for `imagesearch weights fetch` (operator machine); empty: "
            "the zoo's own repository. The instance never downloads weights."),
    # The agent on the instance (daemon, thin client, bootstrap).
    Setting("IMAGESEARCH_ALLOWED_BUCKETS", "",
            "Comma-separated buckets the daemon may read query images from; empty allows any.",
            "allowed_buckets", _buckets),
    Setting("IMAGESEARCH_MAX_IMAGE_BYTES", "10485760",
            "Largest query image the agent downloads from S3, in bytes; larger ones are too_large.",
            "max_image_bytes", int),
    Setting("IMAGESEARCH_RELOAD_SECONDS", "30",
            "How often the daemon re-reads the index pointer (current.json) to pick up a new version.",
            "reload_seconds", float),
    Setting("IMAGESEARCH_MAX_REQUEST_BYTES", "8192",
            "Longest request line the daemon accepts on its socket; longer ones get bad_request.",
            "max_request_bytes", int),
    Setting("IMAGESEARCH_CONN_TIMEOUT", "30",
            "Seconds a whole request line may take to arrive (idle wait included) before the daemon closes "
            "the connection; a deadline per request, not per read.",
            "conn_timeout", float),
    Setting("IMAGESEARCH_MAX_CONNECTIONS", "64",
            "Connections the daemon serves at once; more get an immediate 'busy' error.",
            "max_connections", int),
    Setting("IMAGESEARCH_SEARCH_SLOTS", "4",
            "Searches the daemon computes at once; others wait their turn. Bounds the temporary "
            "memory of concurrent re-ranking; 2 cores gain nothing from more.",
            "search_slots", int),
    Setting("IMAGESEARCH_CLIENT_TIMEOUT", "10",
            "Seconds the thin client waits for the daemon's answer before searching cold in-process.",
            "client_timeout", float),
    Setting("IMAGESEARCH_COLD_CACHE_DIR", "",
            "Cache for the thin client's cold path (runs as root under SSM); empty: a temporary folder.",
            "cold_cache_dir", _optional),
    Setting("IMAGESEARCH_ENV_FILE", "/etc/imagesearch.env",
            "KEY=VALUE file the thin client reads for settings it was not given (SSM passes none).",
            "env_file"),
    Setting("IMAGESEARCH_BACKEND", "instance",
            "Where the daemon searches: instance (the in-memory index) or s3vectors (Amazon S3 Vectors; "
            "the instance keeps only the model and the version's mean). From the template's IndexBackend.",
            "backend", _backend),
    Setting("IMAGESEARCH_VECTOR_BUCKET", "",
            "With IMAGESEARCH_BACKEND=s3vectors: the vector bucket holding the vector index.",
            "vector_bucket"),
    Setting("IMAGESEARCH_VECTOR_INDEX", "images",
            "With IMAGESEARCH_BACKEND=s3vectors: the vector index (dimension 2048, cosine) in that bucket.",
            "vector_index"),
    Setting("IMAGESEARCH_KEEP_VERSIONS", "3",
            "Index versions kept besides the live one: publishing a version deletes older ones from the "
            "index root, and the daemon deletes older cached copies from its cache folder after a reload.",
            "keep_versions", _count),
    Setting("IMAGESEARCH_MEMORY_MIB", "",
            "The machine's memory in MiB from which the decode budget is derived (a quarter of it held "
            "by decodes at once, across threads); empty: MemTotal from /proc/meminfo.",
            "memory_mib", _int_or_none),
    Setting("IMAGESEARCH_LARGE_DECODES", "1",
            "Large query images (over 64 MiB to decode) the daemon decodes at once, in their own lane, so "
            "ordinary searches are never queued behind them.",
            "large_decodes", int),
    Setting("GALLERY_BUCKET", "",
            "bootstrap.sh: the private gallery bucket holding agent/, index/ and models/."),
    Setting("SITE_BUCKET", "",
            "bootstrap.sh: the public site bucket; `imagesearch ingest` writes the display copies "
            "(thumbs/, previews/), album pages (listings/, albums.json) of what the index accepted and "
            "duplicates.json."),
    Setting("AWS_REGION", "",
            "Region of the buckets; bootstrap.sh writes it to the env file for boto3 and the AWS CLI."),
)


class Settings(NamedTuple):
    """The table's values, typed; one `load()` per process, then passed to whoever needs them."""

    index: str
    cache_dir: str
    socket: str
    weights: str
    input_size: int | None
    batch_size: int
    read_threads: int
    build_max_bytes: int
    max_pixels: int  # resolved by load(): the setting, else the decode budget's cap
    lsh_tables: int
    lsh_bits: int
    lsh_probes: int
    lsh_seed: int
    min_recall: float
    max_scored: float
    mode: str | None
    allowed_buckets: frozenset[str]
    max_image_bytes: int
    reload_seconds: float
    max_request_bytes: int
    conn_timeout: float
    max_connections: int
    search_slots: int
    client_timeout: float
    cold_cache_dir: str | None
    env_file: str
    backend: str = "instance"
    vector_bucket: str = ""
    vector_index: str = "images"
    keep_versions: int = 3
    memory_mib: int = 1024  # resolved by load(): the setting, else MemTotal
    large_decodes: int = 1


_BY_NAME = {s.name: s for s in SETTINGS}
_LOADED = tuple(s for s in SETTINGS if s.field is not None)
# The record and the table name the same fields in the same order (checked once, at import).
assert tuple(s.field for s in _LOADED) == Settings._fields, "settings.SETTINGS and Settings disagree"


def get(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """The raw value of one setting: the environment's, else the table's default."""
    return environ.get(name, _BY_NAME[name].default)


def load(environ: Mapping[str, str] = os.environ) -> Settings:
    """Every setting from `environ` (else its default), typed; a malformed one is SearchError('internal')."""
    values = []
    for s in _LOADED:
        raw = environ.get(s.name, s.default)
        try:
            values.append(s.parse(raw))
        except ValueError as e:
            kinds = {int: "an integer", _int_or_none: "an integer", float: "a number",
                     _count: "a whole number >= 0"}
            kind = kinds.get(s.parse, "valid")
            raise SearchError("internal", f"setting {s.name}={raw!r} is not {kind}") from e
    return _resolve_memory(Settings(*values))


def _resolve_memory(cfg: Settings) -> Settings:
    """Fill the memory size (MemTotal when unset) and the pixel cap derived from it when unset."""
    from imagesearch.decode_budget import DecodeBudget, machine_memory_mib

    memory = cfg.memory_mib if cfg.memory_mib is not None else machine_memory_mib()
    budget = DecodeBudget.from_memory(memory, cfg.max_pixels)
    return cfg._replace(memory_mib=memory, max_pixels=budget.max_pixels)


def decode_budget(cfg: Settings) -> DecodeBudget:
    """The decode budget of a loaded settings record (its memory size and pixel cap)."""
    from imagesearch.decode_budget import DecodeBudget

    return DecodeBudget.from_memory(cfg.memory_mib, cfg.max_pixels)
