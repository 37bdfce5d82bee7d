"""The featurize function's model (imagesearch.model.onnx_model), to models/."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from imagesearch.model.onnx_model import OnnxModel, export_model

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, sync

__all__ = ["OnnxModel", "export_model", "publish_onnx"]


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
