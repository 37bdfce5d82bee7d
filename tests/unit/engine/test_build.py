"""Building, adding and removing: bad files are skipped and reported, updates equal fresh builds."""

import dataclasses
import os
import shutil

import numpy as np
import pytest
from imagesearch import settings
from imagesearch.agent.querying import search_image_bytes
from imagesearch.errors import SearchError
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.manifest import source_digest
from imagesearch.index.opened import OpenIndex
from imagesearch.index.storage import LocalIndexStore
from imagesearch.ops.build import add_images, build_index, remove_images

from .conftest import noise_png, png_bytes, write


def _config():
    """The settings' build parameters (read now: a test may have set some) with small LSH tables."""
    config = BuildConfig.from_settings(settings.load())
    return dataclasses.replace(config, lsh=LshBuildParams(tables=4), probes=4, threads=2)


def read_current(root):
    return LocalIndexStore(root).read_current()


def _build(images, root, featurizer, **kw):
    return build_index(images, root, featurizer=featurizer, config=_config(), **kw)


def _answers(root):
    s = OpenIndex.open(root)
    out = {}
    for row in range(s.count):
        for mode in ("exact", "lsh"):
            out[(s.key(row), mode)] = s.search_vector(s.vector(row), 5, mode=mode)
    return out


def test_bad_files_are_skipped_counted_and_listed(albums, tmp_path, featurizer, monkeypatch):
    # GIVEN a collection with one file of every bad kind next to the good ones
    monkeypatch.setenv("IMAGESEARCH_BUILD_MAX_BYTES", "100000")
    good = png_bytes()
    bad = {
        "text.png": b"just text",
        "truncated.png": good[: len(good) // 2],
        "big.png": noise_png(1, size=300),  # > 100 kB
        "unreadable.png": good,
    }
    for name, data in bad.items():
        write(os.path.join(albums, "bad", name), data)
    os.chmod(os.path.join(albums, "bad", "unreadable.png"), 0)
    write(os.path.join(albums, "loose.png"), good)  # not in an album folder
    monkeypatch.setenv("IMAGESEARCH_MAX_PIXELS", "1000000")
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb, format="PNG")
    shutil.copy(bomb, os.path.join(albums, "bad", "bomb.png"))
    # WHEN building
    report = _build(albums, str(tmp_path / "idx"), featurizer)
    # THEN the build succeeds with the 40 good images and says exactly what it skipped
    reasons = {os.path.basename(s["where"]): s["reason"] for s in report["skipped_files"]}
    if os.geteuid() == 0:  # root reads files whatever their mode
        reasons.setdefault("unreadable.png", "unreadable")
        assert report["count"] == 41
    else:
        assert report["count"] == 40
    assert reasons == {
        "text.png": "bad_image",
        "truncated.png": "bad_image",
        "big.png": "too_large",
        "unreadable.png": "unreadable",
        "bomb.png": "bad_image",
        "loose.png": "not_in_album",
    }
    assert report["skipped_by_reason"]["bad_image"] == 3


def test_unreadable_file_is_reported(albums, tmp_path, featurizer, monkeypatch):
    from imagesearch.model import sources

    def broken(path):
        def read():
            raise PermissionError(13, "Permission denied", path)

        return read

    real = sources._read_file
    monkeypatch.setattr(sources, "_read_file", lambda p: broken(p) if p.endswith("_00001.png") else real(p))
    report = _build(albums, str(tmp_path / "idx"), featurizer)
    assert report["skipped_by_reason"] == {"unreadable": 10} and report["count"] == 30


def test_nothing_indexable_is_an_error(tmp_path, featurizer):
    write(str(tmp_path / "in" / "a" / "x.png"), b"nope")
    with pytest.raises(SearchError, match="no image"):
        _build(str(tmp_path / "in"), str(tmp_path / "idx"), featurizer)


def test_self_exclusion_and_duplicates(albums, tmp_path, featurizer):
    # GIVEN the same image stored twice, under two keys
    shutil.copy(os.path.join(albums, "brick", "brick_00000.png"), os.path.join(albums, "wood", "copy.png"))
    root = str(tmp_path / "idx")
    _build(albums, root, featurizer)
    s = OpenIndex.open(root, featurizer=featurizer)
    with open(os.path.join(albums, "brick", "brick_00000.png"), "rb") as f:
        data = f.read()
    # WHEN searching with it THEN neither copy comes back, and no model ran
    answer = search_image_bytes(s, data, 10)
    keys = [r["key"] for r in answer["results"]]
    assert "gallery/brick/brick_00000.png" not in keys and "gallery/wood/copy.png" not in keys
    assert len(keys) == 10 and answer["timings_ms"]["featurize"] == 0.0
    assert answer["ok"] is True and answer["index"] == {
        "version": s.version,
        "count": 41,
        "mode": s.default_mode,
        "bands": {k: s.manifest["bands"][k] for k in ("near_duplicate", "similar")},  # issue 23
    }
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_new_image_is_featurized_and_same_album_ranks_high(albums, tmp_path, featurizer):
    root = str(tmp_path / "idx")
    _build(albums, root, featurizer)
    s = OpenIndex.open(root, featurizer=featurizer)
    assert s.featurizer is featurizer  # reused: same digest and size
    import io

    from imagesearch.model.sample_data import render

    buf = io.BytesIO()
    render("checker", 99).save(buf, format="PNG")
    answer = search_image_bytes(s, buf.getvalue(), 3, mode="exact")
    assert answer["timings_ms"]["featurize"] > 0
    assert len(answer["results"]) == 3
    with pytest.raises(SearchError) as e:
        search_image_bytes(s, b"not an image", 3)
    assert e.value.code == "bad_image"


def test_add_then_remove_equals_a_fresh_build(albums, tmp_path, featurizer):
    # GIVEN an index of the collection without the dots album
    extra = str(tmp_path / "extra")
    shutil.move(os.path.join(albums, "dots"), os.path.join(extra, "dots"))
    root = str(tmp_path / "idx")
    _build(albums, root, featurizer)
    first = read_current(root)
    before = _answers(root)
    # WHEN the dots album is added, then removed
    added = add_images(extra, root, featurizer=featurizer, config=_config())
    assert added["added"] == 4 and added["count"] == 40 and added["parent"] == first
    assert {k for k, _ in _answers(root)} >= {"gallery/dots/dots_00000.png"}
    removed = remove_images(root, prefixes=["gallery/dots/"])
    assert removed["removed"] == 4 and removed["count"] == 36
    # THEN every answer equals the one of the original build
    assert _answers(root) == before
    # AND a fresh build of all 40 equals the index after the add
    fresh = str(tmp_path / "fresh")
    shutil.move(os.path.join(extra, "dots"), os.path.join(albums, "dots"))
    _build(albums, fresh, featurizer)
    add_images(albums, root, featurizer=featurizer, config=_config())
    assert _answers(root) == _answers(fresh)
    a, b = OpenIndex.open(root), OpenIndex.open(fresh)
    assert a.manifest["source_digest"] == b.manifest["source_digest"]
    assert np.array_equal(np.asarray(a._vectors), np.asarray(b._vectors))


def test_add_skips_unchanged_and_replaces_changed(albums, tmp_path, featurizer):
    root = str(tmp_path / "idx")
    _build(albums, root, featurizer)
    v1 = read_current(root)
    report = add_images(albums, root, featurizer=featurizer)
    assert report["unchanged"] == 40 and report["version"] == v1  # nothing to do: no new version
    shutil.copy(
        os.path.join(albums, "brick", "brick_00000.png"), os.path.join(albums, "wood", "wood_00000.png")
    )
    report = add_images(albums, root, featurizer=featurizer)
    assert report["replaced"] == 1 and report["added"] == 0 and report["count"] == 40


def test_remove_unknown_keys_is_a_no_op(albums, tmp_path, featurizer):
    root = str(tmp_path / "idx")
    _build(albums, root, featurizer)
    v1 = read_current(root)
    report = remove_images(root, keys=["gallery/none/x.png"])
    assert (
        report["removed"] == 0 and report["not_found"] == ["gallery/none/x.png"] and read_current(root) == v1
    )


def test_if_changed_skips_an_identical_rebuild(albums, tmp_path, featurizer):
    root = str(tmp_path / "idx")
    first = _build(albums, root, featurizer)
    again = _build(albums, root, featurizer, if_changed=True)
    assert again["unchanged"] is True and again["version"] == first["version"]
    write(os.path.join(albums, "new", "n.png"), noise_png(5))
    third = _build(albums, root, featurizer, if_changed=True)
    assert third["unchanged"] is False and third["count"] == 41


def test_source_digest_is_order_free():
    assert source_digest([("b", "2"), ("a", "1")]) == source_digest([("a", "1"), ("b", "2")])
    assert source_digest([("a", "1")]) != source_digest([("a", "2")])
