"""The featurizer's weights to the gallery bucket: verified, content-addressed under models/.

The instance loads weights only from there (the manifest names the s3:// key and the file's
sha256); `--weights pretrained` is the operator's fetched-and-verified file (imagesearch.model.weights_fetch).
"""

from __future__ import annotations

import json
from pathlib import Path

from imagesearch.errors import SearchError
from imagesearch.keys import safe_name

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, PublishError, sync

MODELS_PREFIX = "models/"


def weights_key(weights: Path, sha256: str) -> str:
    """The gallery key of a weights file: models/<safe stem>-<sha256 prefix>.params (new file, new key)."""
    stem = safe_name(Path(weights).name).removesuffix(".params")
    return f"{MODELS_PREFIX}{stem}-{sha256[:16]}.params"


def resolve_weights(weights: str | Path | None) -> str | Path | None:
    """`pretrained` as the verified local file (fetched once, then cached); other values unchanged."""
    if str(weights) != "pretrained":
        return weights
    from imagesearch.model.weights_fetch import ensure_pretrained

    try:
        return Path(ensure_pretrained())
    except SearchError as e:
        raise PublishError(f"pretrained weights: {e.message}") from e


def publish_weights(s3, gallery_bucket: str, weights: Path, *, progress: bool = True,
                    concurrency: int = DEFAULT_CONCURRENCY) -> tuple[Counts, str]:
    """Verify a weights file, upload it and its record to models/; return the counts and its s3 key."""
    from imagesearch.model.weights import is_pretrained_file, read_provenance
    from imagesearch.model.weights_fetch import verify_params_file

    weights = Path(weights)
    if not weights.is_file():
        raise PublishError(f"weights file {weights} does not exist")
    try:
        record = verify_params_file(str(weights))
        record = {**(read_provenance(str(weights)) or {}), **record,
                  "pretrained": is_pretrained_file(str(weights))}
    except SearchError as e:
        raise PublishError(f"weights file {weights} refused: {e.message}") from e
    key = weights_key(weights, record["file_sha256"])
    items = [Item(key=key, path=weights),
             Item(key=key + ".json", data=json.dumps(record, indent=2, sort_keys=True).encode(),
                  content_type="application/json")]
    return sync(s3, gallery_bucket, items, label="weights", progress=progress, concurrency=concurrency), key
