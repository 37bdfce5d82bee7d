"""The sample collection is deterministic, labelled, and a prefix-stable function of the seed."""

import hashlib
import os

import pytest
from imagesearch.model import sample_data
from imagesearch.model.sample_data import ALBUMS, cached_collection, generate
from PIL import Image


def _digests(root):
    out = {}
    for album in sorted(os.listdir(root)):
        for name in sorted(os.listdir(os.path.join(root, album))):
            with open(os.path.join(root, album, name), "rb") as f:
                out[f"{album}/{name}"] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_same_seed_same_bytes_and_small_is_prefix_of_large(tmp_path):
    a = generate(str(tmp_path / "a"), count=25, seed=7)
    generate(str(tmp_path / "b"), count=25, seed=7)
    generate(str(tmp_path / "c"), count=30, seed=7)
    generate(str(tmp_path / "d"), count=25, seed=8)
    da, dc = _digests(tmp_path / "a"), _digests(tmp_path / "c")
    assert da == _digests(tmp_path / "b")
    assert all(dc[k] == v for k, v in da.items())
    assert da != _digests(tmp_path / "d")
    assert sum(a.values()) == 25 and len(ALBUMS) >= 8
    assert {"marble", "wood", "brick", "stripes", "checker", "dots", "waves", "clouds"} <= set(a)


def test_images_are_28px_png_and_vary_within_an_album(tmp_path):
    generate(str(tmp_path), count=20, seed=0, size=28)
    first = Image.open(tmp_path / "marble" / "marble_00000.png")
    second = Image.open(tmp_path / "marble" / "marble_00001.png")
    assert first.format == "PNG" and first.size == (28, 28) and first.mode == "RGB"
    assert first.tobytes() != second.tobytes()


def test_the_sample_cache_is_made_once_and_whole(tmp_path, monkeypatch):
    # GIVEN a half collection left by an interrupted writer (no completion marker)
    half = tmp_path / "samples-12-seed3"
    (half / "wood").mkdir(parents=True)
    # WHEN the cache is asked for it
    folder = cached_collection(tmp_path, count=12, seed=3)
    # THEN it holds exactly what generate() writes, is marked complete, and no staging is left
    assert folder == half and (folder / ".complete").is_file()
    generate(str(tmp_path / "direct"), count=12, seed=3)
    (folder / ".complete").rename(tmp_path / "marker")  # _digests reads album folders only
    assert _digests(folder) == _digests(tmp_path / "direct")
    (tmp_path / "marker").rename(folder / ".complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct", "samples-12-seed3"]
    # AND a second call reuses it without generating
    monkeypatch.setattr(sample_data, "generate", lambda *a, **k: pytest.fail("generated twice"))
    assert cached_collection(tmp_path, count=12, seed=3) == folder


def test_copies_add_a_re_saved_jpeg_of_the_first_image_of_that_many_albums(tmp_path):
    # Issue 23: the demo's sample has copies for the Duplicates view; without them, nothing changes.
    counts = generate(str(tmp_path), count=20, seed=0, copies=2)
    plain = generate(str(tmp_path / "plain"), count=20, seed=0)
    first, second = list(plain)[:2]
    assert counts == {**plain, first: plain[first] + 1, second: plain[second] + 1}
    copies = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*_copy.jpg"))
    assert copies == [f"{first}/{first}_00000_copy.jpg", f"{second}/{second}_00000_copy.jpg"]
    cached = cached_collection(tmp_path / "cache", count=12, seed=3, copies=1)
    assert cached.name == "samples-12-seed3-copies1"
