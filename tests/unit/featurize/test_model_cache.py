"""The converted model loads from models/<sha256>.onnx once per container, its hash proven."""

from __future__ import annotations

import io

import numpy as np
from featurize_function import fn
from featurize_material import GALLERY

ModelCache = fn.model.ModelCache


class ModelBucket:
    """get_object of one stored object (moto would spend half a minute taking 100 MB in)."""

    def __init__(self, key: str, data: bytes) -> None:
        self.key, self.data, self.calls = key, data, []

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 - boto3's names
        self.calls.append(Key)
        assert (Bucket, Key) == (GALLERY, self.key)
        return {"Body": io.BytesIO(self.data), "ContentLength": len(self.data)}


def test_the_model_loads_verified_once_and_computes_the_instance_features(onnx_model, featurizer):
    # GIVEN publish's converted model in the gallery bucket
    data, model = onnx_model
    s3 = ModelBucket(model.key, data)
    cache = ModelCache()
    # WHEN two batches ask for it
    first = cache.get(s3, GALLERY, model.key, model.sha256, featurizer.digest)
    second = cache.get(s3, GALLERY, model.key, model.sha256, featurizer.digest)
    # THEN it was read once and carries the digest of the weights it was converted from
    assert first is second and s3.calls == [model.key]
    assert first.weights_sha256 == featurizer.digest
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    expected = featurizer.featurize_arrays(x)
    np.testing.assert_allclose(first.featurize_arrays(x), expected, rtol=1e-4, atol=1e-4)
