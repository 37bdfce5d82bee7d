"""publish --reindex's index step: the gallery featurized through the queue, one version in the index."""

# The engine's imports follow the skip where MXNet is not installed.
# ruff: noqa: E402
from __future__ import annotations

import io

import boto3
import pytest
from featurize_function import fn
from featurize_material import ENV, GALLERY, SIZE

pytest.importorskip("mxnet", reason="the instance's side (MXNet, the exporter) is not in the runtime venv")

from imagesearch.index.storage import GALLERY_INDEX_PREFIX, S3IndexStore
from imagesearch.model import near_duplicate_set
from imagesearch.model.sample_data import render

from publish.reindex import reindex_step


def test_the_step_publishes_one_version_from_the_shards(s3, models, featurizer, monkeypatch, tmp_path):
    # GIVEN a published gallery and the featurize queue, drained by the function as Lambda would
    monkeypatch.setenv("IMAGESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    for n in range(5):
        buf = io.BytesIO()
        render("marble", n, size=40).save(buf, format="PNG")
        s3.put_object(Bucket=GALLERY, Key=f"gallery/marble/{n}.png", Body=buf.getvalue())
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="featurize")["QueueUrl"]

    def drain() -> None:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            record = {"messageId": m["MessageId"], "body": m["Body"]}
            answer = fn.batch.handle_records([record], fn.shard.FeaturizeClients(s3=s3),
                                             fn.settings.FeaturizeConfig.from_env(ENV), models)
            assert answer == {"batchItemFailures": []}
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    # (the upload of the 100 MB model into moto is publish_onnx's own test's business)
    import publish.reindex

    monkeypatch.setattr(publish.reindex, "publish_onnx", lambda s3, bucket, f, progress: (None, _model(f)))
    # WHEN publish_all runs its index step
    step = reindex_step(sqs, url, batch_size=2, between=drain)
    counts = step(s3, GALLERY, tmp_path, weights="seed:0", size=SIZE, work_dir=tmp_path / "work",
                  progress=False)
    # THEN one new version of the five images is live where the instance reads it
    store = S3IndexStore(s3, GALLERY, GALLERY_INDEX_PREFIX)
    manifest = store.read_manifest(store.read_current())
    assert counts.uploaded == 1 and manifest["count"] == 5
    assert manifest["weights"]["sha256"] == featurizer.digest and manifest["build"]["kind"] == "reindex"
    # AND its score bands are measured as publish's own build measures them on this machine: the
    # labelled near-duplicate set with the same weights where scikit-image is installed
    bands = manifest["bands"]
    assert 0.0 <= bands["similar"] <= bands["near_duplicate"] <= 1.0
    if near_duplicate_set.available():
        assert bands["near_duplicate_from"]["method"].startswith("labelled near-duplicate set")


def _model(featurizer):
    import tempfile
    from pathlib import Path

    from imagesearch.model.onnx_model import export_model

    with tempfile.TemporaryDirectory() as tmp:
        return export_model(featurizer, Path(tmp) / "m.onnx")
