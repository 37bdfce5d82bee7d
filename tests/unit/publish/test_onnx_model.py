"""publish's conversion for the featurize function: models/<sha256>.onnx, carrying its weights digest."""

from __future__ import annotations

import hashlib

import onnx
import pytest
from imagesearch.model.features import Featurizer
from moto import mock_aws

from publish.onnx_model import export_model, publish_onnx

BUCKET = "gallery"


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(scope="module")
def featurizer():
    return Featurizer.load("seed:0", size=32)


def test_the_same_weights_give_the_same_file_named_by_its_hash(featurizer, tmp_path):
    first = export_model(featurizer, tmp_path / "a.onnx")
    second = export_model(featurizer, tmp_path / "b.onnx")
    assert first == second  # a re-run of publish finds the object unchanged
    data = (tmp_path / "a.onnx").read_bytes()
    assert first.sha256 == hashlib.sha256(data).hexdigest() and first.key == f"models/{first.sha256}.onnx"
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "a.onnx")).metadata_props}
    assert meta == {"weights_sha256": featurizer.digest, "input_size": "32"}


def test_publish_uploads_the_model_once(s3, featurizer, monkeypatch):
    # (a stand-in export: uploading 100 MB into moto takes half a minute and tests nothing more)
    import publish.onnx_model as onnx_model

    def small_export(featurizer, path):
        path.write_bytes(b"converted " + featurizer.digest.encode())
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        return onnx_model.OnnxModel(sha, featurizer.digest, featurizer.size)

    monkeypatch.setattr(onnx_model, "export_model", small_export)
    counts, model = publish_onnx(s3, BUCKET, featurizer, progress=False)
    assert counts.uploaded == 1
    body = s3.get_object(Bucket=BUCKET, Key=model.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == model.sha256
    again, _ = publish_onnx(s3, BUCKET, featurizer, progress=False)
    assert again.uploaded == 0 and again.skipped == 1
