"""A deterministic sample collection: procedural textures in labelled albums, as small PNGs.

Each image has its own generator seeded by (seed, album, number), so a small collection is a
prefix of a large one with the same seed, and the same call always writes the same bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Texture = Callable[[np.random.Generator, int], np.ndarray]  # -> float RGB in [0, 1], shape (s, s, 3)


def _grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) / s
    return x, y


def _noise(rng: np.random.Generator, s: int, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1]: a random lattice upsampled bicubically."""
    lattice = rng.random((cells + 1, cells + 1)).astype(np.float32)
    img = Image.fromarray(lattice, mode="F").resize((s, s), Image.BICUBIC)
    return np.clip(np.asarray(img), 0.0, 1.0)


def _fbm(rng: np.random.Generator, s: int, octaves: int = 4, base: int = 2) -> np.ndarray:
    out = np.zeros((s, s), dtype=np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        out += amp * _noise(rng, s, base * 2**o)
        total += amp
        amp /= 2
    return out / total


def _jitter(rng: np.random.Generator, colour: tuple[float, float, float], amount: float = 0.08) -> np.ndarray:
    return np.clip(np.array(colour, dtype=np.float32) + rng.uniform(-amount, amount, 3), 0, 1)


def _mix(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    t = t[..., None]
    return a * (1 - t) + b * t


def _rotated(rng: np.random.Generator, s: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _grid(s)
    th = rng.uniform(0, np.pi)
    return x * np.cos(th) + y * np.sin(th), -x * np.sin(th) + y * np.cos(th)


def marble(rng: np.random.Generator, s: int) -> np.ndarray:
    """Light stone with dark turbulent veins."""
    u, _ = _rotated(rng, s)
    t = np.abs(np.sin(2 * np.pi * (u * rng.uniform(1.5, 3.5)) + rng.uniform(4, 9) * _fbm(rng, s)))
    veins = t ** rng.uniform(0.15, 0.4)
    return _mix(veins, _jitter(rng, (0.35, 0.35, 0.38)), _jitter(rng, (0.93, 0.92, 0.9), 0.05))


def wood(rng: np.random.Generator, s: int) -> np.ndarray:
    """Brown growth rings around an off-image centre."""
    x, y = _grid(s)
    cx, cy = rng.uniform(-1.0, 2.0, 2)
    r = np.sqrt((x - cx) ** 2 + ((y - cy) * rng.uniform(0.2, 0.6)) ** 2)
    t = (r * rng.uniform(8, 16) + 0.6 * _fbm(rng, s)) % 1.0
    return _mix(t**2, _jitter(rng, (0.55, 0.33, 0.15)), _jitter(rng, (0.35, 0.18, 0.07)))


def brick(rng: np.random.Generator, s: int) -> np.ndarray:
    """Staggered red bricks with light mortar."""
    x, y = _grid(s)
    rows = rng.integers(3, 6)
    h = 1.0 / rows
    row = np.floor(y / h)
    w = h * rng.uniform(1.8, 2.6)
    xo = x + (row % 2) * w / 2 + rng.uniform(0, 1)
    col = np.floor(xo / w)
    mortar = ((y % h) < h * 0.15) | ((xo % w) < w * 0.08)
    tone = (np.sin(row * 12.9898 + col * 78.233) * 43758.5453) % 1.0  # per-brick shade
    brickc = _mix(tone * 0.5, _jitter(rng, (0.62, 0.2, 0.14)), _jitter(rng, (0.45, 0.14, 0.1)))
    out = np.where(mortar[..., None], _jitter(rng, (0.8, 0.78, 0.72), 0.05), brickc)
    return out * (0.9 + 0.1 * _fbm(rng, s)[..., None])


def stripes(rng: np.random.Generator, s: int) -> np.ndarray:
    """Two-colour straight stripes at a random angle."""
    u, _ = _rotated(rng, s)
    t = (np.sin(2 * np.pi * u * rng.uniform(3, 7) + rng.uniform(0, 6.3)) > 0).astype(np.float32)
    return _mix(t, rng.uniform(0, 1, 3).astype(np.float32), rng.uniform(0, 1, 3).astype(np.float32))


def checker(rng: np.random.Generator, s: int) -> np.ndarray:
    """A rotated two-colour checkerboard."""
    u, v = _rotated(rng, s)
    n = rng.uniform(3, 6)
    t = ((np.floor(u * n) + np.floor(v * n)) % 2).astype(np.float32)
    return _mix(t, _jitter(rng, (0.1, 0.1, 0.1), 0.1), _jitter(rng, (0.9, 0.9, 0.9), 0.1))


def dots(rng: np.random.Generator, s: int) -> np.ndarray:
    """Round dots on a regular grid."""
    x, y = _grid(s)
    n = rng.uniform(3, 6)
    ox, oy = rng.uniform(0, 1, 2)
    dx = ((x * n + ox) % 1.0) - 0.5
    dy = ((y * n + oy) % 1.0) - 0.5
    t = (np.sqrt(dx**2 + dy**2) < rng.uniform(0.2, 0.38)).astype(np.float32)
    return _mix(t, _jitter(rng, (0.95, 0.9, 0.75), 0.05), rng.uniform(0, 0.8, 3).astype(np.float32))


def waves(rng: np.random.Generator, s: int) -> np.ndarray:
    """Smooth sea-coloured bands bent by a sine."""
    u, v = _rotated(rng, s)
    t = 0.5 + 0.5 * np.sin(
        2 * np.pi * (v * rng.uniform(2, 4)) + rng.uniform(1, 3) * np.sin(2 * np.pi * u * 2)
    )
    return _mix(t, _jitter(rng, (0.05, 0.25, 0.45)), _jitter(rng, (0.4, 0.8, 0.85)))


def clouds(rng: np.random.Generator, s: int) -> np.ndarray:
    """Soft white clouds in a blue sky."""
    t = np.clip((_fbm(rng, s, 5, 2) - 0.3) * 2.2, 0, 1)
    return _mix(t, _jitter(rng, (0.35, 0.6, 0.95)), _jitter(rng, (1.0, 1.0, 1.0), 0.03))


def grid(rng: np.random.Generator, s: int) -> np.ndarray:
    """Thin dark lines on pale paper."""
    x, y = _grid(s)
    n = rng.uniform(3, 7)
    lw = rng.uniform(0.08, 0.16)
    t = (((x * n) % 1.0) < lw) | (((y * n) % 1.0) < lw)
    return _mix(
        t.astype(np.float32), _jitter(rng, (0.95, 0.95, 0.88), 0.04), _jitter(rng, (0.2, 0.3, 0.6), 0.1)
    )


def zigzag(rng: np.random.Generator, s: int) -> np.ndarray:
    """Chevron bands of two colours."""
    u, v = _rotated(rng, s)
    f = rng.uniform(2, 4)
    t = (((v * f) + np.abs(((u * f * 1.5) % 1.0) - 0.5)) % 1.0 > 0.5).astype(np.float32)
    return _mix(t, _jitter(rng, (0.9, 0.6, 0.1), 0.1), _jitter(rng, (0.2, 0.1, 0.3), 0.1))


ALBUMS: dict[str, Texture] = {
    "marble": marble,
    "wood": wood,
    "brick": brick,
    "stripes": stripes,
    "checker": checker,
    "dots": dots,
    "waves": waves,
    "clouds": clouds,
    "grid": grid,
    "zigzag": zigzag,
}


def render(album: str, number: int, *, seed: int = 0, size: int = 28) -> Image.Image:
    """One texture image, a pure function of (album, number, seed, size)."""
    rng = np.random.default_rng([seed, list(ALBUMS).index(album), number])
    big = ALBUMS[album](rng, size * 2)  # drawn at twice the size, then downsampled to soften aliasing
    img = Image.fromarray((np.clip(big, 0, 1) * 255).astype(np.uint8), mode="RGB")
    return img.resize((size, size), Image.LANCZOS)


def write_copies(out_dir: str, albums: list[str], *, seed: int = 0, size: int = 28) -> int:
    """Beside image 0 of each of `albums`, its near-duplicate: the same picture saved again as a JPEG
    (`<album>_00000_copy.jpg`), as a photo re-sent through a messenger; how many were written."""
    for album in albums:
        render(album, 0, seed=seed, size=size).save(
            os.path.join(out_dir, album, f"{album}_00000_copy.jpg"), format="JPEG", quality=90)
    return len(albums)


def generate(out_dir: str, *, count: int, seed: int = 0, size: int = 28, copies: int = 0) -> dict[str, int]:
    """Write `count` PNGs as out_dir/<album>/<album>_<n>.png, spread evenly; return album -> file count.

    `copies`: that many albums also get a near-duplicate of their first image (write_copies), on
    top of `count`, so the duplicate finder has something to find in the demo.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    names = list(ALBUMS)
    per = {a: count // len(names) + (1 if i < count % len(names) else 0) for i, a in enumerate(names)}
    for album, n in per.items():
        if n == 0:
            continue
        folder = os.path.join(out_dir, album)
        os.makedirs(folder, exist_ok=True)
        for i in range(n):
            # optimize=False and no metadata keep the bytes a pure function of the pixels.
            render(album, i, seed=seed, size=size).save(
                os.path.join(folder, f"{album}_{i:05d}.png"), format="PNG"
            )
    with_copies = [a for a in names if per[a]][:copies]
    write_copies(out_dir, with_copies, seed=seed, size=size)
    return {a: n + (a in with_copies) for a, n in per.items() if n}


COMPLETE = ".complete"  # written last into a cached collection: its presence means the folder is whole


def cached_collection(work_dir: str | os.PathLike, *, count: int, seed: int = 0, size: int = 28,
                      copies: int = 0) -> Path:
    """The collection generate() writes for (count, seed, size), made once under work_dir and reused.

    The one cache of generated samples (demo, publisher, bench): `<work_dir>/samples-<count>-seed<seed>`
    (plus `-<size>px` when not 28). It is generated beside the target and renamed into place, so an
    interrupted or concurrent run never leaves a half collection that a later run takes as whole.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    work = Path(work_dir)
    target = work / (f"samples-{count}-seed{seed}" + ("" if size == 28 else f"-{size}px")
                     + (f"-copies{copies}" if copies else ""))
    if (target / COMPLETE).exists():
        return target
    work.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".samples-", dir=work))
    try:
        generate(str(staging), count=count, seed=seed, size=size, copies=copies)
        (staging / COMPLETE).write_text(f"count={count} seed={seed} size={size} copies={copies}\n")
        staging.chmod(0o755)  # mkdtemp makes it private; readable like a folder generate() made
        if target.exists() and not (target / COMPLETE).exists():
            shutil.rmtree(target)  # left by an older, non-atomic writer
        try:
            staging.rename(target)
        except OSError:
            if not (target / COMPLETE).exists():
                raise  # not another run finishing first: a real failure
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
