"""Issue 23, engine side: score bands stored and shown, duplicate groups transitive and deterministic,
the duplicates.json shape, the `imagesearch duplicates` command."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from imagesearch.agent.querying import search_image_bytes
from imagesearch.cli import main
from imagesearch.index import calibration
from imagesearch.index.calibration import LabelledFeatures, band_of, labelled_threshold, measure_bands
from imagesearch.index.opened import OpenIndex
from imagesearch.index.storage import open_store
from imagesearch.model.sample_data import render
from imagesearch.ops.build import add_images, build_index
from imagesearch.ops.duplicates import (
    ImageFacts,
    describe_groups,
    duplicates_document,
    encode_document,
    facts_from_folder,
    find_duplicates,
    group_keys,
    image_facts,
    keep_of,
)
from PIL import Image

BANDS = {"near_duplicate": 0.95, "similar": 0.7}


# ------------------------------------------------------------------ bands


@pytest.mark.parametrize(("score", "band"), [
    (1.0, "near_duplicate"), (0.95, "near_duplicate"), (0.9499, "similar"), (0.7, "similar"),
    (0.6999, "weak"), (-1.0, "weak")])
def test_a_score_falls_in_exactly_one_band(score, band):
    assert band_of(score, BANDS) == band


def test_an_index_without_bands_gives_no_band():
    assert band_of(0.99, None) is None


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_the_labelled_threshold_separates_copies_from_other_photos():
    # GIVEN three "photos" far apart, each with three copies close to it
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64)) * 10
    feats = np.concatenate([c + rng.normal(size=(4, 64)) for c in centres])
    labelled = LabelledFeatures(feats, [g for g in "abc" for _ in range(4)], {"split": "test"})
    found = labelled_threshold(labelled, np.zeros(64, dtype=np.float32))
    # THEN the threshold lies between the worst copy and the best non-copy, and says how it was found
    assert found["max_negative"] < found["threshold"] < found["min_positive"]
    assert found["pair_precision"] == found["pair_recall"] == 1.0
    assert (found["positive_pairs"], found["negative_pairs"]) == (18, 48)
    assert found["method"].startswith("labelled")


def test_bands_without_a_labelled_set_use_the_recorded_fallback():
    rng = np.random.default_rng(1)
    vectors = _unit(rng.normal(size=(50, 32)))
    bands = measure_bands(vectors, [f"{i:064x}" for i in range(50)], np.zeros(32, np.float32))
    assert bands["near_duplicate"] == pytest.approx((bands["similar"] + 1) / 2, abs=1e-3)
    assert bands["near_duplicate_from"]["method"].startswith("fallback")
    assert bands["similar_from"]["method"] == "p99 of random-pair scores"
    assert bands["scores"]["random"]["count"] == 50 * 49 // 2  # every pair of a small index
    assert bands["scores"]["nearest"]["count"] == 50


def test_identical_bytes_are_not_a_random_pair():
    # Two rows with the same content hash are one image: they never count as a pair or a neighbour.
    vectors = _unit(np.random.default_rng(2).normal(size=(3, 8)))
    vectors = np.concatenate([vectors, vectors[:1]])
    bands = measure_bands(vectors, ["a", "b", "c", "a"], np.zeros(8, np.float32))
    assert bands["scores"]["random"]["count"] == 3
    assert bands["scores"]["nearest"]["p99"] < 1.0


def test_kept_bands_keep_the_near_duplicate_threshold_and_its_provenance():
    vectors = _unit(np.random.default_rng(3).normal(size=(20, 8)))
    kept = {"near_duplicate": 0.97, "near_duplicate_from": {"method": "labelled near-duplicate set"}}
    bands = measure_bands(vectors, [str(i) for i in range(20)], np.zeros(8, np.float32), kept=kept)
    assert bands["near_duplicate"] == 0.97
    assert bands["near_duplicate_from"] == {"method": "labelled near-duplicate set",
                                            "kept": "from the parent version"}


def test_similar_never_exceeds_near_duplicate():
    # An index of copies only: random pairs score high, and the similar band is capped at near_duplicate.
    base = np.random.default_rng(4).normal(size=(1, 16))
    vectors = _unit(base + np.random.default_rng(5).normal(size=(10, 16)) * 0.01)
    kept = {"near_duplicate": 0.5, "near_duplicate_from": {"method": "x"}}
    bands = measure_bands(vectors, [str(i) for i in range(10)], np.zeros(16, np.float32), kept=kept)
    assert bands["similar"] == bands["near_duplicate"] == 0.5
    assert "capped" in bands["similar_from"]


def test_the_floor_raises_a_labelled_threshold_that_too_many_random_pairs_pass():
    # GIVEN 200 images that these weights all score alike (a tight cluster), and a low labelled threshold
    rng = np.random.default_rng(6)
    vectors = _unit(np.ones((200, 16)) + rng.normal(size=(200, 16)) * 0.05)
    photos = np.eye(16)[:4] * 5
    labelled = LabelledFeatures(np.concatenate([photos, photos + 0.01]), ["a", "b", "c", "d"] * 2,
                                {"split": "test"})
    bands = measure_bands(vectors, [str(i) for i in range(200)], np.zeros(16, np.float32),
                          labelled=labelled)
    # THEN near_duplicate is the index's own p99.9 random-pair score, and the manifest says why
    assert bands["near_duplicate"] == pytest.approx(bands["scores"]["random"]["p99_9"], abs=1e-4)
    assert "raised" in bands["near_duplicate_from"]


# ------------------------------------------------------------------ manifest and index info


@pytest.fixture
def built(albums, featurizer, tmp_path):
    """A seeded index of the 40-image collection plus a re-saved JPEG copy of marble_00000."""
    render("marble", 0, size=28).save(os.path.join(albums, "marble", "marble_00000_copy.jpg"), quality=92)
    root = str(tmp_path / "idx")
    build_index(albums, root, featurizer=featurizer, cache_dir=str(tmp_path / "cache"))
    return albums, root


def test_the_bands_are_stored_in_the_manifest_and_shown_by_index_info(built, capsys):
    _, root = built
    store = open_store(root)
    bands = store.read_manifest(store.read_current())["bands"]
    assert 0 <= bands["similar"] <= bands["near_duplicate"] <= 1
    assert set(bands) >= {"near_duplicate", "similar", "rule", "near_duplicate_from", "similar_from",
                          "scores"}
    assert main(["index", "info", "--index", root]) == 0
    shown = json.loads(capsys.readouterr().out)["bands"]
    assert shown == {"near_duplicate": bands["near_duplicate"], "similar": bands["similar"],
                     "rule": calibration.RULE,
                     "near_duplicate_from": bands["near_duplicate_from"]["method"],
                     "similar_from": bands["similar_from"]["method"]}


def test_an_added_image_keeps_the_parents_near_duplicate_threshold(built, featurizer, tmp_path):
    albums, root = built
    store = open_store(root)
    before = store.read_manifest(store.read_current())["bands"]
    extra = tmp_path / "extra" / "wood"
    extra.mkdir(parents=True)
    render("wood", 99, size=28).save(extra / "wood_new.png")
    add_images(str(tmp_path / "extra"), root, featurizer=featurizer, cache_dir=str(tmp_path / "cache"))
    after = store.read_manifest(store.read_current())["bands"]
    assert after["near_duplicate"] == before["near_duplicate"]
    assert after["near_duplicate_from"]["kept"] == "from the parent version"
    assert after["scores"]["random"]["count"] > before["scores"]["random"]["count"]


def test_each_match_of_an_answer_carries_its_band_and_the_index_its_thresholds(built, tmp_path):
    albums, root = built
    index = OpenIndex.open(root, cache_dir=str(tmp_path / "cache"))
    with open(os.path.join(albums, "marble", "marble_00000.png"), "rb") as f:
        answer = search_image_bytes(index, f.read(), 10)
    bands = index.manifest["bands"]
    assert answer["index"]["bands"] == {"near_duplicate": bands["near_duplicate"],
                                        "similar": bands["similar"]}
    assert [r["band"] for r in answer["results"]] == [band_of(r["score"], bands) for r in answer["results"]]
    assert answer["results"][0]["key"] == "gallery/marble/marble_00000_copy.jpg"
    assert answer["results"][0]["band"] == "near_duplicate"


def test_a_labelled_build_without_scikit_image_is_refused_clearly(albums, featurizer, tmp_path, monkeypatch):
    from imagesearch.errors import SearchError
    from imagesearch.model import near_duplicate_set

    monkeypatch.setattr(near_duplicate_set, "available", lambda: False)
    with pytest.raises(SearchError) as caught:
        build_index(albums, str(tmp_path / "idx"), featurizer=featurizer, near_duplicate_set=True)
    assert caught.value.code == "bad_request" and "scikit-image" in caught.value.message
    assert not os.path.exists(tmp_path / "idx" / "current.json")


# ------------------------------------------------------------------ groups


def _m(key, score):
    return {"key": key, "score": score}


def test_groups_are_joined_transitively():
    # a~b and b~c are copies, a~c alone scores below the threshold: one group of three
    neighbours = [(["a"], [_m("b", 0.97), _m("c", 0.5)]), (["b"], [_m("c", 0.96), _m("a", 0.97)]),
                  (["c"], [_m("b", 0.96)]), (["d"], [_m("a", 0.94)])]
    assert group_keys(neighbours, 0.95) == [["a", "b", "c"]]


def test_identical_bytes_under_two_keys_are_one_group():
    assert group_keys([(["x", "y"], []), (["z"], [_m("q", 0.1)])], 0.95) == [["x", "y"]]


def test_groups_are_deterministic_whatever_the_order_of_the_neighbour_lists():
    neighbours = [(["k"], [_m("j", 0.99)]), (["b"], [_m("a", 0.99)]), (["z"], [_m("y", 0.96)]),
                  (["c"], [_m("b", 0.99)])]
    expected = [["a", "b", "c"], ["j", "k"], ["y", "z"]]
    for shift in range(len(neighbours)):
        assert group_keys(neighbours[shift:] + neighbours[:shift], 0.95) == expected
        assert group_keys(list(reversed(neighbours[shift:] + neighbours[:shift])), 0.95) == expected


@pytest.mark.parametrize(("members", "keep"), [
    ([("a", 100, 5), ("b", 200, 1)], "b"),  # most pixels
    ([("a", 100, 5), ("b", 100, 9)], "b"),  # then the largest file
    ([("b", 100, 5), ("a", 100, 5)], "a"),  # then the first key
    ([("a", None, None), ("b", 1, 1)], "b"),  # unknown size loses
])
def test_keep_is_most_pixels_then_largest_file_then_first_key(members, keep):
    assert keep_of([{"key": k, "pixels": p, "bytes": b} for k, p, b in members]) == keep


def test_image_facts_read_the_header_only():
    buf = io.BytesIO()
    Image.new("RGB", (30, 20)).save(buf, format="PNG")
    assert image_facts(buf.getvalue()) == ImageFacts(30, 20, len(buf.getvalue()))
    assert image_facts(b"not an image") == ImageFacts(None, None, 12)


def test_the_duplicates_document_has_the_contract_shape(tmp_path):
    folder = tmp_path / "imgs" / "trip"
    folder.mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(folder / "big.png")
    Image.new("RGB", (20, 15)).save(folder / "small.png")
    groups = describe_groups([["gallery/trip/big.png", "gallery/trip/small.png"]],
                             facts_from_folder(str(tmp_path / "imgs")))
    doc = json.loads(encode_document(duplicates_document("20260101T000000Z-abcdef", BANDS, groups)))
    assert doc["version"] == "20260101T000000Z-abcdef" and doc["threshold"] == 0.95
    assert doc["groups"] == [{
        "images": ["gallery/trip/big.png", "gallery/trip/small.png"], "keep": "gallery/trip/big.png",
        "members": [
            {"key": "gallery/trip/big.png", "album": "trip", "width": 40, "height": 30, "pixels": 1200,
             "bytes": os.path.getsize(folder / "big.png")},
            {"key": "gallery/trip/small.png", "album": "trip", "width": 20, "height": 15, "pixels": 300,
             "bytes": os.path.getsize(folder / "small.png")}]}]


def test_find_duplicates_groups_a_re_saved_copy_with_its_original(built, tmp_path):
    albums, root = built
    index = OpenIndex.open(root, cache_dir=str(tmp_path / "cache"))
    doc = find_duplicates(index, facts_from_folder(albums))
    assert doc["version"] == index.version
    assert doc["threshold"] == index.manifest["bands"]["near_duplicate"]
    together = [g for g in doc["groups"] if "gallery/marble/marble_00000_copy.jpg" in g["images"]]
    assert len(together) == 1 and "gallery/marble/marble_00000.png" in together[0]["images"]
    # the PNG has the same pixels and more bytes than its JPEG copy: it is the one to keep
    if len(together[0]["images"]) == 2:
        assert together[0]["keep"] == "gallery/marble/marble_00000.png"
    # the same index gives the same document
    assert find_duplicates(index, facts_from_folder(albums)) == doc


def test_an_index_without_bands_is_refused_with_a_clear_message(built, tmp_path):
    from imagesearch.errors import SearchError

    _, root = built
    index = OpenIndex.open(root, cache_dir=str(tmp_path / "cache"))
    index.manifest = {k: v for k, v in index.manifest.items() if k != "bands"}
    with pytest.raises(SearchError) as caught:
        find_duplicates(index)
    assert caught.value.code == "index_unavailable" and "rebuild" in caught.value.message


def test_the_duplicates_command_prints_a_table_or_json(built, tmp_path, capsys):
    albums, root = built
    assert main(["duplicates", "--index", root, "--images", albums, "--quiet",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    table = capsys.readouterr().out
    assert table.startswith("index ") and "threshold" in table and "marble_00000_copy.jpg" in table
    assert main(["duplicates", "--index", root, "--images", albums, "--json", "--quiet",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"version", "threshold", "groups"}
    assert all(set(g) >= {"images", "keep"} for g in doc["groups"])


def test_the_duplicates_command_on_a_missing_index_is_a_clear_error(tmp_path, capsys):
    assert main(["duplicates", "--index", str(tmp_path / "none"), "--quiet"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "index_unavailable"


def test_an_unchanged_collection_is_rebuilt_when_its_live_version_has_no_bands(built, featurizer, tmp_path):
    # A version from before bands (its manifest rewritten without them) is not kept by --if-changed.
    albums, root = built
    store = open_store(root)
    live = store.read_current()
    path = os.path.join(root, live, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    del manifest["bands"]
    with open(path, "w") as f:
        json.dump(manifest, f)
    report = build_index(albums, root, featurizer=featurizer, if_changed=True, cache_dir=str(tmp_path / "c"))
    assert report["unchanged"] is False and report["version"] != live
    assert "bands" in store.read_manifest(report["version"])
    again = build_index(albums, root, featurizer=featurizer, if_changed=True, cache_dir=str(tmp_path / "c"))
    assert again["unchanged"] is True
