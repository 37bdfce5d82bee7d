"""Weights: fetch-and-verify from local sources, the ONNX round trip, wrong hashes, the input size."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from imagesearch import settings
from imagesearch.cli import main
from imagesearch.errors import SearchError
from imagesearch.index.build_params import BuildConfig
from imagesearch.model.features import Featurizer
from imagesearch.model.onnx_convert import export_onnx, onnx_to_params
from imagesearch.model.weights import (
    PRETRAINED_INPUT_SIZE,
    SEEDED_INPUT_SIZE,
    fetched_path,
    is_pretrained_file,
    pretrained_file,
    zoo_file_name,
    zoo_sha1,
)
from imagesearch.model.weights_fetch import fetch_weights, zoo_url
from imagesearch.ops.build import build_index
from PIL import Image

from .conftest import SIZE


@pytest.fixture(autouse=True)
def _mxnet_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    monkeypatch.delenv("MXNET_GLUON_REPO", raising=False)


@pytest.fixture(scope="module")
def seeded_onnx(featurizer, tmp_path_factory) -> str:
    """The seeded network's parameters exported by the project's own exporter (ONNX zoo naming)."""
    path = str(tmp_path_factory.mktemp("onnx") / "resnet50-v1-7.onnx")
    export_onnx(featurizer.net, path)
    return path


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)) for _ in range(3)]


def test_onnx_export_and_conversion_give_the_same_features(featurizer, seeded_onnx, tmp_path):
    # GIVEN seeded weights exported to ONNX WHEN converted back to a Gluon .params file
    out = str(tmp_path / "back.params")
    assert onnx_to_params(seeded_onnx, out) == 299
    loaded = Featurizer.load(out, size=SIZE)
    # THEN the network computes the same features (and has the very same parameters)
    np.testing.assert_allclose(
        loaded.featurize_images(_images()), featurizer.featurize_images(_images()), rtol=1e-5, atol=1e-6
    )
    assert loaded.digest == featurizer.digest


def test_the_exported_onnx_graph_computes_the_engine_s_features(featurizer, seeded_onnx):
    # The export is a whole network, not only its parameters: onnx's own reference runtime gives
    # the features MXNet gives (so the graph, the names and the layout agree).
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(seeded_onnx)
    assert {i.name for i in model.graph.initializer} >= {"resnetv17_conv0_weight", "resnetv17_dense0_bias"}
    x = np.stack([featurizer.preprocess(im) for im in _images()])
    features, logits = ReferenceEvaluator(model).run(None, {"data": x})
    assert features.shape == (3, 2048) and logits.shape == (3, 1000)
    np.testing.assert_allclose(features, featurizer.featurize_arrays(x), rtol=1e-4, atol=1e-5)


def test_fetch_from_a_named_onnx_file_verifies_and_records(featurizer, seeded_onnx, tmp_path):
    out = str(tmp_path / "w.params")
    report = fetch_weights(out, named=seeded_onnx, mxnet_zoo=False, onnx_url=None)
    record = json.loads(open(out + ".json").read())
    assert report["ok"] and report["attempts"] == [{"source": "named", "where": seeded_onnx, "ok": True}]
    assert record["pretrained"] is True and record["parameters"] == 299 and record["source"] == "named"
    assert record["file_sha256"] == Featurizer.load(out, size=SIZE).weights["file_sha256"]
    assert record["mxnet_zoo_sha1_match"] is False


def _zip_mirror(params: str, root) -> str:
    """A model zoo mirror (MXNET_GLUON_REPO layout) on the local disk, serving `params` as resnet50_v1."""
    zipped = root / "gluon" / "models" / (zoo_file_name()[: -len(".params")] + ".zip")
    zipped.parent.mkdir(parents=True)
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(params, zoo_file_name())
    return root.as_uri() + "/"


def test_zoo_file_with_the_wrong_sha1_is_refused_and_the_next_source_used(
    featurizer, seeded_onnx, tmp_path, monkeypatch
):
    # GIVEN a zoo mirror whose resnet50_v1 zip has the right name but not the zoo's content
    params = str(tmp_path / "seeded.params")
    featurizer.save_params(params)
    monkeypatch.setenv("MXNET_GLUON_REPO", _zip_mirror(params, tmp_path / "mirror"))
    assert zoo_url().startswith("file://") and zoo_url().endswith(zoo_file_name()[:-7] + ".zip")
    # WHEN weights are fetched with the ONNX zoo (here a file URL) after it
    report = fetch_weights(str(tmp_path / "w.params"), onnx_url=f"file://{seeded_onnx}")
    # THEN the zoo attempt is refused for its SHA-1, saying so, and the ONNX source is the one used
    zoo, onnx = report["attempts"]
    assert zoo["source"] == "mxnet-zoo" and not zoo["ok"]
    assert "is named as the MXNet model zoo's" in zoo["error"] and zoo_sha1() in zoo["error"]
    assert onnx == {"source": "onnx-zoo", "where": f"file://{seeded_onnx}", "ok": True}


def test_every_source_failing_says_why_each_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_GLUON_REPO", (tmp_path / "empty-mirror").as_uri())
    bad = tmp_path / "bad.params"
    bad.write_bytes(b"not parameters")
    with pytest.raises(SearchError) as e:
        fetch_weights(str(tmp_path / "w.params"), named=str(bad), onnx_url=(tmp_path / "none.onnx").as_uri())
    msg = e.value.message
    assert e.value.code == "weights_unavailable" and not os.path.exists(tmp_path / "w.params")
    assert "named (" in msg and "not an MXNet parameter file" in msg
    assert "mxnet-zoo (" in msg and "onnx-zoo (" in msg and msg.count("URLError") == 2


def test_a_params_file_with_the_zoo_name_and_a_wrong_hash_is_refused(featurizer, tmp_path):
    # GIVEN seeded parameters saved under the model zoo's resnet50_v1 file name
    home_models = os.path.dirname(fetched_path())
    os.makedirs(home_models)
    path = os.path.join(home_models, zoo_file_name())
    featurizer.save_params(path)
    # WHEN loaded as a file or as "pretrained" THEN it is refused, saying why
    for source in (path, "pretrained"):
        with pytest.raises(SearchError) as e:
            Featurizer.load(source, size=SIZE)
        assert e.value.code == "weights_unavailable"
        assert "is named as the MXNet model zoo's" in e.value.message
        assert f"not the zoo's published {zoo_sha1()}" in e.value.message


def test_a_fetched_file_changed_after_verification_is_refused(featurizer, seeded_onnx):
    fetch_weights(fetched_path(), named=seeded_onnx, mxnet_zoo=False, onnx_url=None)
    assert pretrained_file() == fetched_path() and is_pretrained_file(fetched_path())
    with open(fetched_path(), "ab") as f:
        f.write(b"\0")
    with pytest.raises(SearchError) as e:
        Featurizer.load("pretrained", size=SIZE)
    assert "changed after it was verified" in e.value.message


def test_the_input_size_follows_the_weights(featurizer, seeded_onnx):
    # seeded weights: the small default; a pretrained (fetched, recorded) file: 224; --size wins
    assert Featurizer.load("seed:0").size == SEEDED_INPUT_SIZE
    fetch_weights(fetched_path(), named=seeded_onnx, mxnet_zoo=False, onnx_url=None)
    for source in ("pretrained", fetched_path()):
        loaded = Featurizer.load(source)
        assert loaded.size == PRETRAINED_INPUT_SIZE and loaded.weights["pretrained"] is True
    assert Featurizer.load("pretrained", size=64).size == 64


def test_manifest_and_index_info_show_the_size_and_who_chose_it(seeded_onnx, tmp_path, capsys):
    images = tmp_path / "albums" / "a"
    images.mkdir(parents=True)
    for i, im in enumerate(_images()[:2]):
        im.save(images / f"{i}.png")
    fetch_weights(fetched_path(), named=seeded_onnx, mxnet_zoo=False, onnx_url=None)
    config = BuildConfig.from_settings(settings.load({}))
    assert config.input_size is None  # IMAGESEARCH_INPUT_SIZE unset: the weights decide
    report = build_index(str(tmp_path / "albums"), str(tmp_path / "idx"), config=config, weights="pretrained")
    assert report["weights"]["pretrained"] is True
    assert main(["index", "info", "--index", str(tmp_path / "idx")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["input_size"] == PRETRAINED_INPUT_SIZE == info["manifest"]["model"]["input_size"]
    assert info["input_size_from"].startswith("weights default")
    build_index(str(tmp_path / "albums"), str(tmp_path / "idx32"), config=config, weights="seed:0", size=48)
    assert main(["index", "info", "--index", str(tmp_path / "idx32")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["input_size"] == 48 and info["input_size_from"].startswith("operator")
