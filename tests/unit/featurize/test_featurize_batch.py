"""One batch through the featurize function: the shard, bad images, empty batches, resume, twins."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from featurize_function import fn
from featurize_material import ENV, GALLERY, SIZE, png

handle_records, ModelCache = fn.batch.handle_records, fn.model.ModelCache
BadRequest, BatchRequest = fn.request.BadRequest, fn.request.BatchRequest
shard_record_key = fn.request.shard_record_key
FeaturizeConfig, Misconfigured = fn.settings.FeaturizeConfig, fn.settings.Misconfigured
FeaturizeClients, featurize_batch = fn.shard.FeaturizeClients, fn.shard.featurize_batch

RUN = "r20261205-1"
# A model's names where no image reaches it (the runtime venv cannot convert one: no MXNet).
UNUSED_MODEL = SimpleNamespace(weights_sha256="a" * 64, sha256="b" * 64)


def _request(model, keys, batch=0, **over) -> BatchRequest:
    fields = {"run": RUN, "batch": batch, "keys": tuple(keys), "weights_sha256": model.weights_sha256,
              "onnx_sha256": model.sha256, "input_size": SIZE, **over}
    return BatchRequest(**fields)


def _message(request: BatchRequest, message_id: str = "m1") -> dict:
    return {"messageId": message_id, "body": request.body()}


def _record(s3, batch=0) -> dict:
    return json.loads(s3.get_object(Bucket=GALLERY, Key=shard_record_key(RUN, batch))["Body"].read())


def _vectors(s3, record) -> np.ndarray:
    data = s3.get_object(Bucket=GALLERY, Key=record["vectors"]["key"])["Body"].read()
    return np.load(io.BytesIO(data), allow_pickle=False)


class CountingS3:
    """moto's client, counting the calls the function makes (to prove work was not redone)."""

    def __init__(self, s3) -> None:
        self.s3, self.calls = s3, []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self.s3, name)


def _run(s3, request, models):
    return featurize_batch(request, FeaturizeClients(s3=s3), FeaturizeConfig.from_env(ENV), models)


def test_a_batch_becomes_one_shard_of_float16_vectors(s3, onnx_model, models, featurizer):
    # GIVEN three gallery images, one of them grey
    _, model = onnx_model
    images = {"gallery/a/one.png": png(1), "gallery/a/two.png": png(2),
              "gallery/b/grey.png": png(3, mode="L")}
    for key, data in images.items():
        s3.put_object(Bucket=GALLERY, Key=key, Body=data)
    # WHEN the batch is featurized
    outcome = _run(s3, _request(model, images), models)
    # THEN one shard holds their vectors, keys and content hashes in order
    assert outcome.status == "written" and outcome.count == 3
    record = _record(s3)
    assert record["keys"] == list(images) and record["failed"] == []
    assert record["weights_sha256"] == featurizer.digest and record["input_size"] == SIZE
    import hashlib

    assert record["hashes"] == [hashlib.sha256(d).hexdigest() for d in images.values()]
    vectors = _vectors(s3, record)
    assert vectors.dtype == np.float16 and vectors.shape == (3, 2048)
    # AND they are the instance's (MXNet) features, to float16's precision
    from imagesearch.model.images import decode_image  # the instance's path (MXNet's venv)

    expected = featurizer.featurize_images(decode_image(d, max_pixels=10**6, size=(SIZE, SIZE))
                                          for d in images.values())
    np.testing.assert_allclose(vectors.astype(np.float32), expected, rtol=2e-3, atol=1e-3)


@pytest.mark.parametrize("data, reason", [
    (b"", "the file is empty"),
    (b"this is not an image", "not an image in a supported format"),
    (png(5)[:60], "truncated or corrupt image"),
], ids=["empty", "text", "truncated"])
def test_a_bad_image_is_reported_in_the_shard_and_the_rest_featurized(s3, onnx_model, models, data, reason):
    _, model = onnx_model
    s3.put_object(Bucket=GALLERY, Key="gallery/a/good.png", Body=png(1))
    s3.put_object(Bucket=GALLERY, Key="gallery/a/bad.png", Body=data)
    outcome = _run(s3, _request(model, ["gallery/a/bad.png", "gallery/a/good.png"]), models)
    record = _record(s3)
    assert outcome.status == "written" and record["keys"] == ["gallery/a/good.png"]
    (failed,) = record["failed"]
    assert failed["key"] == "gallery/a/bad.png" and reason in failed["reason"]
    assert _vectors(s3, record).shape == (1, 2048)


def test_missing_oversized_and_foreign_keys_are_reported_not_retried(s3):
    model, models = UNUSED_MODEL, ModelCache()
    s3.put_object(Bucket=GALLERY, Key="gallery/a/big.png", Body=png(1, size=64))
    config = FeaturizeConfig.from_env({**ENV, "FEATURIZE_MAX_BYTES": "100"})
    keys = ["gallery/a/gone.png", "gallery/a/big.png", "index/current.json"]
    outcome = featurize_batch(_request(model, keys), FeaturizeClients(s3=s3), config, models)
    reasons = {f["key"]: f["reason"] for f in _record(s3)["failed"]}
    assert outcome.count == 0 and list(reasons) == keys
    assert "does not exist" in reasons["gallery/a/gone.png"]
    assert "over the limit of 100" in reasons["gallery/a/big.png"]
    assert "not a gallery key" in reasons["index/current.json"]


def test_an_empty_batch_writes_an_empty_shard_without_loading_the_model(s3):
    class NoModel(ModelCache):
        def get(self, *args, **kwargs):
            raise AssertionError("an empty batch needs no model")

    outcome = _run(s3, _request(UNUSED_MODEL, []), NoModel())
    record = _record(s3)
    assert outcome.status == "written" and record["count"] == 0 and record["keys"] == []
    assert _vectors(s3, record).shape == (0, 2048)


def test_resume_skips_a_shard_already_written(s3, onnx_model, models):
    # GIVEN batch 0 of the run already has its shard
    _, model = onnx_model
    s3.put_object(Bucket=GALLERY, Key="gallery/a/one.png", Body=png(1))
    _run(s3, _request(model, ["gallery/a/one.png"]), models)
    before = s3.list_objects_v2(Bucket=GALLERY, Prefix=f"reindex/{RUN}/")["Contents"]
    # WHEN the resumed run sends it again
    counting = CountingS3(s3)
    outcome = _run(counting, _request(model, ["gallery/a/one.png"]), models)
    # THEN nothing is read or written
    assert outcome.status == "exists"
    assert counting.calls == ["list_objects_v2"]
    assert s3.list_objects_v2(Bucket=GALLERY, Prefix=f"reindex/{RUN}/")["Contents"] == before


def test_a_batch_delivered_twice_is_written_once(s3, onnx_model, models):
    # GIVEN SQS delivers the same batch twice in one event (at-least-once delivery)
    _, model = onnx_model
    s3.put_object(Bucket=GALLERY, Key="gallery/a/one.png", Body=png(1))
    request = _request(model, ["gallery/a/one.png"])
    answer = handle_records([_message(request, "m1"), _message(request, "m2")], FeaturizeClients(s3=s3),
                            FeaturizeConfig.from_env(ENV), models)
    # THEN both succeed and the run holds one record and one vectors file
    assert answer == {"batchItemFailures": []}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=GALLERY, Prefix=f"reindex/{RUN}/")["Contents"]]
    assert len(keys) == 2 and shard_record_key(RUN, 0) in keys


def test_twin_deliveries_racing_keep_the_first_record(s3, onnx_model, models, monkeypatch):
    # GIVEN a twin delivery wrote the record after this one checked (a race the check cannot see)
    _, model = onnx_model
    s3.put_object(Bucket=GALLERY, Key="gallery/a/one.png", Body=png(1))
    request = _request(model, ["gallery/a/one.png"])
    _run(s3, request, models)
    first = _record(s3)
    monkeypatch.setattr(fn.shard, "object_exists", lambda *a: False)
    # WHEN this one finishes
    outcome = _run(s3, request, models)
    # THEN its conditional put loses and the first record stands
    assert outcome.status == "raced"
    assert _record(s3) == first


@pytest.mark.parametrize("body", [
    "not json", "[]", json.dumps({"run": "../x", "batch": 0, "keys": []}),
    json.dumps({"run": "r", "batch": -1, "keys": []}),
    json.dumps({"run": "r", "batch": 0, "keys": "gallery/a/b.png"}),
    json.dumps({"run": "r", "batch": 0, "keys": [], "weights_sha256": "x", "onnx_sha256": "0" * 64,
                "input_size": 32}),
    json.dumps({"run": "r", "batch": 0, "keys": [], "weights_sha256": "0" * 64, "onnx_sha256": "0" * 64,
                "input_size": 7}),
], ids=["text", "list", "run", "batch", "keys", "sha", "size"])
def test_a_poison_message_fails_so_it_ends_in_the_dead_letter_queue(s3, body):
    with pytest.raises(BadRequest):
        BatchRequest.parse(body)
    answer = handle_records([{"messageId": "bad", "body": body}], FeaturizeClients(s3=s3),
                            FeaturizeConfig.from_env(ENV), ModelCache())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_a_model_from_other_weights_missing_or_altered_fails_the_batch(s3, onnx_model, models, caplog):
    _, model = onnx_model
    s3.put_object(Bucket=GALLERY, Key="gallery/a/one.png", Body=png(1))
    config = FeaturizeConfig.from_env(ENV)
    other = "f" * 64
    s3.put_object(Bucket=GALLERY, Key=f"models/{other}.onnx", Body=b"not the model")  # not its hash
    cases = [_request(model, ["gallery/a/one.png"], batch=1, weights_sha256="d" * 64),  # other weights
             _request(model, ["gallery/a/one.png"], batch=2, onnx_sha256="e" * 64),  # missing
             _request(model, ["gallery/a/one.png"], batch=3, onnx_sha256=other)]  # altered
    # (the cache holds the right model: a batch naming another is loaded and checked anew)
    answer = handle_records([_message(r, f"m{r.batch}") for r in cases], FeaturizeClients(s3=s3), config,
                            models)
    assert answer == {"batchItemFailures": [{"itemIdentifier": m} for m in ("m1", "m2", "m3")]}
    reasons = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "converted from weights" in reasons[0] and "does not exist" in reasons[1]
    assert "refused" in reasons[2]
    assert "Contents" not in s3.list_objects_v2(Bucket=GALLERY, Prefix=f"reindex/{RUN}/")


def test_the_message_body_round_trips():
    request = _request(UNUSED_MODEL, ["gallery/a/b.png"], batch=7)
    assert BatchRequest.parse(request.body()) == request


@pytest.mark.parametrize("env", [{}, {**ENV, "FEATURIZE_CHUNK": "0"}, {**ENV, "FEATURIZE_MAX_PIXELS": "x"}],
                         ids=["no-bucket", "chunk", "pixels"])
def test_settings_refuse_missing_or_malformed_values(env):
    with pytest.raises(Misconfigured):
        FeaturizeConfig.from_env(env)
