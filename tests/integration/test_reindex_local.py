"""A re-index through the local Lambda host: moto (over HTTP) plays S3 and SQS, pollers play the
event source, the featurize function's own code runs in two containers (processes on its runtime),
and the assembled version has the neighbours of a direct build with the same weights."""

from __future__ import annotations

import io

import numpy as np
import pytest
from devstack.featurize_local import LocalFeaturize
from devstack.s3server import client
from imagesearch.index.storage import open_store
from imagesearch.model.features import Featurizer
from imagesearch.model.onnx_model import ensure_model
from imagesearch.model.sample_data import ALBUMS, render
from imagesearch.ops.build import build_index
from imagesearch.ops.reindex import assemble_run, gallery_keys, plan_run, start_run, wait_for_shards

from publish.template import TEMPLATE, load_template

pytestmark = pytest.mark.integration
BUCKET = "reindex-gallery"


def _neighbours(store, version, k=3):
    features = store.read_array(version, "features").astype(np.float32)
    keys = store.read_array(version, "keys").tolist()
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    order = np.argsort(-(unit @ unit.T), axis=1, kind="stable")[:, 1 : k + 1]
    return {keys[i]: [keys[j] for j in row] for i, row in enumerate(order)}


def test_a_local_reindex_gives_the_neighbours_of_a_direct_build(moto_server, tmp_path):
    # GIVEN a gallery of 24 sample images in 8 albums, and one file that is not an image
    s3, sqs = client("s3", moto_server), client("sqs", moto_server)
    s3.create_bucket(Bucket=BUCKET)
    for album in list(ALBUMS)[:8]:
        for n in range(3):
            buf = io.BytesIO()
            render(album, n, size=48).save(buf, format="PNG")
            s3.put_object(Bucket=BUCKET, Key=f"gallery/{album}/{n}.png", Body=buf.getvalue())
    s3.put_object(Bucket=BUCKET, Key="gallery/notes/readme.png", Body=b"not an image")
    featurizer = Featurizer.load("seed:0", size=32)
    model = ensure_model(s3, BUCKET, featurizer)
    # AND the featurize function running here in two containers behind its queue
    local = LocalFeaturize.start(load_template(TEMPLATE), TEMPLATE.parent, moto_server, BUCKET, containers=2)
    try:
        # WHEN `imagesearch reindex`'s steps run against it, batches of 5
        plan = plan_run("local1", gallery_keys(s3, BUCKET), weights=featurizer.weights,
                        onnx_sha256=model.sha256, input_size=32, batch_size=5)
        start_run(s3, sqs, BUCKET, local.queues.url, plan)
        wait_for_shards(s3, BUCKET, plan, poll_s=0.5, timeout_s=300, progress=False)
    finally:
        local.stop()
    report = assemble_run(s3, BUCKET, plan, str(tmp_path / "reindexed"))
    # THEN every batch ran once, without failures, and the bad file is reported
    assert len(local.batches) == len(plan.batches) == 5
    assert all(b["failed"] == 0 for b in local.batches)
    assert report["count"] == 24
    assert [f["key"] for f in report["skipped_files"]] == ["gallery/notes/readme.png"]
    # AND the version has the neighbours of a direct build with the same weights
    direct = build_index(f"s3://{BUCKET}/gallery/", str(tmp_path / "direct"), s3=s3, featurizer=featurizer)
    reindexed, built = open_store(str(tmp_path / "reindexed")), open_store(str(tmp_path / "direct"))
    assert _neighbours(reindexed, report["version"]) == _neighbours(built, direct["version"])
