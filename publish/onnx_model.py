"""The featurize function's model: the verified weights converted to ONNX, under models/<sha256>.onnx.

The conversion (imagesearch.onnx_params.export_onnx) runs where publish runs, from the same
weights the index names; the file carries that weights digest as metadata (`weights_sha256`)
and is stored under its own content hash, which the function checks before loading it.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, sync

WEIGHTS_METADATA = "weights_sha256"  # the same name as functions/featurize/featurize_model.py reads


@dataclass(frozen=True)
class OnnxModel:
    """A converted model: its bytes' hash, the weights digest it came from, and its gallery key."""

    sha256: str
    weights_sha256: str
    input_size: int

    @property
    def key(self) -> str:
        """models/<sha256>.onnx (featurize_request.model_key)."""
        return f"models/{self.sha256}.onnx"


def export_model(featurizer: Any, path: Path) -> OnnxModel:
    """Write `featurizer`'s network as ONNX with its weights digest and input size as metadata."""
    import onnx
    from imagesearch.onnx_params import export_onnx

    export_onnx(featurizer.net, str(path))
    model = onnx.load(str(path))
    for name, value in ((WEIGHTS_METADATA, featurizer.digest), ("input_size", str(featurizer.size))):
        entry = model.metadata_props.add()
        entry.key, entry.value = name, value
    onnx.save(model, str(path))
    with open(path, "rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    return OnnxModel(sha, featurizer.digest, featurizer.size)


def publish_onnx(s3: Any, gallery_bucket: str, featurizer: Any, *, progress: bool = True,
                 concurrency: int = DEFAULT_CONCURRENCY) -> tuple[Counts, OnnxModel]:
    """Convert `featurizer`'s weights and upload the file to models/ (unchanged bytes: no upload)."""
    with tempfile.TemporaryDirectory(prefix="onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        model = export_model(featurizer, path)
        counts = sync(s3, gallery_bucket, [Item(key=model.key, path=path,
                                                 content_type="application/octet-stream")],
                      label="onnx", progress=progress, concurrency=concurrency)
    return counts, model
