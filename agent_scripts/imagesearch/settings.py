"""Every environment variable the engine and agent read, with its default and a line of help.

One table (as datasette's SETTINGS): code reads values through `get()`, and a test fails when a
setting is missing from docs/settings.md.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class Setting(NamedTuple):  # not a dataclass: the thin client's warm path imports this module
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("IMAGESEARCH_INDEX", "/var/lib/imagesearch/index",
            "Index root: a local folder or s3://bucket/prefix holding current.json and version folders."),
    Setting("IMAGESEARCH_CACHE_DIR", "/var/lib/imagesearch/cache",
            "Where index versions and weights fetched from S3 are kept on local disk."),
    Setting("IMAGESEARCH_SOCKET", "/run/imagesearch/daemon.sock",
            "Unix socket the daemon listens on and the thin client connects to."),
    # The engine (index build, featurizer, search).
    Setting("IMAGESEARCH_WEIGHTS", "pretrained",
            "Build weights: FILE.params, s3://bucket/key.params, pretrained, or seed:N (not pretrained)."),
    Setting("IMAGESEARCH_INPUT_SIZE", "32",
            "Default square featurizer input size in pixels (chosen by measurement, see docs/engine.md)."),
    Setting("IMAGESEARCH_BATCH_SIZE", "64",
            "Images per featurizer batch."),
    Setting("IMAGESEARCH_READ_THREADS", "8",
            "Threads reading and decoding images during an index build."),
    Setting("IMAGESEARCH_BUILD_MAX_BYTES", "20971520",
            "Largest image file an index build reads, in bytes; larger files are skipped and reported."),
    Setting("IMAGESEARCH_MAX_PIXELS", "40000000",
            "Largest image (width x height) decoded when building or querying; larger ones are bombs."),
    Setting("IMAGESEARCH_LSH_TABLES", "16",
            "LSH hash tables per index."),
    Setting("IMAGESEARCH_LSH_BITS", "0",
            "Hyperplanes (bits) per LSH table; 0 chooses round(log2(count)) + 3 (18 at 30,000 images)."),
    Setting("IMAGESEARCH_LSH_PROBES", "32",
            "Buckets probed per LSH table per query (multi-probe), the query's own included."),
    Setting("IMAGESEARCH_LSH_SEED", "0",
            "Seed of the LSH hyperplanes and of the held-out recall sample."),
    Setting("IMAGESEARCH_MIN_RECALL", "0.95",
            "LSH becomes an index's default mode only if its measured recall@10 is at least this."),
    Setting("IMAGESEARCH_MAX_SCORED", "0.2",
            "LSH becomes the default mode only if it also scores at most this fraction of the vectors."),
    Setting("IMAGESEARCH_MODE", "",
            "Search mode at query time (lsh or exact); empty uses the index manifest's default_mode."),
    Setting("MXNET_HOME", "~/.mxnet",
            "MXNet's data folder: the pretrained model zoo file is looked for (and fetched) in its models/."),
    # The agent on the instance (daemon, thin client, bootstrap).
    Setting("IMAGESEARCH_ALLOWED_BUCKETS", "",
            "Comma-separated buckets the daemon may read query images from; empty allows any."),
    Setting("IMAGESEARCH_MAX_IMAGE_BYTES", "10485760",
            "Largest query image the agent downloads from S3, in bytes; larger ones are too_large."),
    Setting("IMAGESEARCH_RELOAD_SECONDS", "30",
            "How often the daemon re-reads the index pointer (current.json) to pick up a new version."),
    Setting("IMAGESEARCH_MAX_REQUEST_BYTES", "8192",
            "Longest request line the daemon accepts on its socket; longer ones get bad_request."),
    Setting("IMAGESEARCH_CONN_TIMEOUT", "30",
            "Seconds the daemon waits for a request line on an open connection before closing it."),
    Setting("IMAGESEARCH_MAX_CONNECTIONS", "64",
            "Connections the daemon serves at once; more get an immediate 'busy' error."),
    Setting("IMAGESEARCH_SEARCH_SLOTS", "4",
            "Searches the daemon computes at once; others wait their turn. Bounds the temporary "
            "memory of concurrent re-ranking; 2 cores gain nothing from more."),
    Setting("IMAGESEARCH_CLIENT_TIMEOUT", "10",
            "Seconds the thin client waits for the daemon's answer before searching cold in-process."),
    Setting("IMAGESEARCH_COLD_CACHE_DIR", "",
            "Cache for the thin client's cold path (runs as root under SSM); empty: a temporary folder."),
    Setting("IMAGESEARCH_ENV_FILE", "/etc/imagesearch.env",
            "KEY=VALUE file the thin client reads for settings it was not given (SSM passes none)."),
    Setting("GALLERY_BUCKET", "",
            "bootstrap.sh: the private gallery bucket holding agent/, index/ and models/."),
    Setting("SITE_BUCKET", "",
            "bootstrap.sh: the public site bucket; query images (albums/...) are read from it."),
    Setting("AWS_REGION", "",
            "Region of the buckets; bootstrap.sh writes it to the env file for boto3 and the AWS CLI."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The value of a setting: the environment's, else the table's default."""
    return os.environ.get(name, _BY_NAME[name].default)
