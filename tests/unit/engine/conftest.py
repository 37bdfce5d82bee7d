"""Shared engine fixtures: a tiny texture collection and one seeded 32 px featurizer per session."""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from imagesearch.model.features import Featurizer
from imagesearch.model.sample_data import generate
from PIL import Image

SIZE = 32  # the smallest input ResNet-50 accepts; keeps the tests cheap on 2 shared cores


@pytest.fixture(scope="session")
def featurizer() -> Featurizer:
    return Featurizer.load("seed:0", size=SIZE, batch_size=16)


@pytest.fixture(scope="session")
def _albums_master(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("albums"))
    generate(out, count=40, seed=0)  # 10 albums x 4 images
    return out


@pytest.fixture
def albums(_albums_master, tmp_path) -> str:
    """A private copy of the 40-image collection (tests may add files to it)."""
    dest = str(tmp_path / "albums")
    shutil.copytree(_albums_master, dest)
    return dest


@pytest.fixture
def aws_env(monkeypatch) -> None:
    """Credentials and region for moto; no endpoint, so boto3 stays in-process."""
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def s3(aws_env):
    """The engine's S3 under moto's mock_aws, with the `gallery` bucket."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="gallery")
        yield client


@pytest.fixture(autouse=True)
def _engine_env(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("IMAGESEARCH_MODE", raising=False)


def png_bytes(colour=(200, 30, 30), size=(28, 28)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def noise_png(seed: int, size: int = 28) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path
