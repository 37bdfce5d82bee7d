"""The worst image the caps admit decodes within the memory budget (peak resident memory from /proc).

Each case runs in a fresh Python process (no model), so its peak resident memory (VmHWM, reset
through /proc/self/clear_refs once the inputs are read) is the decoding's own.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from imagesearch import settings
from imagesearch.decode_budget import BYTES_PER_PIXEL, DecodeBudget
from PIL import Image

MIB = 1 << 20
# The default instance (t3.micro): the budget comes from the setting, as on the instance.
ENV = {"IMAGESEARCH_MEMORY_MIB": "1024"}

CHILD = textwrap.dedent("""
    import json, sys
    from imagesearch import decode_budget
    from imagesearch import settings
    from imagesearch.model.pipeline import Limits, featurize_sources
    from imagesearch.model.images import decode_image
    from imagesearch.model.sources import local_sources

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    cfg = settings.load()
    budget = settings.decode_budget(cfg)
    decode_budget.configure(budget)
    folder, how = sys.argv[1], sys.argv[2]
    sources, _ = local_sources(folder)
    first = open(sources[0].where, "rb").read()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    base = status("VmRSS")
    if how == "one":
        decode_image(first, max_pixels=cfg.max_pixels, size=(224, 224))
        decoded = 1
    else:
        limits = Limits(max_bytes=1 << 30, max_pixels=cfg.max_pixels)
        out = featurize_sources(sources, None, limits, threads=8)
        assert not out.skipped, out.skipped
        decoded = len(out.hashes)
    print(json.dumps({"peak": status("VmHWM") - base, "budget": budget.budget_bytes,
                      "max_pixels": cfg.max_pixels, "decoded": decoded}))
""")


def _clear_refs_works() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not _clear_refs_works(),
                                reason="needs Linux /proc (VmHWM, clear_refs)")


@pytest.fixture(scope="module")
def worst_pngs(tmp_path_factory) -> Path:
    """Four RGBA PNGs at the cap's pixel count for a 1 GiB instance: the worst the caps admit
    (RGBA is the mode Pillow keeps widest, 4 bytes per pixel, plus the conversion to RGB)."""
    cap = settings.load(ENV).max_pixels
    side = math.isqrt(cap)
    folder = tmp_path_factory.mktemp("worst") / "album"
    folder.mkdir()
    big = Image.new("RGBA", (side, side), (40, 90, 160, 128))  # flat: a few hundred KB as PNG
    big.save(folder / "0.png", compress_level=1)
    del big
    for n in range(1, 4):
        os.link(folder / "0.png", folder / f"{n}.png")  # four names, one file: they decode alike
    return folder.parent


def _peak(folder: Path, how: str) -> dict:
    env = {**os.environ, **ENV, "MALLOC_ARENA_MAX": "2"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), how], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_budget_and_the_cap_come_from_the_memory_setting():
    cfg = settings.load(ENV)
    assert cfg.memory_mib == 1024
    # A quarter of the memory; the cap leaves an eighth of that free for small decodes beside it
    assert settings.decode_budget(cfg) == DecodeBudget(1024, 256 * MIB, 224 * MIB // BYTES_PER_PIXEL)
    assert cfg.max_pixels == 224 * MIB // BYTES_PER_PIXEL  # 23.5 megapixels
    # An explicit cap wins; without the memory setting the machine's MemTotal is used
    assert settings.load({**ENV, "IMAGESEARCH_MAX_PIXELS": "1000"}).max_pixels == 1000
    assert settings.load({}).memory_mib > 0


def test_the_worst_admitted_image_decodes_within_the_budget(worst_pngs):
    got = _peak(worst_pngs, "one")
    assert got["decoded"] == 1
    assert got["peak"] <= got["budget"], f"{got['peak'] / MIB:.0f} MiB over {got['budget'] / MIB:.0f} MiB"


def test_four_worst_images_through_the_build_pipeline_stay_within_the_budget(worst_pngs):
    # GIVEN four of them and eight reading threads: without the gate they decode side by side
    got = _peak(worst_pngs, "pipeline")
    assert got["decoded"] == 4
    assert got["peak"] <= got["budget"], f"{got['peak'] / MIB:.0f} MiB over {got['budget'] / MIB:.0f} MiB"
