"""The featurize function's model: the verified weights converted to ONNX, named by its sha256.

The conversion (imagesearch.model.onnx_convert.export_onnx) runs where the operator runs publish or
`imagesearch reindex`, from the same weights the index names; the file carries that weights digest
as metadata (`weights_sha256`) and is stored as models/<sha256>.onnx, which the function checks
before loading it. `onnx` is an operator-tooling dependency, imported only when converting.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEIGHTS_METADATA = "weights_sha256"  # the same name as functions/featurize/model.py reads


@dataclass(frozen=True)
class OnnxModel:
    """A converted model: its bytes' hash, the weights digest it came from, and its gallery key."""

    sha256: str
    weights_sha256: str
    input_size: int

    @property
    def key(self) -> str:
        """models/<sha256>.onnx (functions/featurize/request.model_key)."""
        return f"models/{self.sha256}.onnx"


def export_model(featurizer: Any, path: Path) -> OnnxModel:
    """Write `featurizer`'s network as ONNX with its weights digest and input size as metadata."""
    import onnx

    from imagesearch.model.onnx_convert import export_onnx

    export_onnx(featurizer.net, str(path))
    model = onnx.load(str(path))
    for name, value in ((WEIGHTS_METADATA, featurizer.digest), ("input_size", str(featurizer.size))):
        entry = model.metadata_props.add()
        entry.key, entry.value = name, value
    onnx.save(model, str(path))
    with open(path, "rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    return OnnxModel(sha, featurizer.digest, featurizer.size)


def ensure_model(s3: Any, bucket: str, featurizer: Any) -> OnnxModel:
    """Convert `featurizer`'s weights and upload them unless models/<sha256>.onnx already exists."""
    with tempfile.TemporaryDirectory(prefix="onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        model = export_model(featurizer, path)
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=model.key, MaxKeys=1)
        if not any(o["Key"] == model.key for o in listing.get("Contents", [])):
            s3.upload_file(os.fspath(path), bucket, model.key,
                           ExtraArgs={"ContentType": "application/octet-stream"})
    return model
