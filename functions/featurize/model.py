"""The converted ResNet-50 under ONNX Runtime: loaded from models/ only when its bytes prove its hash.

The model carries the weights digest it was converted from (metadata `weights_sha256`, written by
publish/onnx_model.py), so a message cannot pair vectors with weights they did not come from.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

FEATURE_DIM = 2048
WEIGHTS_METADATA = "weights_sha256"


class ModelUnavailable(Exception):
    """The model is missing, altered or not the one the batch names; the batch cannot be done."""


class OnnxFeaturizer:
    """ResNet-50 v1 features (n, 2048) float32 of preprocessed (n, 3, s, s) arrays."""

    def __init__(self, model: bytes, *, threads: int = 0, chunk: int = 16) -> None:
        import onnxruntime as ort  # about a second to import; only featurizing pays for it
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        refusals = (state.InvalidProtobuf, state.InvalidGraph, state.InvalidArgument, state.Fail)
        try:
            self.session = ort.InferenceSession(model, sess_options=options,
                                                providers=["CPUExecutionProvider"])
        except refusals as e:
            raise ModelUnavailable(f"ONNX Runtime cannot load the model: {type(e).__name__}: {e}") from e
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name  # `features` comes first (onnx_params.export_onnx)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.chunk = int(chunk)

    @property
    def weights_sha256(self) -> str | None:
        """The weights digest the model was converted from, as publish recorded it."""
        return self.metadata.get(WEIGHTS_METADATA)

    def featurize_arrays(self, batch: np.ndarray) -> np.ndarray:
        """Features (n, 2048) float32, run `chunk` images at a time."""
        if batch.shape[0] == 0:
            return np.zeros((0, FEATURE_DIM), dtype=np.float32)
        out = []
        for start in range(0, batch.shape[0], self.chunk):
            part = np.ascontiguousarray(batch[start : start + self.chunk], dtype=np.float32)
            (y,) = self.session.run([self.output], {self.input: part})
            out.append(y.reshape(part.shape[0], -1))
        return np.concatenate(out).astype(np.float32, copy=False)


def verified_model_bytes(data: bytes, onnx_sha256: str) -> bytes:
    """`data` when its sha256 is `onnx_sha256`; else ModelUnavailable."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != onnx_sha256:
        raise ModelUnavailable(f"the model's bytes hash to {actual[:12]}, not {onnx_sha256[:12]}: refused")
    return data


class ModelCache:
    """One loaded model per warm container, keyed by its file hash (a run uses one model)."""

    def __init__(self, *, threads: int = 0, chunk: int = 16) -> None:
        self.threads, self.chunk = threads, chunk
        self._sha: str | None = None
        self._model: OnnxFeaturizer | None = None

    def add(self, onnx_sha256: str, model: OnnxFeaturizer) -> None:
        """Hold a model already loaded and verified (tests, and a host that loads it once)."""
        self._model, self._sha = model, onnx_sha256

    def get(self, s3: Any, bucket: str, key: str, onnx_sha256: str, weights_sha256: str) -> OnnxFeaturizer:
        """The model at `key`, verified by its hash and by the weights digest it carries."""
        if self._sha != onnx_sha256 or self._model is None:
            self._model, self._sha = None, None  # the old model's memory goes before the new one loads
            from botocore.exceptions import ClientError

            try:
                data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ModelUnavailable(f"s3://{bucket}/{key} does not exist (publish converts it)") from e
                raise
            self._model = OnnxFeaturizer(verified_model_bytes(data, onnx_sha256), threads=self.threads,
                                         chunk=self.chunk)
            self._sha = onnx_sha256
        if self._model.weights_sha256 != weights_sha256:
            raise ModelUnavailable(
                f"the model was converted from weights {str(self._model.weights_sha256)[:12]}, "
                f"but the batch names {weights_sha256[:12]}")
        return self._model
