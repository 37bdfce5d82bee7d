"""Odd but valid query images give the same vector as their normalised equivalent (an 8-bit RGB PNG).

Each case builds the odd file and, independently, the RGB picture a person sees when opening it
(first frame, upright, transparency on white, 16-bit scaled to 8); both go through decode_image
and the seeded featurizer, and their vectors must be equal.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from imagesearch.model.images import decode_image
from PIL import Image

W, H = 48, 40  # not square, so a missed rotation changes the picture


def _save(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _blocks(seed: int = 0) -> Image.Image:
    """Four flat colour blocks and a stripe: few colours (exact in a palette), clearly oriented."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 255, (5, 3), dtype=np.uint8)
    a = np.zeros((H, W, 3), dtype=np.uint8)
    a[: H // 2, : W // 2], a[: H // 2, W // 2:] = colours[0], colours[1]
    a[H // 2:, : W // 2], a[H // 2:, W // 2:] = colours[2], colours[3]
    a[2:6, 4:40] = colours[4]
    return Image.fromarray(a, "RGB")


def _vector(featurizer, data: bytes) -> np.ndarray:
    return featurizer.featurize_images([decode_image(data, max_pixels=10_000_000)])[0]


def _white_where_transparent(rgb: Image.Image, alpha: np.ndarray) -> Image.Image:
    a = np.asarray(rgb).copy()
    a[alpha == 0] = 255
    return Image.fromarray(a, "RGB")


def _alpha_mask() -> np.ndarray:
    mask = np.full((H, W), 255, dtype=np.uint8)
    mask[10:30, 12:36] = 0  # a transparent hole in the middle
    return mask


def animated_gif() -> tuple[bytes, Image.Image]:
    first, second = _blocks(1), _blocks(2).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    data = _save(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    return data, first


def cmyk_jpeg() -> tuple[bytes, Image.Image]:
    data = _save(_blocks(3).convert("CMYK"), "JPEG", quality=95)
    # What a viewer shows: the decoded CMYK samples converted to RGB (checked near the source below).
    return data, Image.open(io.BytesIO(data)).convert("RGB")


def png_16bit_grey() -> tuple[bytes, Image.Image]:
    grey = np.asarray(_blocks(4).convert("L"))
    wide = grey.astype(np.uint16) * 257  # full 16-bit range: 255 -> 65535
    data = _save(Image.fromarray(wide), "PNG")  # a uint16 array is a 16-bit grey image
    return data, Image.fromarray(grey, "L").convert("RGB")


def palette_png() -> tuple[bytes, Image.Image]:
    source = _blocks(5)
    paletted = source.quantize(colors=16)
    return _save(paletted, "PNG"), paletted.convert("RGB")


def transparent_png() -> tuple[bytes, Image.Image]:
    rgb, alpha = _blocks(6), _alpha_mask()
    a = np.dstack([np.asarray(rgb), alpha])
    a[alpha == 0, :3] = 0  # what encoders usually store under transparent pixels: black
    return _save(Image.fromarray(a, "RGBA"), "PNG"), _white_where_transparent(rgb, alpha)


def transparent_palette_png() -> tuple[bytes, Image.Image]:
    paletted = _blocks(7).quantize(colors=8)
    a = np.asarray(paletted).copy()
    a[10:30, 12:36] = 8  # an index outside the picture's colours, marked transparent
    palette = (paletted.getpalette() + [0] * 24)[: 8 * 3] + [0, 0, 0]
    im = Image.fromarray(a, "P")
    im.putpalette(palette)
    data = _save(im, "PNG", transparency=8)
    alpha = np.where(a == 8, 0, 255)
    return data, _white_where_transparent(paletted.convert("RGB"), alpha)


def grey_alpha_png() -> tuple[bytes, Image.Image]:
    grey, alpha = _blocks(8).convert("L"), _alpha_mask()
    data = _save(Image.merge("LA", [grey, Image.fromarray(alpha, "L")]), "PNG")
    return data, _white_where_transparent(grey.convert("RGB"), alpha)


def exif_rotated_jpeg() -> tuple[bytes, Image.Image]:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored pixels must be turned 90 degrees clockwise to view
    data = _save(_blocks(9), "JPEG", quality=95, exif=exif.tobytes())
    stored = Image.open(io.BytesIO(data))
    stored.load()
    return data, stored.convert("RGB").transpose(Image.Transpose.ROTATE_270)


CASES = {
    "animated GIF (first frame)": animated_gif,
    "CMYK JPEG": cmyk_jpeg,
    "16-bit grey PNG": png_16bit_grey,
    "palette PNG": palette_png,
    "transparent RGBA PNG": transparent_png,
    "palette PNG with a transparent index": transparent_palette_png,
    "grey + alpha PNG": grey_alpha_png,
    "EXIF-rotated JPEG": exif_rotated_jpeg,
}


@pytest.mark.parametrize("case", list(CASES))
def test_odd_image_gives_the_vector_of_its_normalised_equivalent(featurizer, case):
    odd, seen = CASES[case]()
    normalised = _save(seen, "PNG")
    assert decode_image(odd, max_pixels=10_000_000).size == seen.size
    np.testing.assert_array_equal(_vector(featurizer, odd), _vector(featurizer, normalised))


@pytest.mark.parametrize("case", list(CASES))
def test_decoded_pixels_are_the_picture_a_viewer_sees(case):
    odd, seen = CASES[case]()
    decoded = np.asarray(decode_image(odd, max_pixels=10_000_000), dtype=np.int16)
    assert np.abs(decoded - np.asarray(seen, dtype=np.int16)).max() == 0


def test_cmyk_jpeg_keeps_the_source_colours():
    # The equivalent above is Pillow's own CMYK decode; this checks it is not inverted or garbled.
    data, _ = cmyk_jpeg()
    decoded = np.asarray(decode_image(data, max_pixels=10_000_000), dtype=np.int16)
    assert np.abs(decoded - np.asarray(_blocks(3), dtype=np.int16)).mean() < 6


def test_16bit_grey_is_not_clipped_white():
    data, _ = png_16bit_grey()
    decoded = np.asarray(decode_image(data, max_pixels=10_000_000))
    assert decoded.min() < 200 and len(np.unique(decoded)) > 2


def test_second_frame_is_not_what_is_searched(featurizer):
    data, first = animated_gif()
    second = _blocks(2).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    assert not np.array_equal(_vector(featurizer, data), _vector(featurizer, _save(second, "PNG")))
