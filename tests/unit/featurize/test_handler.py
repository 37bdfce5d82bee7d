"""The handler's wiring: settings from the environment, clients passed in, SQS batch failures out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError
from featurize_function import fn
from featurize_material import GALLERY, SIZE, png

BatchRequest, shard_record_key = fn.request.BatchRequest, fn.request.shard_record_key
FeaturizeConfig = fn.settings.FeaturizeConfig
FeaturizeClients, read_image = fn.shard.FeaturizeClients, fn.shard.read_image


@dataclass
class Context:
    function_name: str = "featurize"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:featurize"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def test_the_handler_answers_with_the_failed_message_ids(s3, onnx_model, models, monkeypatch):
    _, model = onnx_model
    monkeypatch.setenv("GALLERY_BUCKET", GALLERY)
    monkeypatch.setattr(fn.app, "_models", models)
    fn.app.use_clients(FeaturizeClients(s3=s3))
    s3.put_object(Bucket=GALLERY, Key="gallery/a/one.png", Body=png(1))
    good = BatchRequest("run1", 4, ("gallery/a/one.png",), model.weights_sha256, model.sha256, SIZE)
    event = {"Records": [{"messageId": "ok", "body": good.body()}, {"messageId": "poison", "body": "{}"}]}
    answer = fn.app.lambda_handler(event, Context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert s3.get_object(Bucket=GALLERY, Key=shard_record_key("run1", 4))["ContentLength"] > 0


class DeniedS3:
    """S3 as a role that may not list a key answers for a missing one: AccessDenied."""

    def __init__(self, s3, listed: bool) -> None:
        self.s3, self.listed = s3, listed

    def get_object(self, **_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    def list_objects_v2(self, **kw):
        return {"Contents": [{"Key": kw["Prefix"]}]} if self.listed else {}


def test_access_denied_on_a_deleted_image_is_reported_and_on_a_present_one_raises(s3):
    config = FeaturizeConfig.from_env({"GALLERY_BUCKET": GALLERY})
    data, reason = read_image(DeniedS3(s3, listed=False), GALLERY, "gallery/a/gone.png", config)
    assert data is None and "does not exist" in reason
    with pytest.raises(ClientError, match="AccessDenied"):  # a broken role fails the batch, not the index
        read_image(DeniedS3(s3, listed=True), GALLERY, "gallery/a/here.png", config)
