"""Index versions: round trip with memory mapping, the pointer, corruption, concurrent readers."""

import json
import os
import threading

import numpy as np
import pytest
from imagesearch.errors import SearchError
from imagesearch.index.artifacts import load_version, new_version_id
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.manifest import ModeRule, assemble
from imagesearch.index.opened import OpenIndex
from imagesearch.index.storage import LocalIndexStore, publish_version

WEIGHTS = {"source": "seed:0", "sha256": "0" * 64, "pretrained": False}


def _version(n=60, seed=0, tag="k"):
    rng = np.random.default_rng(seed)
    feats = rng.random((n, 2048)).astype(np.float16)
    keys = [f"gallery/a/{tag}{i:03d}.png" for i in range(n)]
    hashes = [f"{seed:02d}{i:062d}" for i in range(n)]
    return assemble(keys, hashes, feats, weights=WEIGHTS, size=32, lsh=LshBuildParams(tables=4), probes=4,
                    mode_rule=ModeRule(min_recall=0.95, max_scored=0.2))


def test_round_trip_is_memory_mapped(tmp_path):
    root = LocalIndexStore(str(tmp_path / "idx"))
    arrays, manifest = _version()
    version = publish_version(root, arrays, manifest)
    assert root.read_current() == version and root.list_versions() == [version]
    got_manifest, got = load_version(root.local_dir(version))
    for name, arr in arrays.items():
        assert isinstance(got[name], np.memmap), name
        assert not got[name].flags.writeable
        assert np.array_equal(np.asarray(got[name]), arr), name
    assert got_manifest["count"] == 60 and got_manifest["format_version"] == 1
    assert got_manifest["weights"]["pretrained"] is False
    assert set(got_manifest["files"]) == {f"{n}.npy" for n in arrays}


def test_no_pointer_and_bad_pointers(tmp_path):
    root = tmp_path / "idx"
    assert LocalIndexStore(str(root)).read_current() is None
    root.mkdir()
    for body in ("not json", json.dumps({"version": "../../etc"}), json.dumps({})):
        (root / "current.json").write_text(body)
        with pytest.raises(SearchError) as e:
            LocalIndexStore(str(root)).read_current()
        assert e.value.code == "index_unavailable"
    with pytest.raises(SearchError):
        LocalIndexStore(str(root)).set_current("../x")


def test_corrupt_or_missing_versions_are_index_unavailable(tmp_path):
    root = str(tmp_path / "idx")
    arrays, manifest = _version()
    version = publish_version(LocalIndexStore(root), arrays, manifest)
    with open(os.path.join(root, version, "vectors.npy"), "r+b") as f:
        f.truncate(1000)
    for call in (lambda: OpenIndex.open(root), lambda: OpenIndex.open(root, version=new_version_id())):
        with pytest.raises(SearchError) as e:
            call()
        assert e.value.code == "index_unavailable"
    manifest_path = os.path.join(root, version, "manifest.json")
    with open(manifest_path) as f:
        m = json.load(f)
    m["format_version"] = 99
    with open(manifest_path, "w") as f:
        json.dump(m, f)
    with pytest.raises(SearchError, match="format"):
        load_version(os.path.join(root, version))


def test_reader_never_sees_a_partial_version_while_writers_publish(tmp_path):
    # GIVEN a live version and a reader opening and querying the live version in a loop
    root = str(tmp_path / "idx")
    store = LocalIndexStore(root)
    publish_version(store, *_version(seed=0))
    stop, errors, seen = threading.Event(), [], set()

    def reader():
        while not stop.is_set():
            try:
                s = OpenIndex.open(root)
                assert s.count == 60
                assert len(s.search_vector(s.vector(3), 5, mode="exact")) == 5
                seen.add(s.version)
            except Exception as e:  # noqa: BLE001 - the test reports whatever went wrong
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    # WHEN new versions are written meanwhile
    try:
        for seed in range(1, 6):
            publish_version(store, *_version(seed=seed))
    finally:
        stop.set()
        for t in threads:
            t.join()
    # THEN no reader failed, and the old versions were left intact
    assert errors == []
    assert len(store.list_versions()) == 6 and len(seen) >= 1
    for v in store.list_versions():
        load_version(os.path.join(root, v))
