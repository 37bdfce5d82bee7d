"""Phone formats (HEIC, AVIF), EXIF orientation, reduced-scale decoding and the display-copy helper."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from image_prep import decoding
from imagesearch import decode_budget
from imagesearch.decode_budget import PixelGate
from imagesearch.errors import SearchError
from imagesearch.model import images
from imagesearch.model.images import decode_cost, decode_image, open_oriented
from PIL import Image

CAP = 40_000_000
RED, BLUE = (220, 20, 20), (20, 20, 220)


def upright(size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A landscape test picture whose left half is red and right half blue (so rotation shows)."""
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, size[0] // 2, size[1]))
    return im


# Stored sideways with the tag that makes it upright again (what phones write).
STORED = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
          2: Image.Transpose.FLIP_LEFT_RIGHT}


def encode(im: Image.Image, fmt: str, orientation: int = 1, **save) -> bytes:
    stored = im.transpose(STORED[orientation]) if STORED[orientation] is not None else im
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 29.6)  # a GPS latitude, as phones write
    out = io.BytesIO()
    stored.save(out, fmt, exif=exif.tobytes(), **save)
    return out.getvalue()


def assert_upright(im: Image.Image, size: tuple[int, int]) -> None:
    assert im.mode == "RGB" and im.size == size
    a = np.asarray(im, dtype=np.int16)
    left, right = a[:, : size[0] // 4].mean(axis=(0, 1)), a[:, -size[0] // 4 :].mean(axis=(0, 1))
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0], (left, right)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8, 2])
def test_every_format_decodes_upright(fmt, orientation):
    # GIVEN a picture stored sideways (or mirrored) with the EXIF tag that undoes it
    if orientation == 2:  # a mirrored picture: store the mirror so the tag brings it back
        data = encode(upright(), fmt, 2, quality=90)
    else:
        data = encode(upright(), fmt, orientation, quality=90)
    # WHEN decoded, for the model or at full size THEN it comes back upright, RGB
    assert_upright(decode_image(data, max_pixels=CAP), (400, 300))
    small = decode_image(data, max_pixels=CAP, size=(32, 32))
    assert small.size[0] >= 64 and small.size[1] >= 64
    assert_upright(small, small.size)


def test_heic_and_avif_are_in_the_allowed_formats_and_the_refusal_names_them():
    assert {"HEIF", "AVIF"} <= set(images.ALLOWED_FORMATS)
    with pytest.raises(SearchError) as e:
        decode_image(b"GIF89 this is not an image at all" * 10, max_pixels=CAP)
    assert e.value.code == "bad_image" and "HEIC" in e.value.message and "AVIF" in e.value.message


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_truncated_heic_and_avif_are_bad_images(fmt):
    data = encode(upright(), fmt, quality=60)
    with pytest.raises(SearchError) as e:
        decode_image(data[: len(data) // 2], max_pixels=CAP)
    assert e.value.code == "bad_image"


def test_a_large_jpeg_is_decoded_at_reduced_scale_at_least_twice_the_size_asked():
    # GIVEN a 4000 x 3000 JPEG stored sideways (orientation 6)
    data = encode(upright((4000, 3000)), "JPEG", 6, quality=85)
    # WHEN decoded for a 224 px model input THEN libjpeg decoded 1/4 of each side (1000 x 750),
    # upright, each side still at least twice 224
    im = decode_image(data, max_pixels=CAP, size=(224, 224))
    assert im.size == (1000, 750)
    assert_upright(im, im.size)
    assert decode_cost(data, size=(224, 224)) == 1000 * 750 * decode_budget.BYTES_PER_PIXEL
    # ... and without a size, at full size
    assert decode_image(data, max_pixels=CAP).size == (4000, 3000)


def test_the_reduced_input_is_close_to_the_full_scale_one():
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).resize((3200, 2400),
                                                                                      Image.BICUBIC)
    data = encode(base, "JPEG", quality=90)
    full = decode_image(data, max_pixels=CAP).resize((224, 224), Image.BILINEAR)
    reduced = decode_image(data, max_pixels=CAP, size=(224, 224)).resize((224, 224), Image.BILINEAR)
    diff = np.abs(np.asarray(full, dtype=np.float32) - np.asarray(reduced, dtype=np.float32)).mean()
    assert diff < 3.0  # of 255: the same picture to the model


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "I;16", "1", "CMYK"])
def test_strip_wise_conversion_equals_converting_the_whole_image(mode, monkeypatch):
    # GIVEN strips far smaller than the image (so several strips and a short last one)
    monkeypatch.setattr(decoding, "_STRIP_PIXELS", 999)  # image_prep: the shared pixel pipeline
    rng = np.random.default_rng(1)
    rgba = Image.fromarray(rng.integers(0, 255, (203, 157, 4), dtype=np.uint8), "RGBA")
    im = rgba.convert(mode) if mode != "I;16" else Image.fromarray(
        rng.integers(0, 65535, (203, 157), dtype=np.uint16))
    if mode == "P":
        im.info["transparency"] = 3
    for factor in (1, 3, 4):
        got = decoding._reduced_rgb(im, factor)
        want = decoding.to_rgb(im)
        want = want.reduce(factor) if factor > 1 else want
        assert got.size == want.size and got.tobytes() == want.tobytes(), (mode, factor)


def test_transparent_pixels_are_white_after_a_reduced_decode():
    im = Image.new("RGBA", (2000, 1000), (0, 0, 0, 0))
    data = io.BytesIO()
    im.save(data, "PNG")
    small = decode_image(data.getvalue(), max_pixels=CAP, size=(100, 100))
    assert small.size == (400, 200) and small.getpixel((10, 10)) == (255, 255, 255)


def test_open_oriented_gives_an_upright_image_within_the_long_side():
    data = encode(upright((4032, 3024)), "JPEG", 6, quality=85)
    thumb = open_oriented(data, max_side=256, max_pixels=CAP)
    assert max(thumb.size) == 256 and thumb.size == (256, 192)
    assert_upright(thumb, thumb.size)
    # A small image is never enlarged; HEIC works the same way
    small = open_oriented(encode(upright((200, 150)), "HEIF", 6, quality=80), max_side=1280, max_pixels=CAP)
    assert_upright(small, (200, 150))


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_open_oriented_refuses_what_decode_image_refuses(data):
    with pytest.raises(SearchError) as e:
        open_oriented(data, max_side=256, max_pixels=CAP)
    assert e.value.code == "bad_image"


def test_the_cap_is_per_format_by_what_its_decoder_holds():
    # GIVEN a cap of 10,000 pixels for the common formats
    png, webp = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (100, 90)).save(png, "PNG")  # 9,000 pixels
    Image.new("RGB", (100, 90)).save(webp, "WEBP")
    # THEN a PNG of 9,000 pixels is admitted; a WebP's decoder holds 1.7 times as much, so it is not
    assert decode_image(png.getvalue(), max_pixels=10_000).size == (100, 90)
    with pytest.raises(SearchError, match="over the limit of 5882 for WEBP"):
        decode_image(webp.getvalue(), max_pixels=10_000)


def test_decode_cost_of_a_non_image_is_zero():
    assert decode_cost(b"junk", size=(224, 224)) == 0


def test_the_gate_lets_through_what_fits_and_holds_the_rest():
    gate = PixelGate(100)
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def big() -> None:
        with gate.hold(70):
            order.append("big in")
            inside.set()
            release.wait(30)
        order.append("big out")

    first = threading.Thread(target=big)
    first.start()
    assert inside.wait(30)
    # WHEN something small arrives it fits beside (70 + 30 <= 100)
    with gate.hold(30):
        order.append("small in")
    # WHEN a second big one arrives it waits until the first is out
    inside.clear()
    second = threading.Thread(target=big)
    second.start()
    assert not inside.wait(0.2)  # not in yet (a bound on waiting, not a timing assertion)
    assert gate.held == 70
    release.set()
    first.join(30)
    second.join(30)
    assert order == ["big in", "small in", "big out", "big in", "big out"]


def test_a_decode_larger_than_the_whole_budget_still_runs_alone():
    gate = PixelGate(10)
    with gate.hold(1_000):
        assert gate.held == 10
    assert gate.held == 0


def test_decode_holds_its_cost_in_the_gate_it_is_given():
    seen = []

    class Spy(PixelGate):
        def hold(self, cost):
            seen.append(cost)
            return super().hold(cost)

    data = encode(upright((800, 600)), "PNG")
    decode_image(data, max_pixels=CAP, size=(32, 32), gate=Spy(1 << 30))
    assert seen == [800 * 600 * decode_budget.BYTES_PER_PIXEL]


def test_a_phone_album_is_indexed_whole_jpeg_heic_and_avif(tmp_path, featurizer):
    # GIVEN an 8-megapixel portrait stored sideways (orientation 6) with GPS, and its HEIC and AVIF
    # copies at the same size (encoded with the fastest presets: seconds, not half a minute)
    from imagesearch.model.pipeline import Limits, featurize_sources
    from imagesearch.model.sources import local_sources
    from pillow_heif import register_heif_opener

    register_heif_opener()  # to write the HEIC copy (the engine registers it on its first decode)
    rng = np.random.default_rng(5)
    cells = rng.integers(0, 255, (12, 9, 3), dtype=np.uint8)
    photo = Image.fromarray(cells).resize((2448, 3264), Image.BICUBIC)  # upright portrait, 8 MP
    album = tmp_path / "albums" / "phone"
    album.mkdir(parents=True)
    (album / "IMG_1.jpg").write_bytes(encode(photo, "JPEG", 6, quality=90))  # stored landscape
    (album / "IMG_1.heic").write_bytes(encode(photo, "HEIF", 6, quality=70,
                                              enc_params={"preset": "ultrafast"}))
    (album / "IMG_1.avif").write_bytes(encode(photo, "AVIF", 6, quality=70, speed=10))
    # WHEN the build's pipeline reads them
    sources, skipped = local_sources(str(tmp_path / "albums"))
    got = featurize_sources(sources, featurizer, Limits(max_bytes=1 << 26, max_pixels=CAP), threads=2)
    # THEN all three are indexed, and each comes out the same way up as the photo
    assert not skipped and not got.skipped
    assert sorted(got.keys) == [f"gallery/phone/IMG_1.{ext}" for ext in ("avif", "heic", "jpg")]
    want = np.asarray(photo.resize((32, 32), Image.BILINEAR), dtype=np.float32)
    for path in sorted(album.iterdir()):
        im = decode_image(path.read_bytes(), max_pixels=CAP, size=(32, 32)).resize((32, 32), Image.BILINEAR)
        assert np.abs(np.asarray(im, dtype=np.float32) - want).mean() < 12, path.name


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF"])
def test_only_the_colour_profile_travels_with_the_pixels(fmt):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(upright(), fmt, 6, icc_profile=icc)
    for im in (decode_image(data, max_pixels=CAP), open_oriented(data, max_side=100, max_pixels=CAP)):
        assert im.info == {"icc_profile": icc}
        out = io.BytesIO()
        im.save(out, "JPEG", icc_profile=im.info.get("icc_profile"))
        saved = Image.open(io.BytesIO(out.getvalue()))
        assert not saved.getexif() and "xmp" not in saved.info


def test_a_small_decode_fits_beside_the_worst_admitted_image():
    budget = decode_budget.DecodeBudget.from_memory(1024)
    gate = PixelGate(budget.budget_bytes)
    phone_jpeg_for_the_model = 1008 * 756 * decode_budget.BYTES_PER_PIXEL  # 12 MP at 1/4 scale
    with gate.hold(budget.max_pixels * decode_budget.BYTES_PER_PIXEL):
        assert gate.held + phone_jpeg_for_the_model <= gate.capacity  # so it would not wait
