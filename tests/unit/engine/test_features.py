"""Featurizer weight sources and determinism."""

import os
import subprocess
import sys

import numpy as np
import pytest
from imagesearch.errors import SearchError
from imagesearch.model.features import Featurizer
from imagesearch.model.sample_data import render
from imagesearch.model.weights import fetched_path
from PIL import Image

from .conftest import SIZE


def _images():
    return [render("marble", 0), render("brick", 1), Image.new("L", (28, 28), 90)]


def test_same_seed_same_features(featurizer):
    again = Featurizer.load("seed:0", size=SIZE)
    a, b = featurizer.featurize_images(_images()), again.featurize_images(_images())
    assert a.shape == (3, 2048) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert featurizer.digest == again.digest
    assert featurizer.weights == {"source": "seed:0", "sha256": featurizer.digest, "pretrained": False}


def test_same_seed_same_weights_in_every_process(featurizer):
    # GIVEN several fresh processes with multi-threaded MXNet (where its own initialisers drift)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    code = ("from imagesearch.model.features import Featurizer; "
            "print(Featurizer.load('seed:0', size=32).digest)")
    # WHEN each builds the seed:0 network, three at once (busy cores are where threads drift)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    digests = {proc.communicate(timeout=300)[0].strip() for proc in procs}
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    # THEN every process computes the same network as this one
    assert digests == {featurizer.digest}


def test_other_seed_other_features(featurizer):
    other = Featurizer.load("seed:1", size=SIZE)
    assert other.digest != featurizer.digest
    assert not np.allclose(other.featurize_images(_images()), featurizer.featurize_images(_images()))


def test_batches_and_single_images_agree(featurizer):
    images = _images()
    together = featurizer.featurize_images(images)
    alone = np.concatenate([featurizer.featurize_images([im]) for im in images])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_grey_is_replicated_to_rgb(featurizer):
    grey = Image.new("L", (28, 28), 120)
    rgb = Image.new("RGB", (28, 28), (120, 120, 120))
    assert np.array_equal(featurizer.featurize_images([grey]), featurizer.featurize_images([rgb]))


def test_params_file_round_trip(featurizer, tmp_path):
    # GIVEN a .params file written by the network
    path = str(tmp_path / "net.params")
    featurizer.save_params(path)
    # WHEN it is loaded as weights THEN the features and the digest are the same
    loaded = Featurizer.load(path, size=SIZE)
    assert loaded.digest == featurizer.digest
    assert np.array_equal(loaded.featurize_images(_images()), featurizer.featurize_images(_images()))
    assert loaded.weights["source"] == path and loaded.weights["pretrained"] is False
    assert len(loaded.weights["file_sha256"]) == 64
    _assert_no_gradient_buffers(loaded)


def _assert_no_gradient_buffers(featurizer):
    params = featurizer.net.collect_params().values()
    assert {p.grad_req for p in params} == {"null"}
    assert all(p._grad is None for p in params)  # a buffer as large as the weights otherwise


def test_seeded_weights_keep_no_gradient_buffers(featurizer):
    # Inference only: Gluon's default grad_req "write" would double the parameters' memory.
    _assert_no_gradient_buffers(featurizer)


def test_pretrained_without_network_or_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")  # and sockets are disabled anyway
    with pytest.raises(SearchError) as e:
        Featurizer.load("pretrained", size=SIZE)
    assert e.value.code == "weights_unavailable"
    msg = e.value.message
    assert "--weights FILE.params" in msg and "seed:N" in msg and "imagesearch weights fetch" in msg
    assert fetched_path() in msg and str(tmp_path / "mxnet-home") in fetched_path()


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("missing.params", "weights_unavailable"),
        ("seed:x", "bad_request"),
        ("garbage", "weights_unavailable"),
    ],
)
def test_bad_weight_sources(tmp_path, monkeypatch, source, code):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage").write_bytes(b"not a params file")
    with pytest.raises(SearchError) as e:
        Featurizer.load(source, size=SIZE)
    assert e.value.code == code


def test_input_size_below_32_is_refused(featurizer):
    with pytest.raises(SearchError):
        Featurizer(featurizer.net, size=16, weights=featurizer.weights)
