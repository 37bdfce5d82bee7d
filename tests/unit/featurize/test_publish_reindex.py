"""publish --reindex's index step: the gallery featurized through the queue, one version in the index;
and the step publish chooses by itself: the re-index when the weights changed and there is a queue."""

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
from imagesearch.model.features import Featurizer
from imagesearch.model.sample_data import render
from imagesearch.ops.build import build_index

from publish.reindex import auto_index_step, choose_index_step, names_its_content, reindex_step
from publish.uploader import Counts


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


# --- the step chosen when publish runs: the re-index when the weights changed and there is a queue ---


class Step:
    """An index step that records its call (the steps themselves are tested above and in publish's)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, s3, bucket, images_dir, **kw):
        self.calls.append(kw)
        return Counts(1, 0)


def _live_index(s3, featurizer, tmp_path) -> str:
    """A live version of s3://<gallery>/index built with `featurizer`'s weights; its weights digest."""
    for n in range(3):
        buf = io.BytesIO()
        render("marble", n, size=40).save(buf, format="PNG")
        s3.put_object(Bucket=GALLERY, Key=f"gallery/marble/{n}.png", Body=buf.getvalue())
    build_index(f"s3://{GALLERY}/gallery/", S3IndexStore(s3, GALLERY, GALLERY_INDEX_PREFIX), s3=s3,
                featurizer=featurizer, cache_dir=str(tmp_path / "cache"))
    return featurizer.digest


def _publish_index_step(s3, tmp_path, step, weights: str) -> None:
    step(s3, GALLERY, tmp_path, weights=weights, size=SIZE, work_dir=tmp_path / "work", progress=False)


def test_unchanged_weights_keep_the_local_build(s3, featurizer, tmp_path):
    # GIVEN a live index built with seed:0 and a stack with the featurize queue
    digest = _live_index(s3, featurizer, tmp_path)
    local, reindex, said = Step(), Step(), []
    # WHEN publish runs with the same weights
    _publish_index_step(s3, tmp_path, auto_index_step(local, reindex, say=said.append), "seed:0")
    # THEN the normal step runs (it featurizes only what changed), and publish says why
    assert len(local.calls) == 1 and not reindex.calls
    assert said == [f"index: built here (weights unchanged, {digest[:16]})"]


def test_the_same_seed_is_not_loaded_again_to_compare(s3, featurizer, tmp_path, monkeypatch):
    # GIVEN a live index built with seed:0 (a source that names its weights)
    digest = _live_index(s3, featurizer, tmp_path)
    monkeypatch.setattr("publish.reindex.weights_digest", lambda *a, **k: pytest.fail("weights loaded again"))
    local, reindex, said = Step(), Step(), []
    # WHEN publish runs with the same source THEN the digest is the live one, without loading the weights
    _publish_index_step(s3, tmp_path, auto_index_step(local, reindex, say=said.append), "seed:0")
    assert len(local.calls) == 1 and said == [f"index: built here (weights unchanged, {digest[:16]})"]
    # and only sources that name their content are taken at their word
    assert names_its_content("seed:3") and names_its_content("s3://gallery/models/resnet-0123abcd.params")
    assert not names_its_content("weights/w.params") and not names_its_content("s3://other/w.params")
    assert not names_its_content("pretrained")


def test_changed_weights_with_a_queue_choose_the_reindex(s3, featurizer, tmp_path):
    # GIVEN a live index built with seed:0 and a stack with the featurize queue
    old = _live_index(s3, featurizer, tmp_path)
    local, reindex, said = Step(), Step(), []
    # WHEN publish runs with other weights
    _publish_index_step(s3, tmp_path, auto_index_step(local, reindex, say=said.append), "seed:1")
    # THEN the re-index runs with them, and publish says why with both digests
    assert not local.calls and reindex.calls == [
        {"weights": "seed:1", "size": SIZE, "work_dir": tmp_path / "work", "force": False, "progress": False}]
    new = Featurizer.load("seed:1", size=SIZE).digest
    assert len(said) == 1 and "weights changed" in said[0] and "on Lambda" in said[0]
    assert f"live index {old[:16]}" in said[0] and f"new {new[:16]}" in said[0]


def test_changed_weights_without_a_queue_or_with_no_reindex_build_here(s3, featurizer, tmp_path):
    _live_index(s3, featurizer, tmp_path)
    # WHEN the stack has no featurize queue
    local, said = Step(), []
    _publish_index_step(s3, tmp_path, auto_index_step(local, None, say=said.append), "seed:1")
    # THEN the index is built here, and publish says so
    assert len(local.calls) == 1 and "no featurize queue" in said[0] and "built here" in said[0]
    # AND --no-reindex builds here although the queue is there
    local, reindex, said = Step(), Step(), []
    step = auto_index_step(local, reindex, where="local", say=said.append)
    _publish_index_step(s3, tmp_path, step, "seed:1")
    assert len(local.calls) == 1 and not reindex.calls and said == ["index: built here (--no-reindex)"]


def test_no_live_index_keeps_the_local_build(s3, tmp_path):
    local, reindex, said = Step(), Step(), []
    _publish_index_step(s3, tmp_path, auto_index_step(local, reindex, say=said.append), "seed:1")
    assert len(local.calls) == 1 and not reindex.calls
    assert said == ["index: built here (no live index to compare weights with)"]


@pytest.mark.parametrize(("where", "live", "new", "queue", "reindex"), [
    ("auto", None, None, True, False),
    ("auto", "a" * 64, "a" * 64, True, False),
    ("auto", "a" * 64, "b" * 64, True, True),
    ("auto", "a" * 64, "b" * 64, False, False),
    ("local", "a" * 64, "b" * 64, True, False),
    ("lambda", "a" * 64, "a" * 64, True, True),
])
def test_choose_index_step(where, live, new, queue, reindex):
    assert choose_index_step(where, live, new, queue).reindex is reindex


def test_choose_index_step_refuses_an_unknown_place():
    with pytest.raises(ValueError, match="where must be one of"):
        choose_index_step("somewhere", None, None, True)
