"""A labelled near-duplicate set made from real photographs that scikit-image ships (`skimage.data`).

Each photo is scaled up to a phone-sized original (long side 2400 px, JPEG) and copied the ways
people copy photos: re-encoded at low quality, resized to 1600 px, cropped by up to 10%,
brightened by 15%, stored sideways with an EXIF orientation tag, and as HEIC when the engine
decodes HEIF (imagesearch.model.images.ALLOWED_FORMATS) and pillow-heif is installed. Rows of one photo
are copies of each other; rows of different photos are not.

The photos are split in two halves: `calibration` (the build measures the near-duplicate
threshold on it, imagesearch.index.calibration) and `evaluation` (bench/duplicates_quality.py measures
the duplicate finder on it), so the quality figure is never measured on the photos the
threshold was fitted to. Operator-side only: scikit-image is a dev dependency (pyproject), never
the instance's; `available()` says whether it is installed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from imagesearch.file_lock import exclusive_lock

# Colour photographs of scenes and objects among skimage.data's bundled files (phone photos are
# colour). Left out: drawings and synthetic patterns, the texture samples (grass, gravel, brick,
# microaneurysms: a crop is the same texture again) and the stereo partner motorcycle_right (a
# near-copy of motorcycle_left).
PHOTOS = (
    "astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
    "motorcycle_left.png", "retina.jpg", "rocket.jpg",
)
# Grey photographs: only with grey=True. The seeded network scores grey photos of different scenes
# as near-copies of each other (cell and moon at 0.98; docs/benchmarks.md), so they would measure
# the weights, not the finder; the bench reports them apart (--with-grey).
GREY_PHOTOS = ("camera.png", "moon.png", "coins.png", "page.png", "text.png", "cell.png")
SPLITS = ("calibration", "evaluation", "all")
VARIANTS = ("original", "quality", "resized", "cropped", "brightened", "sideways", "heic")
LONG_SIDE = 2400
EXIF_ORIENTATION = 0x0112
ROTATE_CW_ON_DISPLAY = 6  # EXIF: the viewer rotates the stored pixels 90 degrees clockwise


@dataclass(frozen=True)
class LabelledImage:
    """One file of the set: which photo it copies, how, and its bytes."""

    group: str  # the photo's name, e.g. "astronaut"
    variant: str  # one of VARIANTS
    data: bytes
    suffix: str  # ".jpg" or ".heic"

    @property
    def name(self) -> str:
        """The file name, <group>_<variant><suffix>."""
        return f"{self.group}_{self.variant}{self.suffix}"


def available() -> bool:
    """Whether scikit-image (the photographs) is installed."""
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        return False
    return True


def _heic_encoder() -> bool:
    """Whether a HEIC copy can be written (pillow-heif) and read back by the engine."""
    from imagesearch.model.images import ALLOWED_FORMATS

    if "HEIF" not in ALLOWED_FORMATS:
        return False
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:
        return False
    return True


def photo_names(split: str, grey: bool = False) -> list[str]:
    """The photos of a split: even positions calibrate, odd ones evaluate."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    photos = PHOTOS + GREY_PHOTOS if grey else PHOTOS
    chosen = photos if split == "all" else photos[(0 if split == "calibration" else 1)::2]
    return list(chosen)


def _photo(name: str, long_side: int) -> Image.Image:
    import skimage.data

    with Image.open(os.path.join(os.path.dirname(skimage.data.__file__), name)) as im:
        im = im.convert("RGB")
    scale = long_side / max(im.size)
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)


def _jpeg(im: Image.Image, quality: int, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def _variants(group: str, original: Image.Image, rng: np.random.Generator, heic: bool) -> list[LabelledImage]:
    w, h = original.size
    made = [LabelledImage(group, "original", _jpeg(original, 92), ".jpg"),
            LabelledImage(group, "quality", _jpeg(original, 35), ".jpg")]
    small = original.resize((round(w * 2 / 3), round(h * 2 / 3)), Image.LANCZOS)  # 2400 -> 1600 px
    made.append(LabelledImage(group, "resized", _jpeg(small, 90), ".jpg"))
    # Up to 10% of each side cut away, more from some edges than others.
    cut = rng.uniform(0.0, 0.1, size=4)
    box = (round(w * cut[0] / 2), round(h * cut[1] / 2), w - round(w * cut[2] / 2), h - round(h * cut[3] / 2))
    made.append(LabelledImage(group, "cropped", _jpeg(original.crop(box), 90), ".jpg"))
    made.append(LabelledImage(group, "brightened", _jpeg(ImageEnhance.Brightness(original).enhance(1.15), 90),
                              ".jpg"))
    # Stored sideways as a phone does: the pixels turned, the tag telling the viewer to turn them back.
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_CW_ON_DISPLAY
    turned = original.transpose(Image.Transpose.ROTATE_90)
    made.append(LabelledImage(group, "sideways", _jpeg(turned, 90, exif), ".jpg"))
    if heic:
        out = io.BytesIO()
        # x265's fastest preset: 8x faster here than its default, the same decoder path to exercise.
        original.save(out, "HEIF", quality=80, enc_params={"preset": "ultrafast"})
        made.append(LabelledImage(group, "heic", out.getvalue(), ".heic"))
    return made


def generate(split: str = "all", *, long_side: int = LONG_SIDE, seed: int = 0,
             heic: bool | None = None, grey: bool = False) -> list[LabelledImage]:
    """The labelled images of a split, in a fixed order (same arguments, same bytes).

    `heic` None: a HEIC copy when the engine can read it; False: never.
    """
    heic = _heic_encoder() if heic is None else (heic and _heic_encoder())
    return list(_generate(split, long_side, seed, heic, grey))


@functools.lru_cache(maxsize=4)
def _generate(split: str, long_side: int, seed: int, heic: bool, grey: bool) -> tuple[LabelledImage, ...]:
    # Deterministic, and about 7 s to make (the 2400 px encodes): kept once per process, and on disk
    # for the next process (every publish and build makes the same set).
    folder = _cache_folder(split, long_side, seed, heic, grey)
    cached = _read_cached(folder)
    if cached is not None:
        return cached
    # Processes that start together (a publish beside a build or a re-index) make it once: the first
    # makes it, the others wait for it and read it.
    with _making(folder):
        cached = _read_cached(folder)
        if cached is not None:
            return cached
        shutil.rmtree(folder, ignore_errors=True)  # a damaged copy (a file gone) is replaced
        rng = np.random.default_rng(seed)
        images: list[LabelledImage] = []
        for name in photo_names(split, grey):
            group = name.rsplit(".", 1)[0]
            images += _variants(group, _photo(name, long_side), rng, heic)
        _write_cached(folder, images)
    return tuple(images)


@contextlib.contextmanager
def _making(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the set's folder name while it is made (none where there is no
    cache folder: the set is then made by each process that needs it)."""
    with contextlib.ExitStack() as held:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(exclusive_lock(folder.with_name(folder.name + ".lock")))
        except OSError:
            pass
        yield


def cache_root() -> Path:
    """Where made sets are kept between processes: under the user's ~/.cache (the operator's machine;
    the instance has no scikit-image and never makes a set)."""
    return Path.home() / ".cache" / "imagesearch" / "near-duplicate-set"


def _cache_folder(split: str, long_side: int, seed: int, heic: bool, grey: bool) -> Path:
    """A folder named by everything the bytes depend on: this module's code, the encoders' and the
    photographs' versions, and the arguments; a change of any makes a new set."""
    import PIL
    import skimage

    try:
        import pillow_heif

        heif_version = pillow_heif.__version__
    except ImportError:
        heif_version = "none"
    key = json.dumps([Path(__file__).read_text(), PIL.__version__, heif_version, skimage.__version__,
                      split, long_side, seed, heic, grey])
    return cache_root() / hashlib.sha256(key.encode()).hexdigest()[:32]


def _read_cached(folder: Path) -> tuple[LabelledImage, ...] | None:
    try:
        rows = json.loads((folder / "set.json").read_text())
        return tuple(LabelledImage(r["group"], r["variant"], (folder / r["file"]).read_bytes(), r["suffix"])
                     for r in rows)
    except (OSError, ValueError, KeyError):
        return None


def _write_cached(folder: Path, images: list[LabelledImage]) -> None:
    """Write the set beside its final place, then rename it there (a reader sees all of it or none)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".part-"))
    except OSError:
        return  # no cache folder: the set is made again next time
    try:
        for image in images:
            (staging / image.name).write_bytes(image.data)
        rows = [{"group": i.group, "variant": i.variant, "suffix": i.suffix, "file": i.name} for i in images]
        (staging / "set.json").write_text(json.dumps(rows))
        staging.rename(folder)
    except OSError:
        pass  # another process kept the same set first, or the disk is full: either way not needed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def describe(images: list[LabelledImage], split: str, long_side: int = LONG_SIDE) -> dict:
    """What a generated set is, as the manifest records it."""
    return {
        "source": "scikit-image skimage.data photographs (imagesearch.model.near_duplicate_set)",
        "split": split,
        "photos": len({i.group for i in images}),
        "variants": sorted({i.variant for i in images}, key=VARIANTS.index),
        "long_side": long_side,
    }


def write_set(images: list[LabelledImage], folder: str, album: str = "copies") -> list[str]:
    """Write the set as an album folder <folder>/<album>/<name>; the paths written."""
    os.makedirs(os.path.join(folder, album), exist_ok=True)
    paths = []
    for image in images:
        path = os.path.join(folder, album, image.name)
        with open(path, "wb") as f:
            f.write(image.data)
        paths.append(path)
    return paths
