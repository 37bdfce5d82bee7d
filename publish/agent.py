"""The agent's code bundle and its bootstrap script, to the gallery bucket."""

from __future__ import annotations

import tempfile
from pathlib import Path

# The bundle's format and its keys in the gallery bucket are publish/bundle.py's.
from publish.bundle import AGENT_DIR, BOOTSTRAP_KEY, POINTER_KEY, PREFIX, build_bundle
from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, PublishError, sync
from publish.wheelhouse import WHEELHOUSE, WheelhouseError

BOOTSTRAP = AGENT_DIR / "bootstrap.sh"


def agent_items(out_dir: Path, bundle: Path, bootstrap: Path = BOOTSTRAP) -> tuple[list[Item], Item]:
    """The archive and bootstrap under agent/, and (separately) the agent/current.json pointer."""
    if not Path(bootstrap).is_file():
        raise PublishError(f"bootstrap script {bootstrap} is missing")
    pointer = Path(out_dir) / "current.json"
    if not pointer.is_file():
        raise PublishError(f"the bundle builder wrote no {pointer}")
    files = [
        Item(key=PREFIX + bundle.name, path=bundle, content_type="application/gzip"),
        Item(key=BOOTSTRAP_KEY, path=Path(bootstrap), content_type="text/x-shellscript",
             cache_control="no-cache"),
    ]
    return files, Item(key=POINTER_KEY, path=pointer, content_type="application/json",
                       cache_control="no-cache")


def publish_agent(s3, gallery_bucket: str, *, bootstrap: Path = BOOTSTRAP, progress: bool = True,
                  concurrency: int = DEFAULT_CONCURRENCY, wheelhouse: Path | None = WHEELHOUSE) -> Counts:
    """Build the agent bundle; upload it and the bootstrap, then move agent/current.json to it.

    The bundle is a reproducible archive named after its hash, so an unchanged agent uploads nothing.
    `wheelhouse=None` leaves the wheels out (tests only: an instance cannot install such a bundle).
    """
    with tempfile.TemporaryDirectory(prefix="agent-bundle-") as tmp:
        try:
            bundle = Path(build_bundle(Path(tmp), wheelhouse=wheelhouse))
        except (OSError, ValueError, WheelhouseError) as e:
            raise PublishError(f"cannot build the agent bundle: {e}") from e
        files, pointer = agent_items(Path(tmp), bundle, bootstrap)
        options = {"label": "agent", "progress": progress, "concurrency": concurrency}
        # The pointer goes last: an instance refreshing meanwhile never follows it to a missing archive.
        counts = sync(s3, gallery_bucket, files, **options)
        return counts + sync(s3, gallery_bucket, [pointer], **options)
