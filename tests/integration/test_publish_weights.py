"""`make publish ARGS="--weights pretrained"`: the verified file goes to models/, the manifest names it,
and the instance's loader takes it from the gallery bucket; a wrong-hash file is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from imagesearch.model.features import Featurizer, load_featurizer
from imagesearch.model.weights import fetched_path, zoo_file_name
from imagesearch.model.weights_fetch import fetch_weights

from .test_publish import CREDENTIALS, REPO, deployed, images, keys, publish, site_dir  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def mxnet_home(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    return str(tmp_path / "mxnet-home")


def test_publish_pretrained_uploads_the_verified_file_and_the_manifest_names_its_hash(
    deployed, images, site_dir, tmp_path, mxnet_home  # noqa: F811
):
    # GIVEN weights fetched and verified once on the operator's machine (seeded stand-ins)
    seeded = str(tmp_path / "seeded.params")
    Featurizer.load("seed:0", size=32).save_params(seeded)
    record = fetch_weights(fetched_path(), named=seeded, mxnet_zoo=False, onnx_url=None)["record"]
    # WHEN publishing with --weights pretrained (the agent bundle is test_publish.py's)
    publish(deployed, images, site_dir, tmp_path / "cache", "--weights", "pretrained", "--no-agent")
    # THEN the file and its record are in models/ under its hash, and the manifest names both
    s3, gallery = deployed["s3"], deployed["gallery"]
    key = f"models/resnet50_v1-pretrained-{record['file_sha256'][:16]}.params"
    assert {key, key + ".json"} <= set(keys(s3, gallery))
    pointer = json.loads(s3.get_object(Bucket=gallery, Key="index/current.json")["Body"].read())
    manifest = json.loads(s3.get_object(
        Bucket=gallery, Key=f"index/{pointer['version']}/manifest.json")["Body"].read())
    weights = manifest["weights"]
    assert weights["source"] == f"s3://{gallery}/{key}" and weights["pretrained"] is True
    assert weights["file_sha256"] == record["file_sha256"]
    albums = json.loads(s3.get_object(Bucket=deployed["site"], Key="albums.json")["Body"].read())
    assert albums["index"]["demo"] is False and record["file_sha256"][:12] in albums["index"]["weights_label"]
    # AND the instance's loader, with an empty cache, gets them from the gallery bucket alone
    loaded = load_featurizer(manifest, s3=s3, cache_dir=str(tmp_path / "instance-cache"))
    assert loaded.digest == weights["sha256"] and loaded.weights["file_sha256"] == record["file_sha256"]


def test_publish_refuses_a_file_with_the_zoo_name_and_a_wrong_hash(deployed, images, site_dir, tmp_path):  # noqa: F811
    wrong = tmp_path / zoo_file_name()
    Featurizer.load("seed:0", size=32).save_params(str(wrong))
    env = {**os.environ, **CREDENTIALS}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "publish", "--endpoint-url", deployed["endpoint"], "--stack-name",
         deployed["stack"], "--samconfig", str(tmp_path / "none.toml"), "--images", str(images),
         "--site-dir", str(site_dir), "--weights", str(wrong), "--cache-dir", str(tmp_path / "cache"),
         "--no-refresh", "--quiet"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 1
    assert "refused" in done.stderr and "not the zoo's published" in done.stderr
    assert not any(k.startswith("models/") for k in keys(deployed["s3"], deployed["gallery"]))


def test_publish_without_weights_takes_the_engine_default_through_the_same_path(
    deployed, images, site_dir, tmp_path, mxnet_home  # noqa: F811
):
    # GIVEN IMAGESEARCH_WEIGHTS=pretrained (the default) and a fetched file, and no --weights
    seeded = str(tmp_path / "seeded.params")
    Featurizer.load("seed:0", size=32).save_params(seeded)
    record = fetch_weights(fetched_path(), named=seeded, mxnet_zoo=False, onnx_url=None)["record"]
    env = {**os.environ, **CREDENTIALS, "IMAGESEARCH_WEIGHTS": "pretrained", "IMAGESEARCH_INPUT_SIZE": "32"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "publish", "--endpoint-url", deployed["endpoint"], "--stack-name",
         deployed["stack"], "--samconfig", str(tmp_path / "none.toml"), "--images", str(images),
         "--site-dir", str(site_dir), "--cache-dir", str(tmp_path / "cache"), "--no-refresh", "--no-agent",
         "--quiet"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    # THEN the index names the uploaded copy, not "pretrained"
    s3, gallery = deployed["s3"], deployed["gallery"]
    pointer = json.loads(s3.get_object(Bucket=gallery, Key="index/current.json")["Body"].read())
    manifest = json.loads(s3.get_object(
        Bucket=gallery, Key=f"index/{pointer['version']}/manifest.json")["Body"].read())
    assert manifest["weights"]["source"].startswith(f"s3://{gallery}/models/")
    assert manifest["weights"]["file_sha256"] == record["file_sha256"]
