"""The album-folder walk: one rule for the index build and the publisher (docs/contracts.md, Keys)."""

import pytest
from imagesearch.errors import SearchError
from imagesearch.keys import safe_album, safe_name
from imagesearch.model.albums import walk_albums
from imagesearch.model.sources import local_sources


def _tree(root, files):
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode())


def test_the_walk_rule(tmp_path):
    # GIVEN albums next to every kind of entry the rule talks about
    clash_album = safe_album("my album")  # a folder already named what "my album" becomes
    clash_file = safe_name("a b.png")  # a file already named what "a b.png" becomes
    _tree(tmp_path, [
        "wood/b.png", "wood/a.jpg", "wood/.DS_Store",
        "wood/nested/deep.png",
        "my album/x.png", f"{clash_album}/y.png",
        "clash/a b.png", f"clash/{clash_file}",
        "loose.png", ".hidden/z.png",
    ])
    (tmp_path / "empty").mkdir()
    # WHEN walking it
    walk = walk_albums(tmp_path)
    # THEN albums and files come in name order with safe names, hidden entries silently left out
    assert list(walk.albums) == ["clash", clash_album, "wood"]
    assert [f.name for f in walk.albums["wood"]] == ["a.jpg", "b.png"]
    # AND the first entry in name order keeps a colliding safe name; the later one is reported
    assert [f.path.name for f in walk.albums[clash_album]] == ["x.png"]  # "my album" sorts first
    assert [f.path.name for f in walk.albums["clash"]] == ["a b.png"]
    skipped = {s["where"][len(str(tmp_path)) + 1:]: s["reason"] for s in walk.skipped}
    assert skipped == {
        "loose.png": "not_in_album",  # files outside album folders
        "wood/nested": "not_in_album",  # folders inside albums are not descended into
        clash_album: "duplicate_key",
        f"clash/{clash_file}": "duplicate_key",
    }
    assert all(s["message"] for s in walk.skipped)
    # AND keys are the contract's
    (x,) = walk.albums[clash_album]
    assert x.gallery_key == f"gallery/{clash_album}/x.png" and x.album_key == f"albums/{clash_album}/x.png"


def test_build_sources_are_the_walk(tmp_path):
    _tree(tmp_path, ["wood/a b.png", "wood/c.png", "stray.txt"])
    walk = walk_albums(tmp_path)
    sources, skipped = local_sources(str(tmp_path))
    assert [s.key for s in sources] == [f.gallery_key for f in walk.files()]
    assert skipped == walk.skipped and [s["reason"] for s in skipped] == ["not_in_album"]


def test_a_missing_folder_is_bad_request(tmp_path):
    with pytest.raises(SearchError) as e:
        walk_albums(tmp_path / "missing")
    assert e.value.code == "bad_request"
