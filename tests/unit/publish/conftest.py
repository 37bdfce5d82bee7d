"""Publisher fixtures: moto's in-process AWS, shared by every publish test that needs it."""

from __future__ import annotations

import pytest
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch):
    """moto's in-process AWS for one test: test credentials and region, no endpoint override."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def s3_client(aws):
    """An S3 client of the mocked account (no buckets yet)."""
    import boto3

    return boto3.client("s3", region_name="us-east-1")
