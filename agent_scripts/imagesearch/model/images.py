"""Image bytes in, a safe decoded RGB image out, on the instance: content hashing, and the shared
pixel pipeline (image_prep) within this process's memory budget.

The decode itself (formats, EXIF orientation, reduced-scale JPEG, strip-wise RGB) is image_prep's,
shared with the featurize function so both give the network the same input. What is the
instance's own stays here: the decode memory gate and per-format pixel caps (decode_budget), the
cost a large-decode lane reads, SearchError for refusals, and the display copies' resize.
"""

from __future__ import annotations

import hashlib

import image_prep
from image_prep import ACCEPTED_TEXT, ALLOWED_FORMATS, BACKGROUND, to_rgb
from PIL import Image

from imagesearch import decode_budget
from imagesearch.decode_budget import PixelGate
from imagesearch.errors import SearchError

# Re-exported: callers name them from here (the search function's upload check says the same text).
__all__ = ["ACCEPTED_TEXT", "ALLOWED_FORMATS", "BACKGROUND", "content_hash", "decode_cost", "decode_image",
           "file_sha256", "open_oriented", "to_rgb"]


def content_hash(data: bytes) -> str:
    """The sha256 hex digest of an image's bytes (its identity in the index)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _cost(image_format: str | None, size: tuple[int, int]) -> int:
    return size[0] * size[1] * decode_budget.bytes_per_pixel(image_format)


def _decode(data: bytes, *, max_pixels: int, need: tuple[int, int] | None, gate: PixelGate | None,
            max_side: int | None = None) -> Image.Image:
    """image_prep's decode with this process's per-format caps, inside its memory gate; `max_side`:
    resized to fit it before the gate is let go (a full-size result beside the next decode is not)."""
    gate = gate or decode_budget.shared_gate()
    held = [0]

    def hold(im: Image.Image):
        # Counted on the pixels actually decoded (after libjpeg's reduced-scale draft).
        held[0] = _cost(im.format, im.size)
        return gate.hold(held[0])

    try:
        out = image_prep.decode(data, max_pixels=max_pixels, size=need, pixel_cap=decode_budget.pixel_cap,
                                hold=hold, max_side=max_side)
    except image_prep.BadImage as e:
        raise SearchError("bad_image", str(e)) from e
    if held[0] > decode_budget.LARGE_BYTES:
        decode_budget.release_memory()
    return out


def decode_image(data: bytes, *, max_pixels: int, size: tuple[int, int] | None = None,
                 gate: PixelGate | None = None) -> Image.Image:
    """Decode `data` into an upright RGB image, or raise SearchError("bad_image") saying why.

    The format is sniffed from the content (never the extension); truncated or corrupt files,
    non-images and images over `max_pixels` (decompression bombs) are refused before or while
    decoding, never half-read. EXIF orientation is applied. With `size` (the size the caller
    resizes to, e.g. the featurizer's input) a large image comes back reduced, each side still at
    least twice `size` (JPEG decodes at reduced scale); without it, at full size. Decoding holds
    its share of the memory budget in `gate` (default: the process's, decode_budget.shared_gate).
    """
    return _decode(data, max_pixels=max_pixels, need=size, gate=gate)


def decode_cost(data: bytes, *, size: tuple[int, int] | None = None) -> int:
    """The bytes decode_image(data, size=size) will hold, from the header alone (0: not an image).

    What the daemon reads to send a large decode to its own lane before decoding anything.
    """
    found = image_prep.decoded_size(data, size=size)
    return 0 if found is None else _cost(*found)


def open_oriented(data: bytes, *, max_side: int, max_pixels: int | None = None,
                  gate: PixelGate | None = None) -> Image.Image:
    """An upright RGB image whose long side is at most `max_side` (never enlarged), for display copies.

    Decoded at reduced scale where the format allows (JPEG), within the memory budget, then
    resized with Lanczos. Its `info` holds the original's ICC profile only (`icc_profile`, when it
    had one): no EXIF, XMP or GPS. Refuses what decode_image refuses, with the same SearchError("bad_image");
    `max_pixels` None: the cap of this machine's budget (decode_budget.DecodeBudget.from_memory).
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    if max_pixels is None:
        max_pixels = decode_budget.DecodeBudget.from_memory(decode_budget.machine_memory_mib()).max_pixels
    return _decode(data, max_pixels=max_pixels, need=(max_side, max_side), gate=gate, max_side=max_side)
