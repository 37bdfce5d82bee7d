"""`imagesearch weights fetch` over HTTP, against a loopback http.server standing in for the sources."""

from __future__ import annotations

import functools
import json
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from imagesearch.cli import main
from imagesearch.model.features import Featurizer
from imagesearch.model.onnx_convert import export_onnx
from imagesearch.model.weights import zoo_file_name

pytestmark = pytest.mark.integration


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A folder served on 127.0.0.1 with: seeded.params, resnet50-v1-7.onnx and a zoo mirror whose
    resnet50_v1 zip has the zoo's name but not its content."""
    root = tmp_path / "www"
    (root / "gluon" / "models").mkdir(parents=True)
    featurizer = Featurizer.load("seed:0", size=32)
    featurizer.save_params(str(root / "seeded.params"))
    export_onnx(featurizer.net, str(root / "resnet50-v1-7.onnx"))
    with zipfile.ZipFile(root / "gluon" / "models" / (zoo_file_name()[:-7] + ".zip"), "w") as zf:
        zf.write(root / "seeded.params", zoo_file_name())
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    monkeypatch.setenv("MXNET_GLUON_REPO", base)
    yield base, featurizer
    server.shutdown()
    server.server_close()


def _fetch(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["weights", "fetch", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_a_named_url_is_tried_first(served, tmp_path, capsys):
    base, featurizer = served
    out = str(tmp_path / "w.params")
    code, report = _fetch(capsys, "--out", out, "--from", base + "seeded.params")
    assert code == 0 and report["attempts"] == [{"source": "named", "where": base + "seeded.params",
                                                 "ok": True}]
    assert report["record"]["where"] == base + "seeded.params"
    assert Featurizer.load(out, size=32).digest == featurizer.digest


def test_the_mirror_s_wrong_file_is_refused_then_the_onnx_zoo_is_converted(served, tmp_path, capsys):
    base, featurizer = served
    out = str(tmp_path / "w.params")
    code, report = _fetch(capsys, "--out", out, "--onnx-url", base + "resnet50-v1-7.onnx")
    zoo, onnx = report["attempts"]
    assert code == 0 and zoo["where"] == f"{base}gluon/models/{zoo_file_name()[:-7]}.zip"
    assert not zoo["ok"] and "not the zoo's published" in zoo["error"]
    assert onnx["ok"] and report["record"]["source"] == "onnx-zoo"
    assert Featurizer.load(out, size=32).digest == featurizer.digest


def test_nothing_verifiable_anywhere_is_an_error_naming_each_source(served, tmp_path, capsys):
    base, _ = served
    code, error = _fetch(capsys, "--out", str(tmp_path / "w.params"), "--from", base + "missing.params",
                         "--onnx-url", base + "missing.onnx")
    assert code == 1 and error["error"]["code"] == "weights_unavailable"
    message = error["error"]["message"]
    assert "named (" in message and "404" in message and "mxnet-zoo (" in message and "onnx-zoo (" in message
