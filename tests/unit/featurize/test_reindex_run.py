"""A re-index run end to end in one process: plan, queue, the function as the event source plays it,
shards, one assembled version -- and it has the neighbours of a direct build with the same weights."""

# The engine's imports follow the skip where MXNet is not installed.
# ruff: noqa: E402
from __future__ import annotations

import io

import boto3
import numpy as np
import pytest
from featurize_function import fn
from featurize_material import ENV, GALLERY, SIZE

pytest.importorskip("mxnet", reason="the instance's side (MXNet, the exporter) is not in the runtime venv")

from imagesearch.errors import SearchError
from imagesearch.index.storage import open_store
from imagesearch.model.sample_data import ALBUMS, render
from imagesearch.ops.build import build_index
from imagesearch.ops.reindex import (
    assemble_run,
    catch_up,
    gallery_keys,
    load_plan,
    plan_run,
    start_run,
    wait_for_shards,
)


def _png(album: str, n: int) -> bytes:
    buf = io.BytesIO()
    render(album, n, size=48).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def sqs(s3):
    client = boto3.client("sqs")
    return client, client.create_queue(QueueName="featurize")["QueueUrl"]


def _event_source(s3, sqs, models):
    """Receive what the queue holds and hand it to the function, as Lambda's SQS poller does."""
    client, url = sqs

    def drain() -> None:
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
        answer = fn.batch.handle_records(records, fn.shard.FeaturizeClients(s3=s3),
                                         fn.settings.FeaturizeConfig.from_env(ENV), models)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return drain


def _neighbours(store, version, k=3):
    features = store.read_array(version, "features").astype(np.float32)
    keys = store.read_array(version, "keys").tolist()
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    order = np.argsort(-(unit @ unit.T), axis=1, kind="stable")[:, 1 : k + 1]
    return {keys[i]: [keys[j] for j in row] for i, row in enumerate(order)}


def test_a_reindex_gives_the_neighbours_of_a_direct_build(s3, sqs, onnx_model, models, featurizer, tmp_path):
    # GIVEN a gallery of 14 images in 7 albums and one file that is not an image
    _, model = onnx_model
    for album in list(ALBUMS)[:7]:
        for n in range(2):
            s3.put_object(Bucket=GALLERY, Key=f"gallery/{album}/{n}.png", Body=_png(album, n))
    s3.put_object(Bucket=GALLERY, Key="gallery/notes/readme.png", Body=b"not an image")
    # WHEN a run queues batches of 4 and the function works through them
    plan = plan_run("run1", gallery_keys(s3, GALLERY), weights=featurizer.weights, onnx_sha256=model.sha256,
                    input_size=SIZE, batch_size=4)
    assert start_run(s3, sqs[0], GALLERY, sqs[1], plan) == [0, 1, 2, 3]
    wait_for_shards(s3, GALLERY, plan, progress=False, between=_event_source(s3, sqs, models))
    report = assemble_run(s3, GALLERY, plan, str(tmp_path / "reindexed"))
    # THEN one version holds every image, the bad one reported
    assert report["count"] == 14 and report["skipped_files"][0]["key"] == "gallery/notes/readme.png"
    # AND its neighbours are a direct build's with the same weights
    direct = build_index(f"s3://{GALLERY}/gallery/", str(tmp_path / "direct"), s3=s3, featurizer=featurizer)
    reindexed, built = open_store(str(tmp_path / "reindexed")), open_store(str(tmp_path / "direct"))
    assert _neighbours(reindexed, report["version"]) == _neighbours(built, direct["version"])
    # AND a resumed run queues nothing
    assert start_run(s3, sqs[0], GALLERY, sqs[1], plan) == []


def test_a_run_id_is_not_reused_for_another_plan(s3, sqs, onnx_model, featurizer):
    _, model = onnx_model
    first = plan_run("run2", ["gallery/a/1.png"], weights=featurizer.weights, onnx_sha256=model.sha256,
                     input_size=SIZE)
    start_run(s3, sqs[0], GALLERY, sqs[1], first)
    other = plan_run("run2", ["gallery/a/1.png", "gallery/a/2.png"], weights=featurizer.weights,
                     onnx_sha256=model.sha256, input_size=SIZE)
    with pytest.raises(SearchError, match="another plan"):
        start_run(s3, sqs[0], GALLERY, sqs[1], other)


def test_the_reindex_command_needs_the_bucket_and_the_queue(capsys):
    from imagesearch.cli.parser import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["reindex", "--bucket", GALLERY])
    assert "--queue-url" in capsys.readouterr().err
    argv = ["reindex", "--bucket", GALLERY, "--queue-url", "http://q", "--run", "r1"]
    args = build_parser().parse_args(argv)
    assert (args.bucket, args.queue_url, args.run, args.batch_size) == (GALLERY, "http://q", "r1", 64)


def test_images_put_or_deleted_during_a_run_are_not_lost(s3, sqs, onnx_model, models, featurizer, tmp_path):
    # GIVEN a run that featurized a gallery of four images
    _, model = onnx_model
    for n in range(4):
        s3.put_object(Bucket=GALLERY, Key=f"gallery/marble/{n}.png", Body=_png("marble", n))
    plan = plan_run("run3", gallery_keys(s3, GALLERY), weights=featurizer.weights, onnx_sha256=model.sha256,
                    input_size=SIZE, batch_size=2)
    start_run(s3, sqs[0], GALLERY, sqs[1], plan)
    drain = _event_source(s3, sqs, models)
    wait_for_shards(s3, GALLERY, plan, progress=False, between=drain)
    # WHEN, meanwhile, ingest events put one image and deleted another
    s3.put_object(Bucket=GALLERY, Key="gallery/brick/new.png", Body=_png("brick", 9))
    s3.delete_object(Bucket=GALLERY, Key="gallery/marble/0.png")
    plan, gone = catch_up(s3, sqs[0], GALLERY, sqs[1], plan, batch_size=2)
    wait_for_shards(s3, GALLERY, plan, progress=False, between=drain)
    report = assemble_run(s3, GALLERY, plan, str(tmp_path / "index"), drop=gone)
    # THEN the version is the gallery as it is now, and a resume keeps the extended plan
    keys = open_store(str(tmp_path / "index")).read_array(report["version"], "keys").tolist()
    assert keys == ["gallery/brick/new.png", "gallery/marble/1.png", "gallery/marble/2.png",
                    "gallery/marble/3.png"]
    assert gone == {"gallery/marble/0.png"} and load_plan(s3, GALLERY, "run3") == plan
