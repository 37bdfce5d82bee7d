"""A re-index run end to end in one process: plan, queue, the function as the event source plays it,
shards, one assembled version -- and it has the neighbours of a direct build with the same weights."""

# The engine's imports follow the skip where MXNet is not installed.
# ruff: noqa: E402
from __future__ import annotations

import hashlib
import io

import boto3
import numpy as np
import pytest
from featurize_function import fn
from featurize_material import ENV, GALLERY, SIZE

pytest.importorskip("mxnet", reason="the instance's side (MXNet, the exporter) is not in the runtime venv")

from imagesearch.errors import SearchError
from imagesearch.index.artifacts import load_version
from imagesearch.index.storage import open_store, publish_version
from imagesearch.model.sample_data import ALBUMS, render
from imagesearch.model.sources import Source
from imagesearch.ops.build import build_index, update_images
from imagesearch.ops.reindex import (
    assemble_run,
    catch_up,
    finish_run,
    gallery_keys,
    load_plan,
    plan_run,
    start_run,
    wait_for_shards,
    written_batches,
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


def _source(s3, key: str) -> Source:
    """An ingest batch's source: the gallery object as it is now."""
    return Source(key, f"s3://{GALLERY}/{key}", None,
                  lambda: s3.get_object(Bucket=GALLERY, Key=key)["Body"].read())


def _featurized_run(s3, sqs, onnx_model, featurizer, models, run: str, root: str):
    """A gallery of four images, a run whose shards are all in, and the gallery's live index at `root`
    (built directly)."""
    _, model = onnx_model
    for n in range(4):
        s3.put_object(Bucket=GALLERY, Key=f"gallery/marble/{n}.png", Body=_png("marble", n))
    plan = plan_run(run, gallery_keys(s3, GALLERY), weights=featurizer.weights, onnx_sha256=model.sha256,
                    input_size=SIZE, batch_size=2)
    start_run(s3, sqs[0], GALLERY, sqs[1], plan)
    drain = _event_source(s3, sqs, models)
    wait_for_shards(s3, GALLERY, plan, progress=False, between=drain)
    build_index(f"s3://{GALLERY}/gallery/", root, s3=s3, featurizer=featurizer)
    return plan, drain


def test_an_ingest_switch_after_the_catch_up_listing_is_not_lost(s3, sqs, onnx_model, models, featurizer,
                                                                 tmp_path):
    # GIVEN a live index and a run whose shards are in
    root = str(tmp_path / "index")
    plan, drain = _featurized_run(s3, sqs, onnx_model, featurizer, models, "run4", root)
    ingested = []

    def wait(p):
        wait_for_shards(s3, GALLERY, p, progress=False, between=drain)
        if not ingested:
            # WHEN, after the run's catch-up listing and before its switch, an image is put and its
            # ingest batch goes live on the old version
            key = "gallery/brick/late.png"
            s3.put_object(Bucket=GALLERY, Key=key, Body=_png("brick", 7))
            ingested.append(update_images(root, sources=[_source(s3, key)], s3=s3, featurizer=featurizer,
                                          kind="ingest"))

    plan, report = finish_run(s3, sqs[0], GALLERY, sqs[1], plan, root, wait=wait, batch_size=2)
    # THEN the run's switch was refused once, it listed the gallery again and featurized the image:
    # the live version is the run's and holds it
    store = open_store(root)
    assert ingested[0]["added"] == 1 and store.read_current() == report["version"]
    assert store.read_manifest(report["version"])["build"]["kind"] == "reindex"
    keys = store.read_array(report["version"], "keys").tolist()
    assert keys == ["gallery/brick/late.png"] + [f"gallery/marble/{n}.png" for n in range(4)]
    assert load_plan(s3, GALLERY, "run4").batches[-1] == ["gallery/brick/late.png"]


def test_a_run_that_keeps_losing_its_switch_says_so_and_keeps_its_shards(s3, sqs, onnx_model, models,
                                                                         featurizer, tmp_path):
    root = str(tmp_path / "index")
    plan, drain = _featurized_run(s3, sqs, onnx_model, featurizer, models, "run5", root)
    store = open_store(root)
    live = store.read_current()

    def wait(p):  # another build goes live before every switch
        wait_for_shards(s3, GALLERY, p, progress=False, between=drain)
        publish_version(store, *_copy_of(store, live))

    with pytest.raises(SearchError, match="2 times in a row.*resume it with the same run id"):
        finish_run(s3, sqs[0], GALLERY, sqs[1], plan, root, wait=wait, attempts=2)
    assert len(written_batches(s3, GALLERY, "run5")) == len(plan.batches)


def _copy_of(store, version):
    """A version's arrays and manifest, to publish again as a new version (another build going live)."""
    manifest, arrays = load_version(store.local_dir(version))
    return {name: np.asarray(a) for name, a in arrays.items()}, {**manifest, "version": None}


class SwitchedFirst:
    """An index root where a re-index goes live just before the next switch (an ingest batch's)."""

    def __init__(self, inner, go_live) -> None:
        self.inner, self.go_live = inner, go_live

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def set_current(self, version, *, expect=None):
        if self.go_live is not None:
            go_live, self.go_live = self.go_live, None
            go_live()
        self.inner.set_current(version, expect=expect)


def test_an_ingest_batch_after_a_reindex_switch_reapplies_itself_on_it(s3, sqs, onnx_model, models,
                                                                       featurizer, tmp_path):
    # GIVEN a live index and a run whose shards are in
    root = str(tmp_path / "index")
    plan, _ = _featurized_run(s3, sqs, onnx_model, featurizer, models, "run6", root)
    old = open_store(root).read_current()
    # WHEN an image is put and its ingest batch, working from the old version, reaches its switch
    # just after the run's version went live
    key = "gallery/brick/late.png"
    s3.put_object(Bucket=GALLERY, Key=key, Body=_png("brick", 7))
    went_live = []
    store = SwitchedFirst(open_store(root), lambda: went_live.append(assemble_run(s3, GALLERY, plan, root)))
    report = update_images(store, sources=[_source(s3, key)], s3=s3, featurizer=featurizer, kind="ingest")
    # THEN the batch was applied again, on the run's version: both are in the live index
    run_version = went_live[0]["version"]
    assert report["parent"] == run_version != old and report["added"] == 1
    live = open_store(root)
    assert live.read_current() == report["version"]
    assert key in live.read_array(report["version"], "keys").tolist()
    assert live.read_manifest(report["version"])["count"] == 5


def test_an_image_replaced_during_a_run_goes_live_with_its_new_content(s3, sqs, onnx_model, models,
                                                                       featurizer, tmp_path):
    # GIVEN a live index and a run whose shards are in
    root = str(tmp_path / "index")
    plan, drain = _featurized_run(s3, sqs, onnx_model, featurizer, models, "run7", root)
    # WHEN an image is replaced after its batch read it, and its ingest batch goes live
    key, data = "gallery/marble/1.png", _png("brick", 3)
    s3.put_object(Bucket=GALLERY, Key=key, Body=data)
    assert update_images(root, sources=[_source(s3, key)], s3=s3, featurizer=featurizer)["replaced"] == 1
    plan, report = finish_run(s3, sqs[0], GALLERY, sqs[1], plan, root, batch_size=2,
                              wait=lambda p: wait_for_shards(s3, GALLERY, p, progress=False, between=drain))
    # THEN the catch-up featurized it again, and the run's version holds it once, with its new content
    assert plan.batches[-1] == [key]
    store = open_store(root)
    keys = store.read_array(report["version"], "keys").tolist()
    hashes = [h.decode() for h in store.read_array(report["version"], "hashes").tolist()]
    assert keys == [f"gallery/marble/{n}.png" for n in range(4)]
    assert hashes[1] == hashlib.sha256(data).hexdigest()
