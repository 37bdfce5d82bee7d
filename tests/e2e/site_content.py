"""Site-bucket contents that follow docs/contracts.md ("Site bucket"), put into the stack's moto bucket.

The page's e2e tests of large albums and page weight need albums of a given size whatever the stack
published: this writes thumbs/, previews/, listings/<album>/<page>.json and the album's entry in
albums.json, the objects the page reads, with the listing writer publish and ingest use
(site_albums.pages). Phone-like photos (8 megapixels,
EXIF orientation 6, GPS and camera serial fields) are made here too; their display copies are made
by the one maker publish and ingest use (imagesearch.model.display).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from imagesearch.model.display import CACHE_CONTROL, CONTENT_TYPE, JPEG_QUALITY, SIZES, make_display_copies
from PIL import Image, ImageDraw
from site_albums.pages import merge_albums_json, write_album

PHONE_SIZE = (3264, 2448)  # 8 megapixels, stored landscape with orientation 6 (a portrait)
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def phone_photo(seed: int, size: tuple[int, int] = PHONE_SIZE) -> bytes:
    """A phone-like JPEG: a sky-to-ground scene with objects (sharp edges) and sensor grain, stored
    sideways with EXIF orientation 6, GPS and a camera serial, like a portrait from a phone."""
    rng = random.Random(seed)
    width, height = size
    sky = tuple(rng.randrange(90, 220) for _ in range(3))
    ground = tuple(rng.randrange(20, 140) for _ in range(3))
    column = Image.linear_gradient("L").resize((1, height))
    img = Image.composite(Image.new("RGB", (1, height), ground), Image.new("RGB", (1, height), sky),
                          column).resize(size)
    draw = ImageDraw.Draw(img)
    for _ in range(40):  # objects: what gives a real photo's thumbnail its detail (and its bytes)
        x, y = rng.randrange(width), rng.randrange(height // 3, height)
        w, h = rng.randrange(40, width // 4), rng.randrange(40, height // 4)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=colour, outline=(0, 0, 0), width=rng.randrange(1, 12))
    # Texture (foliage, fabric, clouds: fine colour detail) and sensor grain.
    texture = Image.merge("RGB", [Image.effect_noise((width // 24, height // 24), 90).resize(size)
                                  for _ in range(3)])
    img = Image.blend(img, texture, 0.3)
    img = Image.blend(img, Image.effect_noise(size, 40).convert("RGB"), 0.06)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 12"
    exif[0xA431] = f"SERIAL{seed:06d}"  # BodySerialNumber
    exif[GPS_IFD] = {1: "N", 2: (52.0, 22.0, 1.5 + seed), 3: "E", 4: (4.0, 53.0, 2.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def phone_display_copies(count: int, cache_dir: Path) -> list[tuple[bytes, bytes]]:
    """(thumb, preview) of `count` phone photos, kept under cache_dir between runs (they take a while),
    in a folder named by the display copies' sizes and qualities so a change of those remakes them."""
    cache_dir = cache_dir / "-".join(f"{prefix}{SIZES[prefix]}q{JPEG_QUALITY[prefix]}"
                                     for prefix in sorted(SIZES))
    cache_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for seed in range(count):
        thumb, preview = cache_dir / f"{seed}.thumb.jpg", cache_dir / f"{seed}.preview.jpg"
        if not (thumb.exists() and preview.exists()):
            made = make_display_copies(phone_photo(seed)).copies
            preview.write_bytes(made["previews"])
            thumb.write_bytes(made["thumbs"])
        copies.append((thumb.read_bytes(), preview.read_bytes()))
    return copies


@dataclass
class SiteAlbum:
    """An album as the page sees it: its name, its files and how many files the index skipped."""

    name: str
    files: list[str]
    skipped: int = 0

    def images(self) -> list[dict]:
        """The listing rows of its files (as the index would report a 1920x2560 phone photo)."""
        return [{"key": f"gallery/{self.name}/{file}", "sha256": f"{i:064x}", "width": 1920, "height": 2560,
                 "bytes": 3_000_000} for i, file in enumerate(self.files)]


def put_album(s3, bucket: str, album: SiteAlbum, copies: list[tuple[bytes, bytes]],
              with_copies: int | None = None) -> dict:
    """Write the album's listing pages (with the writer publish and ingest use) and thumbs/previews for
    its first `with_copies` files (all by default; copies are reused in turn); its albums.json entry.
    Images past with_copies have no display copies: a test that never scrolls to them can check
    they were never asked for."""
    for i, file in enumerate(album.files[:with_copies]):
        thumb, preview = copies[i % len(copies)]
        for prefix, body in (("thumbs", thumb), ("previews", preview)):
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{album.name}/{file}", Body=body,
                          ContentType=CONTENT_TYPE, CacheControl=CACHE_CONTROL)
    return write_album(s3, bucket, album.name, album.images(), album.skipped)


def add_to_albums_json(s3, bucket: str, entries: list[dict]) -> dict:
    """Add (or replace) these albums' entries in the site's albums.json, keeping the stack's own; an
    entry {"name", "remove": True} takes its album out."""
    return merge_albums_json(s3, bucket, {e["name"]: None if e.get("remove") else e for e in entries})
