"""The agent's code bundle, its bootstrap script and the model weights, to the gallery bucket."""

from __future__ import annotations

import tempfile
from pathlib import Path

from imagesearch.keys import safe_name

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, PublishError, sync

BOOTSTRAP = Path(__file__).resolve().parent.parent / "agent_scripts" / "bootstrap.sh"
BOOTSTRAP_KEY = "agent/bootstrap.sh"
AGENT_PREFIX = "agent/"
MODELS_PREFIX = "models/"


def agent_items(bundle: Path, bootstrap: Path = BOOTSTRAP) -> list[Item]:
    """The bundle archive under agent/ and the bootstrap at agent/bootstrap.sh."""
    if not Path(bootstrap).is_file():
        raise PublishError(f"bootstrap script {bootstrap} is missing")
    return [
        Item(key=AGENT_PREFIX + bundle.name, path=bundle),
        Item(key=BOOTSTRAP_KEY, path=Path(bootstrap), content_type="text/x-shellscript"),
    ]


def publish_agent(s3, gallery_bucket: str, *, bootstrap: Path = BOOTSTRAP, progress: bool = True,
                  concurrency: int = DEFAULT_CONCURRENCY) -> Counts:
    """Build the agent bundle and upload it with the bootstrap to agent/ in the gallery bucket."""
    # The agent side owns the bundle's format; a reproducible archive keeps this step idempotent.
    try:
        from publish.bundle import build_bundle
    except ModuleNotFoundError as e:
        if e.name != "publish.bundle":
            raise
        raise PublishError("the agent bundle builder (publish/bundle.py) is missing; "
                           "publish without the agent step (--no-agent)") from e

    with tempfile.TemporaryDirectory(prefix="agent-bundle-") as tmp:
        bundle = Path(build_bundle(Path(tmp)))
        return sync(s3, gallery_bucket, agent_items(bundle, bootstrap), label="agent",
                    progress=progress, concurrency=concurrency)


def weights_key(weights: Path) -> str:
    """The gallery key of a weights file: models/<safe file name>."""
    return MODELS_PREFIX + safe_name(Path(weights).name)


def publish_weights(s3, gallery_bucket: str, weights: Path, *, progress: bool = True,
                    concurrency: int = DEFAULT_CONCURRENCY) -> Counts:
    """Upload a weights file to models/<file name> in the gallery bucket."""
    weights = Path(weights)
    if not weights.is_file():
        raise PublishError(f"weights file {weights} does not exist")
    return sync(s3, gallery_bucket, [Item(key=weights_key(weights), path=weights)],
                label="weights", progress=progress, concurrency=concurrency)
