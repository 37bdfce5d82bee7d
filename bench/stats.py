"""Timing and summary helpers: every figure in the report is a median with its spread and n."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    """Median, quartiles, p95 and count of one set of measurements."""

    p50: float
    p95: float
    q1: float
    q3: float
    lo: float
    hi: float
    n: int

    def fmt(self, unit: str = "ms", digits: int = 1) -> str:
        """'12.3 ms (IQR 11.8-13.1, p95 15.0, n=20)'; n=1 shows the single value."""
        if self.n == 1:
            return f"{self.p50:.{digits}f} {unit} (n=1)"
        return (f"{self.p50:.{digits}f} {unit} (IQR {self.q1:.{digits}f}-{self.q3:.{digits}f}, "
                f"p95 {self.p95:.{digits}f}, n={self.n})")


def summarize(values: Sequence[float]) -> Summary:
    """The summary of a non-empty sequence of measurements."""
    if len(values) == 0:
        raise ValueError("no measurements to summarize")
    arr = np.asarray(values, dtype=np.float64)
    q1, p50, q3, p95 = np.percentile(arr, [25, 50, 75, 95])
    return Summary(float(p50), float(p95), float(q1), float(q3), float(arr.min()), float(arr.max()), arr.size)


def ratio(slow: Sequence[float], fast: Sequence[float], seed: int = 0, resamples: int = 2000) -> tuple:
    """Ratio of medians slow/fast with a bootstrap 95% interval: (ratio, low, high)."""
    a = np.asarray(slow, dtype=np.float64)
    b = np.asarray(fast, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("a ratio needs measurements on both sides")
    point = float(np.median(a) / np.median(b))
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, size=(resamples, a.size)), axis=1)
    rb = np.median(rng.choice(b, size=(resamples, b.size)), axis=1)
    low, high = np.percentile(ra / rb, [2.5, 97.5])
    return point, float(low), float(high)


def fmt_ratio(slow: Sequence[float], fast: Sequence[float]) -> str:
    """'41.2x (95% CI 38.0-45.1)': how many times the fast side beats the slow one."""
    point, low, high = ratio(slow, fast)
    return f"{_num(point)}x (95% CI {_num(low)}-{_num(high)})"


def _num(x: float) -> str:
    """Three significant digits, without exponent notation for the ratios we print."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def time_ms(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall time of `repeats` calls of fn in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000.0)
    return out

