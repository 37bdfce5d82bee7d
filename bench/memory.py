"""Section 6: the daemon's peak memory with the index loaded, against small instance sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from report import Section, table

INSTANCES_MIB = {"1 GiB (e.g. t3.micro)": 1024, "512 MiB (e.g. t3.nano)": 512}
# What the rest of the instance needs: AL2023's kernel, systemd, the SSM agent and some page cache.
# An assumption, stated in the report; 25% of the instance is kept back.
RESERVE_FRACTION = 0.25


@dataclass
class MemoryResult:
    """Peak and current resident memory of the daemon after serving queries."""

    count: int
    peak_mib: float
    rss_mib: float
    npy_mib: float


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(peak resident set VmHWM, current VmRSS) of a live process, in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) / 1024.0
    return fields["VmHWM"], fields["VmRSS"]


def measure(pid: int, count: int, npy_bytes: int) -> MemoryResult:
    """Read the daemon's VmHWM and VmRSS (call after it has served both kinds of query)."""
    peak, rss = peak_rss_mib(pid)
    return MemoryResult(count, peak, rss, npy_bytes / (1024 * 1024))


def verdict(peak_mib: float, instance_mib: int) -> str:
    """'fits', 'tight' or 'does not fit' with the reserve rule above."""
    if peak_mib <= instance_mib * (1 - RESERVE_FRACTION):
        return f"fits ({instance_mib - peak_mib:,.0f} MiB left)"
    if peak_mib < instance_mib:
        return f"tight ({instance_mib - peak_mib:,.0f} MiB left, under the {RESERVE_FRACTION:.0%} reserve)"
    return f"does not fit ({peak_mib - instance_mib:,.0f} MiB over)"


def section(result: MemoryResult) -> Section:
    """The markdown section."""
    rows = [[name, verdict(result.peak_mib, mib)] for name, mib in INSTANCES_MIB.items()]
    body = "\n\n".join([
        f"The daemon serving an index of {result.count:,} images ({result.npy_mib:,.1f} MiB of arrays on "
        "disk, memory-mapped) after warm queries of both kinds (so the model has run): peak resident set "
        f"(VmHWM) **{result.peak_mib:,.0f} MiB**, resident now (VmRSS) {result.rss_mib:,.0f} MiB, "
        "read from /proc. Memory-mapped pages count in the resident set but are file-backed, so the kernel "
        "can drop them under pressure; MXNet's model and workspace cannot be dropped.",
        f"Verdict rule: fits when the peak is at most {1 - RESERVE_FRACTION:.0%} of the instance's memory, "
        f"keeping {RESERVE_FRACTION:.0%} for the OS, the SSM agent and page cache (an assumption, not "
        "measured here).",
        table(["instance memory", "verdict"], rows),
    ])
    return Section("Daemon peak memory", body)
