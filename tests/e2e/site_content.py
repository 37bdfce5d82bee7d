"""Site-bucket contents that follow docs/contracts.md ("Site bucket"), put into the stack's moto bucket.

The page's e2e tests of large albums and page weight need albums of a given size whatever the stack
published: this writes thumbs/, previews/, listings/<album>/<page>.json and the album's entry in
albums.json, the objects the page reads, with boto3 as publish does. Phone-like photos (8 megapixels,
EXIF orientation 6, GPS and camera serial fields) are made here too; their display copies are made
with Pillow the way the contract says (orientation applied, no EXIF, JPEG).
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

PAGE_SIZE = 100
THUMB_LONG_SIDE = 256
PREVIEW_LONG_SIDE = 1280
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


def display_copy(data: bytes, long_side: int) -> bytes:
    """A display copy: orientation applied, long side at most long_side, JPEG without EXIF."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (long_side, long_side))  # decode a large JPEG at a reduced scale
        upright = ImageOps.exif_transpose(img).convert("RGB")
    upright.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=82, optimize=True)  # no exif= argument: none is written
    return out.getvalue()


def phone_display_copies(count: int, cache_dir: Path) -> list[tuple[bytes, bytes]]:
    """(thumb, preview) of `count` phone photos, kept in cache_dir between runs (they take a while)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for seed in range(count):
        thumb, preview = cache_dir / f"{seed}.thumb.jpg", cache_dir / f"{seed}.preview.jpg"
        if not (thumb.exists() and preview.exists()):
            photo = phone_photo(seed)
            preview.write_bytes(display_copy(photo, PREVIEW_LONG_SIDE))
            thumb.write_bytes(display_copy(photo, THUMB_LONG_SIDE))
        copies.append((thumb.read_bytes(), preview.read_bytes()))
    return copies


@dataclass
class SiteAlbum:
    """An album as the page sees it: its name, its files and the entry written into albums.json."""

    name: str
    files: list[str]
    skipped: int = 0

    @property
    def pages(self) -> int:
        return -(-len(self.files) // PAGE_SIZE)

    def entry(self) -> dict:
        return {"name": self.name, "count": len(self.files), "skipped": self.skipped,
                "cover": f"gallery/{self.name}/{self.files[0]}" if self.files else None,
                "pages": self.pages, "page_size": PAGE_SIZE}

    def listing(self, page: int) -> dict:
        chunk = self.files[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
        return {"album": self.name, "page": page, "pages": self.pages, "count": len(self.files),
                "images": [{"key": f"gallery/{self.name}/{file}", "sha256": f"{i:064x}", "width": 1920,
                            "height": 2560, "bytes": 3_000_000} for i, file in enumerate(chunk)]}


def put_json(s3, bucket: str, key: str, body: dict) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode(), ContentType="application/json",
                  CacheControl="no-cache")


def put_album(s3, bucket: str, album: SiteAlbum, copies: list[tuple[bytes, bytes]],
              with_copies: int | None = None) -> None:
    """Write the album's listing pages, and thumbs/previews for its first `with_copies` files (all by
    default; copies are reused in turn). Images past with_copies have no display copies: a test that
    never scrolls to them can check they were never asked for."""
    for page in range(1, album.pages + 1):
        put_json(s3, bucket, f"listings/{album.name}/{page}.json", album.listing(page))
    for i, file in enumerate(album.files[:with_copies]):
        thumb, preview = copies[i % len(copies)]
        for prefix, body in (("thumbs", thumb), ("previews", preview)):
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{album.name}/{file}", Body=body,
                          ContentType="image/jpeg", CacheControl="public, max-age=86400")


def add_to_albums_json(s3, bucket: str, albums: list[SiteAlbum]) -> dict:
    """Add (or replace) these albums in the site's albums.json, keeping the stack's own albums."""
    current = json.loads(s3.get_object(Bucket=bucket, Key="albums.json")["Body"].read())
    names = {a.name for a in albums}
    current["albums"] = [a for a in current["albums"] if a["name"] not in names] + [a.entry() for a in albums]
    put_json(s3, bucket, "albums.json", current)
    return current
