"""The instance (MXNet) and the function (ONNX Runtime, float16 shard) give the same vectors.

For seeded weights at the tests' 32 px and for a .params file (as publish uploads) at 224 px,
every image must reach a cosine similarity of at least 0.9999 between the two paths. Each path
decodes as it does in use: the instance through imagesearch.model.images (its memory gate and
caps over image_prep), the function through image_prep directly; their input tensors are equal.
"""

# The engine's imports follow the skip where MXNet is not installed.
# ruff: noqa: E402
from __future__ import annotations

import io
import json

import image_prep
import numpy as np
import pytest
from featurize_function import fn
from featurize_material import ENV, GALLERY

pytest.importorskip("mxnet", reason="the instance's side (MXNet, the exporter) is not in the runtime venv")

from imagesearch.model.features import Featurizer
from imagesearch.model.images import decode_image
from imagesearch.model.onnx_model import export_model
from parity_images import parity_images

MIN_COSINE = 0.9999


@pytest.fixture(scope="module", params=["seed", "params-file"])
def pair(request, tmp_path_factory):
    """(MXNet featurizer, converted model bytes, OnnxModel) for one kind of weights."""
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "seed":
        mxnet = Featurizer.load("seed:0", size=32, batch_size=8)
    else:
        path = str(tmp / "trained.params")  # a .params file, as Gluon's save_parameters writes it
        Featurizer.load("seed:3", size=32).save_params(path)
        mxnet = Featurizer.load(path, size=224, batch_size=8)
        assert mxnet.weights["file_sha256"]
    model = export_model(mxnet, tmp / "model.onnx")
    return mxnet, (tmp / "model.onnx").read_bytes(), model


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_both_runtimes_agree_on_every_image(pair, s3):
    # GIVEN the same gallery images, generated and photographed
    mxnet, data, model = pair
    images = parity_images()
    assert "grace_hopper.jpg" in images  # at least one real photograph
    keys = [f"gallery/parity/{name}" for name in images]
    for key, body in zip(keys, images.values(), strict=True):
        s3.put_object(Bucket=GALLERY, Key=key, Body=body)
    # WHEN the instance featurizes them with MXNet
    square = (mxnet.size, mxnet.size)
    decoded = [decode_image(body, max_pixels=10**8, size=square) for body in images.values()]
    instance = mxnet.featurize_images(decoded)
    # AND the function featurizes them with ONNX Runtime into a float16 shard
    models = fn.model.ModelCache()
    models.add(model.sha256, fn.model.OnnxFeaturizer(data))
    request = fn.request.BatchRequest("parity", 0, tuple(keys), mxnet.digest, model.sha256, mxnet.size)
    config = fn.settings.FeaturizeConfig.from_env(ENV)
    fn.shard.featurize_batch(request, fn.shard.FeaturizeClients(s3=s3), config, models)
    record_key = fn.request.shard_record_key("parity", 0)
    record = json.loads(s3.get_object(Bucket=GALLERY, Key=record_key)["Body"].read())
    shard = np.load(io.BytesIO(s3.get_object(Bucket=GALLERY, Key=record["vectors"]["key"])["Body"].read()))
    # THEN every image's two vectors point the same way
    assert record["keys"] == keys and record["failed"] == []
    cosines = _cosines(instance, shard)
    worst = {name: round(float(c), 6) for name, c in zip(images, cosines, strict=True) if c < MIN_COSINE}
    assert not worst, f"below {MIN_COSINE}: {worst}"
    print(f"{mxnet.size} px: lowest cosine {cosines.min():.7f} over {len(cosines)} images")



def test_both_paths_build_the_same_input_tensor(pair):
    mxnet, _, _ = pair
    square = (mxnet.size, mxnet.size)
    # GIVEN every parity image (a phone JPEG on its side, HEIC, AVIF, WebP, odd PNG modes, photographs)
    for name, body in parity_images().items():
        # WHEN the instance prepares it for MXNet (its decode: gate and caps over image_prep)
        instance = mxnet.preprocess(decode_image(body, max_pixels=10**8, size=square))
        # AND the function prepares it for ONNX Runtime (the function's shard.py)
        function = image_prep.to_input(image_prep.decode(body, max_pixels=10**8, size=square), mxnet.size)
        # THEN the two networks get the very same numbers
        np.testing.assert_array_equal(instance, function, err_msg=name)
