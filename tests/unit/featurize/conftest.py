"""Fixtures for the featurize function: a seeded 32 px model, moto's S3.

The function's modules are imported once through featurize_function (by their own names, as on
Lambda, without leaving them in sys.modules: the search and ingest functions have modules named app,
batch and settings). The fixtures that need MXNet and the exporter (the engine) skip where it is not
installed: the python3.12 runtime venv (`make test-runtime`) runs the tests that need no model."""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SHARED_DIR = REPO / "functions" / "shared"
for _path in (SHARED_DIR, HERE.parent / "lambda_helpers", HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from featurize_function import fn  # noqa: E402 - after the path is set
from featurize_material import GALLERY, SIZE  # noqa: E402


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(scope="session")
def featurizer():
    pytest.importorskip("mxnet", reason="the seeded network needs MXNet (not in the runtime venv)")
    from imagesearch.model.features import Featurizer

    return Featurizer.load("seed:0", size=SIZE, batch_size=16)


@pytest.fixture(scope="session")
def onnx_model(featurizer, tmp_path_factory):
    """(bytes, OnnxModel) of the seed:0 network converted as publish converts it."""
    from imagesearch.model.onnx_model import export_model

    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    model = export_model(featurizer, path)
    return path.read_bytes(), model


@pytest.fixture(scope="session")
def loaded_model(onnx_model):
    """The converted model loaded once: ONNX Runtime takes seconds to load 100 MB of weights."""
    return fn.model.OnnxFeaturizer(onnx_model[0])


@pytest.fixture
def models(onnx_model, loaded_model):
    """A model cache holding the loaded model (the loading itself is tested on its own)."""
    cache = fn.model.ModelCache()
    cache.add(onnx_model[1].sha256, loaded_model)
    return cache


@pytest.fixture
def s3():
    """moto's S3 (in process) with the gallery bucket."""
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=GALLERY)
        yield client
