"""The machine-readable home of every published figure: docs/bench/figures.json.

Each bench script that writes a report (bench/run.py, bench/scale.py, bench/cache_bench.py) also
writes the figures it measured into figures.json beside its plots, by name. Documents quote them
through marked spans that docs/figures_doc.py rewrites from this file, so a figure has one home
and a quote that drifts from it fails a test (tests/unit/bench/test_figures.py).

A figure is a value (a number, or a word such as an instance type), its unit, the number of
decimals the report prints, and where it comes from: the report section and the command that made
it, and the day. The file keeps the figures of the other scripts when one script rewrites its own.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILE_NAME = "figures.json"
# Units written right after the number ("52.5x", "44%"); every other unit follows a space.
TIGHT_UNITS = ("x", "%")


@dataclass(frozen=True)
class Figure:
    """One published figure, with where it was measured."""

    name: str
    value: float | str
    unit: str = ""
    digits: int = 0
    what: str = ""
    section: str = ""  # the report section it is printed in, e.g. "docs/benchmarks.md#3. Query latency"
    command: str = ""  # the command that measured it, e.g. "make bench-scale"
    measured: str = ""  # ISO date of the run

    def text(self, digits: int | None = None) -> str:
        """The figure as the report prints it (or with `digits` decimals)."""
        return format_value(self.value, self.unit, self.digits if digits is None else digits)


def format_value(value: float | str, unit: str, digits: int) -> str:
    """'446 MiB', '52.5x', '0.973', '1,547 MiB', 't3.micro': thousands separated, unit after."""
    number = value if isinstance(value, str) else f"{value:,.{digits}f}"
    if not unit:
        return number
    return f"{number}{unit}" if unit in TIGHT_UNITS else f"{number} {unit}"


def ratio_digits(x: float) -> int:
    """Decimals of a ratio printed to three significant digits, as stats.fmt_ratio prints it."""
    if not x or not math.isfinite(x) or abs(x) >= 100:
        return 0
    return max(0, 2 - math.floor(math.log10(abs(x))))


def figure_path(report: Path) -> Path:
    """Where a report's figures go: figures.json in the plots' folder beside the report."""
    return report.parent / "bench" / FILE_NAME


def report_name(report: Path) -> str:
    """A report's path as figures.json names it: relative to the repository when inside it."""
    report = report.resolve()
    return str(report.relative_to(REPO)) if report.is_relative_to(REPO) else report.name


def load(path: Path) -> dict[str, Figure]:
    """The figures in a figures.json (empty when there is none yet)."""
    if not path.exists():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: Figure(name=name, **fields) for name, fields in raw["figures"].items()}


def write(path: Path, figures: list[Figure], command: str, day: dt.date | None = None) -> Path:
    """Write this run's figures into figures.json, stamped with its command and day.

    The figures of other commands stay. Those of this command are replaced as a whole, as its run
    replaces its part of the report: a figure this run did not measure (fewer sizes) is gone, so a
    document still quoting it fails its test instead of quoting a number the report no longer shows.
    """
    measured = (day or dt.date.today()).isoformat()
    merged = {name: f for name, f in load(path).items() if f.command != command}
    for f in figures:
        merged[f.name] = Figure(**{**asdict(f), "command": command, "measured": measured})
    body = {"about": "Written by the bench scripts (bench/figures.py); docs quote these through "
                     "docs/figures_doc.py. Do not edit by hand: rerun the command a figure names.",
            "figures": {name: {k: v for k, v in asdict(f).items() if k != "name"}
                        for name, f in sorted(merged.items())}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
