"""The labelled near-duplicate set: real photographs (scikit-image) copied the ways people copy photos."""

from __future__ import annotations

import io

import pytest
from imagesearch.model import near_duplicate_set as nds
from PIL import Image, ImageOps

pytestmark = pytest.mark.skipif(not nds.available(), reason="scikit-image (dev extras) is not installed")

LONG = 300  # small originals keep the test cheap; the build uses 2400 px


@pytest.fixture(scope="module")
def images():
    return nds.generate("evaluation", long_side=LONG, heic=False)


def test_each_photo_has_every_kind_of_copy(images):
    groups = {i.group for i in images}
    assert len(groups) == len(nds.photo_names("evaluation"))
    for group in groups:
        kinds = [i.variant for i in images if i.group == group]
        assert kinds == ["original", "quality", "resized", "cropped", "brightened", "sideways"]


def test_the_copies_are_what_their_names_say(images):
    by = {(i.group, i.variant): i for i in images}
    group = images[0].group
    original = Image.open(io.BytesIO(by[group, "original"].data))
    assert max(original.size) == LONG
    resized = Image.open(io.BytesIO(by[group, "resized"].data))
    assert max(resized.size) == round(LONG * 2 / 3)  # 2400 -> 1600 px at full size
    cropped = Image.open(io.BytesIO(by[group, "cropped"].data))
    assert 0.9 * original.width <= cropped.width <= original.width
    assert len(by[group, "quality"].data) < len(by[group, "original"].data)
    sideways = Image.open(io.BytesIO(by[group, "sideways"].data))
    assert sideways.getexif()[nds.EXIF_ORIENTATION] == nds.ROTATE_CW_ON_DISPLAY
    assert sideways.size == original.size[::-1]
    assert ImageOps.exif_transpose(sideways).size == original.size  # upright once the tag is applied


def test_the_set_is_deterministic_and_the_splits_share_no_photo(images):
    again = nds.generate("evaluation", long_side=LONG, heic=False)
    assert [i.data for i in again] == [i.data for i in images]
    assert not set(nds.photo_names("calibration")) & set(nds.photo_names("evaluation"))
    assert set(nds.photo_names("all")) == set(nds.PHOTOS)
    assert not set(nds.GREY_PHOTOS) & set(nds.photo_names("all"))


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        nds.photo_names("training")


def test_heic_copies_only_when_the_engine_reads_heif(monkeypatch):
    from imagesearch.model import images as engine_images

    monkeypatch.setattr(engine_images, "ALLOWED_FORMATS", ("PNG", "JPEG"))
    assert nds._heic_encoder() is False
    assert "heic" not in {i.variant for i in nds.generate("calibration", long_side=64)}


def test_the_set_is_written_as_an_album(images, tmp_path):
    paths = nds.write_set(images[:3], str(tmp_path), album="copies")
    assert [p.split("/")[-2:] for p in paths] == [["copies", i.name] for i in images[:3]]
    described = nds.describe(images, "evaluation", LONG)
    assert described["photos"] == len({i.group for i in images}) and described["long_side"] == LONG


def test_a_made_set_is_kept_on_disk_and_read_back_by_the_next_process(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    nds._generate.cache_clear()  # this process's copy stands for another process's
    made = nds.generate("evaluation", long_side=LONG, heic=False, seed=3)
    kept = list(nds.cache_root().glob("*/set.json"))
    assert len(kept) == 1
    nds._generate.cache_clear()
    assert nds.generate("evaluation", long_side=LONG, heic=False, seed=3) == made
    # a damaged copy (a file gone) is made again, not trusted, and replaced
    next(kept[0].parent.glob("*.jpg")).unlink()
    nds._generate.cache_clear()
    assert nds.generate("evaluation", long_side=LONG, heic=False, seed=3) == made
    assert len(list(kept[0].parent.glob("*.jpg"))) == len(made)
    nds._generate.cache_clear()


def test_a_process_that_finds_the_set_being_made_waits_and_reads_it(tmp_path, monkeypatch):
    import fcntl
    import threading
    import time

    monkeypatch.setenv("HOME", str(tmp_path))
    nds._generate.cache_clear()
    folder = nds._cache_folder("evaluation", LONG, 5, False, False)
    folder.parent.mkdir(parents=True)
    # GIVEN another process making the set (it holds the lock)
    with open(folder.with_name(folder.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        got = []
        waiting = threading.Thread(target=lambda: got.append(
            nds.generate("evaluation", long_side=LONG, heic=False, seed=5)))
        waiting.start()
        time.sleep(1.0)  # the thread reaches the lock (not a timing assertion)
        # WHEN that process writes its set and lets go
        theirs = [nds.LabelledImage("g", "original", b"made by the other process", ".jpg")]
        nds._write_cached(folder, theirs)
    waiting.join(timeout=60)
    # THEN the waiting one read that set instead of making its own
    assert got == [theirs]
    nds._generate.cache_clear()
