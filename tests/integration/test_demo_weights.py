"""`make demo WEIGHTS=FILE.params`: the demo publishes through the fetch-and-verify path and the
page's label names the weights actually used (the file's hash), not "demo weights"."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.request

import pytest
from imagesearch.model.features import Featurizer

from .conftest import REPO, STACK_COUNT, TEST_OUTPUT

pytestmark = pytest.mark.integration


def test_make_demo_passes_weights_through():
    done = subprocess.run(["make", "-n", "demo", "WEIGHTS=my.params", "IMAGES=albums"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert "-m devstack --images albums --weights my.params" in done.stdout, done.stdout + done.stderr


def test_demo_with_a_weights_file_labels_the_page_with_its_hash(tmp_path):
    from devstack.launcher import StackProcess

    # GIVEN a parameter file the test writes (seeded, so not known to be pretrained: 32 px)
    weights = tmp_path / "mine.params"
    Featurizer.load("seed:3", size=32).save_params(str(weights))
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    # WHEN the demo runs with it (what `make demo WEIGHTS=...` runs)
    # (a work dir of its own: the shared one's index cache stays the seeded demo's)
    with StackProcess("--count", str(STACK_COUNT), "--weights", str(weights), work_dir=tmp_path / "work",
                      log_path=TEST_OUTPUT / "devstack-weights-file.log") as stack:
        with urllib.request.urlopen(stack.info["url"] + "albums.json", timeout=30) as resp:
            index = json.load(resp)["index"]
        # THEN the page's label is the file's hash, and the search answers with those weights
        assert index["demo"] is False and index["pretrained"] is False
        assert sha[:12] in index["weights_label"] and "demo weights" not in index["weights_label"]
        key = json.load(urllib.request.urlopen(stack.info["url"] + "albums.json", timeout=30))["albums"][0]
        request = urllib.request.Request(stack.info["api"] + "/search", method="POST",
                                         data=json.dumps({"key": key["cover"], "k": 3}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert len(json.load(resp)["results"]) == 3
