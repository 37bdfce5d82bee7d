"""Small matplotlib (Agg) chart helpers: each writes one PNG and returns its path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on the bench machine; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from stats import summarize  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bars(path: Path, samples: Mapping[str, Sequence[float]], ylabel: str, title: str,
         log: bool = False) -> Path:
    """Median bars with IQR whiskers, one per named sample."""
    labels = list(samples)
    stats = [summarize(samples[k]) for k in labels]
    med = [s.p50 for s in stats]
    err = [[s.p50 - s.q1 for s in stats], [s.q3 - s.p50 for s in stats]]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.bar(range(len(labels)), med, yerr=err, capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if log:
        ax.set_yscale("log")
    for i, m in enumerate(med):
        ax.annotate(f"{m:,.3g}", (i, m), ha="center", va="bottom", fontsize=7)
    return _save(fig, path)


def grouped_bars(path: Path, groups: Sequence[str], series: Mapping[str, Sequence[Sequence[float]]],
                 ylabel: str, title: str) -> Path:
    """Median bars with IQR whiskers for several series over the same groups (e.g. k values)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(1, len(series))
    for j, (name, per_group) in enumerate(series.items()):
        stats = [summarize(v) for v in per_group]
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        err = [[s.p50 - s.q1 for s in stats], [s.q3 - s.p50 for s in stats]]
        ax.bar(xs, [s.p50 for s in stats], width=width, yerr=err, capsize=3, label=name)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def stacked_bars(path: Path, groups: Sequence[str], parts: Mapping[str, Sequence[float]],
                 ylabel: str, title: str) -> Path:
    """One stacked bar per group: each part's median stacked in order."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bottom = [0.0] * len(groups)
    for name, values in parts.items():
        ax.bar(range(len(groups)), values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def lines(path: Path, xs: Sequence[float], series: Mapping[str, Sequence[float]], xlabel: str,
          ylabel: str, title: str) -> Path:
    """One line per series over shared x values."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, ys in series.items():
        ax.plot(list(xs), list(ys), marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def scatter(path: Path, points: Mapping[str, tuple[float, float]], xlabel: str, ylabel: str,
            title: str, logx: bool = False) -> Path:
    """One marker per named point with a legend (labels beside points collide when points coincide)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    markers = "osD^v<>pP*Xh"
    for i, (name, (x, y)) in enumerate(points.items()):
        ax.scatter([x], [y], marker=markers[i % len(markers)], s=40, label=name)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)
