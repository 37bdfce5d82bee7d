"""The decode benches' helpers on tiny inputs (no timing asserted)."""

import io

import decode_memory
import lane_latency
import phone_photos
from doc_section import write_section
from PIL import Image


def test_a_section_is_replaced_between_its_markers_and_appended_once(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Report\n\nkept\n")
    write_section("decode-speed", "## A\n\nfirst", doc)
    write_section("other", "## B", doc)
    write_section("decode-speed", "## A\n\nsecond", doc)
    text = doc.read_text()
    assert text.startswith("# Report\n\nkept\n")
    assert "second" in text and "first" not in text and text.count("decode-speed: begin") == 1
    assert text.index("## A") < text.index("## B")


def test_phone_photos_carry_orientation_and_gps():
    data = phone_photos.encode(phone_photos.phone_image(1, (64, 48)))
    im = Image.open(io.BytesIO(data))
    exif = im.getexif()
    assert im.size == (48, 64)  # stored on its side
    assert exif[phone_photos.ORIENTATION] == 6 and exif.get_ifd(phone_photos.GPS_IFD)[2]


def test_the_worst_png_and_the_percentile():
    im = Image.open(io.BytesIO(decode_memory.worst_png(20)))
    assert (im.format, im.mode, im.size) == ("PNG", "RGBA", (20, 20))
    assert decode_memory.cap_side() ** 2 <= 40_000_000
    assert lane_latency.p95(list(range(1, 101))) == 95
