"""Decoding refuses every kind of bad file with bad_image, sniffing content, never extensions."""

import io

import pytest
from imagesearch.errors import SearchError
from imagesearch.model.images import content_hash, decode_image
from PIL import Image

from .conftest import png_bytes


def _bomb() -> bytes:
    # 12,000 x 12,000 one-bit pixels compress to a few kilobytes.
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, format="PNG")
    return buf.getvalue()


def _bad_files() -> dict[str, bytes]:
    good = png_bytes()
    return {
        "empty": b"",
        "text": b"hello, I am not an image\n" * 10,
        "truncated": good[: len(good) // 2],
        "corrupt": good[:40] + bytes(len(good) - 40),
        "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "bomb": _bomb(),
    }


@pytest.mark.parametrize("kind", list(_bad_files()))
def test_bad_files_are_refused(kind):
    with pytest.raises(SearchError) as e:
        decode_image(_bad_files()[kind], max_pixels=1_000_000)
    assert e.value.code == "bad_image"


def test_pillow_bomb_warning_is_an_error(monkeypatch):
    # GIVEN Pillow's own limit below the image size (between 1x and 2x: Pillow only warns there)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = png_bytes(size=(40, 40))  # 1,600 pixels
    # WHEN decoding with a generous limit of our own THEN the warning becomes a refusal
    with pytest.raises(SearchError, match="bomb"):
        decode_image(data, max_pixels=10**9)


def test_grey_and_palette_images_become_rgb():
    for mode in ("L", "P", "RGBA", "1"):
        buf = io.BytesIO()
        Image.new(mode, (10, 12)).save(buf, format="PNG")
        im = decode_image(buf.getvalue(), max_pixels=1000)
        assert im.mode == "RGB" and im.size == (10, 12)


def test_content_not_extension_decides():
    buf = io.BytesIO()
    Image.new("RGB", (5, 5), (1, 2, 3)).save(buf, format="JPEG")
    assert decode_image(buf.getvalue(), max_pixels=100).size == (5, 5)


def test_content_hash_is_sha256():
    assert content_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
