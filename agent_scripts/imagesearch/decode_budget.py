"""How much memory image decoding may use, derived from the machine's memory, and the gate keeping to it.

One decode of a near-cap PNG used to hold ~11 bytes per pixel (the decoded image, an RGB copy, a
transposed copy); eight such decodes at once ran an ingest to 4 GiB on a 1 GiB t3.micro. So:
- `DecodeBudget.from_memory`: a quarter of the machine's memory (IMAGESEARCH_MEMORY_MIB, else
  MemTotal) is what decodes may hold at once; the per-image pixel cap follows from it.
- `PixelGate`: a semaphore weighted by bytes, not a thread count: eight small JPEGs decode side by
  side, one near-cap PNG decodes alone. Shared by every thread of a process (`shared_gate`).
- `release_memory`: glibc keeps freed heap pages unless asked; after a large decode it is asked.
docs/engine.md ("Decoding within a memory budget") has the measured figures.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

MIB = 1 << 20
# The share of the machine's memory decodes may hold at once, inside a process's half of it
# (PROCESS_SHARE below) beside its model and index (docs/agent.md, "Ingest").
DECODE_SHARE = 0.25
# Peak bytes held per decoded pixel, measured (bench/decode_memory.py) with the strip-wise
# conversion of imagesearch.model.images: Pillow keeps any mode in at most 4 bytes per pixel; the worst
# PNG (RGBA or 16-bit grey kept at full size) adds an RGB copy and a strip: under 10. Pillow's
# WebP decoder holds the decoder's canvas, a bytes copy and the image (16.3); libavif decodes into
# its own buffers before Pillow's copy (9.7). libjpeg's reduced-scale decode is counted on the
# pixels it actually decodes.
BYTES_PER_PIXEL = 10
BYTES_PER_PIXEL_BY_FORMAT = {"WEBP": 17, "AVIF": 11}
# The cap leaves an eighth of the budget free beside the worst admitted image, so small decodes
# (a phone JPEG at reduced scale holds ~8 MiB) never wait behind a near-cap one in the gate.
SMALL_RESERVE_DIVISOR = 8
# Decodes holding more than this are "large": the daemon gives them their own lane and memory is
# handed back to the OS after each (a 12-megapixel JPEG decoded at reduced scale is far below).
LARGE_BYTES = 64 * MIB
# The derived cap never exceeds the engine's former fixed cap, so a large build machine admits
# no more than it used to (an explicit IMAGESEARCH_MAX_PIXELS may).
MAX_DERIVED_PIXELS = 40_000_000
FALLBACK_MEMORY_MIB = 1024  # when /proc/meminfo cannot be read: the default instance's memory
# The instance's memory is split in two halves between the processes that load the model and
# decode: the daemon, and the `imagesearch ingest` command the IngestDocument runs beside it. Each
# peaks within its half with the worst admitted image (its decode share above included), as
# measured at IMAGESEARCH_MEMORY_MIB=1024 (bench/decode_memory.py; a test for each:
# tests/unit/engine/test_instance_memory.py). The two resident sets share the libraries' file
# pages, so their sum overstates what the pair holds; docs/agent.md ("Ingest") has the split.
PROCESS_SHARE = 0.5


def process_peak_mib(memory_mib: int) -> int:
    """The peak resident memory (MiB) the daemon, and the ingest command, may each reach."""
    return int(memory_mib * PROCESS_SHARE)


# What one image of a model batch holds while the model runs (ResNet-50's activations at a 224 px
# input, measured: a batch of 64 raised `imagesearch ingest` from 346 to 1,022 MiB resident, 6 by
# 83 MiB; bench/decode_memory.py), scaled by the input's area, and a batch's fixed part.
RUN_BYTES_PER_IMAGE_224 = 11 * MIB
RUN_BYTES_FIXED = 32 * MIB


def model_run_bytes(batch: int, size: int) -> int:
    """The bytes a model batch of `batch` images at a `size` px input holds while it runs."""
    return RUN_BYTES_FIXED + batch * RUN_BYTES_PER_IMAGE_224 * size * size // (224 * 224)


def model_batch_cap(budget: DecodeBudget, size: int) -> int:
    """The largest model batch whose run holds at most a quarter of the decode budget (2 images
    at 224 px on 1 GiB, 8 on 2 GiB): the instance's ingest caps IMAGESEARCH_BATCH_SIZE with it."""
    per_image = RUN_BYTES_PER_IMAGE_224 * size * size // (224 * 224)
    return max(1, (budget.budget_bytes // 4 - RUN_BYTES_FIXED) // max(1, per_image))


def machine_memory_mib(meminfo: str = "/proc/meminfo") -> int:
    """MemTotal of this machine in MiB (FALLBACK_MEMORY_MIB where there is no /proc/meminfo)."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        pass
    return FALLBACK_MEMORY_MIB


def bytes_per_pixel(image_format: str | None) -> int:
    """Peak bytes a decode of this format holds per decoded pixel."""
    return BYTES_PER_PIXEL_BY_FORMAT.get(image_format or "", BYTES_PER_PIXEL)


def pixel_cap(max_pixels: int, image_format: str | None) -> int:
    """The pixel cap of one format: `max_pixels` is the cap of the common formats (10 bytes per
    pixel); a format costing more per pixel is admitted up to the same memory, so fewer pixels."""
    return int(max_pixels) * BYTES_PER_PIXEL // bytes_per_pixel(image_format)


class DecodeBudget(NamedTuple):
    """What decoding may hold at once and the largest image it admits, for a given memory size.

    A NamedTuple, not a dataclass: settings.load() makes one, on the thin client's warm path too.
    """

    memory_mib: int
    budget_bytes: int  # held by all decodes of a process at once (PixelGate's capacity)
    max_pixels: int  # width x height of the largest image admitted (pixel_cap: fewer for WebP, AVIF)

    @classmethod
    def from_memory(cls, memory_mib: int, max_pixels: int | None = None) -> DecodeBudget:
        """The budget of a machine with `memory_mib`; `max_pixels` None derives the cap from it."""
        budget = int(max(64, memory_mib) * MIB * DECODE_SHARE)
        derived = min(MAX_DERIVED_PIXELS, (budget - budget // SMALL_RESERVE_DIVISOR) // BYTES_PER_PIXEL)
        cap = derived if max_pixels is None else int(max_pixels)
        return cls(memory_mib=int(memory_mib), budget_bytes=budget, max_pixels=cap)


class PixelGate:
    """A semaphore weighted by bytes: decodes wait until what they will hold fits the capacity.

    A single decode larger than the capacity still runs, alone (its weight is clipped to the
    capacity), so an image the cap admits is never refused here, only delayed.
    """

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity = max(1, int(capacity_bytes))
        self._held = 0
        self._cond = threading.Condition()

    @property
    def held(self) -> int:
        """Bytes currently held by decodes."""
        with self._cond:
            return self._held

    def resize(self, capacity_bytes: int) -> None:
        """A new capacity (settings read after the gate was made); waiters re-check."""
        with self._cond:
            self.capacity = max(1, int(capacity_bytes))
            self._cond.notify_all()

    @contextmanager
    def hold(self, cost_bytes: int) -> Iterator[None]:
        """Hold `cost_bytes` of the budget for the duration of the block."""
        with self._cond:
            cost = min(max(0, int(cost_bytes)), self.capacity)
            self._cond.wait_for(lambda: self._held + cost <= self.capacity)
            self._held += cost
        try:
            yield
        finally:
            with self._cond:
                self._held -= cost
                self._cond.notify_all()


_SHARED: PixelGate | None = None
_SHARED_LOCK = threading.Lock()


def shared_gate() -> PixelGate:
    """The process's gate: every decode of the process goes through it (sized from MemTotal until
    an entry point calls `configure` with the settings)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = PixelGate(DecodeBudget.from_memory(machine_memory_mib()).budget_bytes)
        return _SHARED


def configure(budget: DecodeBudget) -> PixelGate:
    """Size the process's gate from the settings' budget and make freed decode memory go back to
    the OS (entry points call this once)."""
    gate = shared_gate()
    gate.resize(budget.budget_bytes)
    fix_mmap_threshold()
    return gate


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD = 1 << 20


def fix_mmap_threshold() -> None:
    """Allocations of 1 MiB and more come from mmap and return to the OS when freed.

    glibc raises its threshold after a large block is freed, so Pillow's 16 MiB image blocks then
    come from the heap and stay there: four near-cap decodes one after another, on different
    threads, held 427 MiB against a 256 MiB budget. The same fixed threshold as the service's
    MALLOC_MMAP_THRESHOLD_, for every entry point (ingest, build, the cold path).
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


@functools.cache
def _libc():
    import ctypes  # only a process that decodes pays for it

    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim  # noqa: B018 - glibc only; elsewhere there is nothing to tune
    except (OSError, AttributeError):
        return None
    return libc


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc's malloc_trim), after a large decode.

    The service fixes glibc's mmap threshold (MALLOC_MMAP_THRESHOLD_, imagesearch.service), so
    there Pillow's 16 MiB blocks are mmapped and unmapped when freed; the ingest command and the
    cold path run without it, where freed blocks stayed in the heap until trimmed.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
