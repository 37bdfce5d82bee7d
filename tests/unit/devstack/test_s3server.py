"""The local stack's moto helpers: AWS service models are read once per process."""

from __future__ import annotations

import boto3
from devstack.s3server import share_service_models


def test_sessions_share_the_service_models_they_have_read():
    share_service_models()
    share_service_models()  # twice is once
    first, second = (boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                   region_name="us-east-1") for _ in range(2))
    first.client("s3")
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    # what the first session read, the second finds without reading the file again
    assert ("load_service_model", "s3", "service-2") in [key[:3] for key in loader._cache]
