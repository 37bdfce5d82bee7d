"""Rewrite the figures quoted in README.md and docs/*.md from their home (`make figures-doc`; `--check`).

A document quotes a measured figure through a marked span:

    <!-- fig:daemon_peak_30k -->446 MiB<!-- /fig -->

and this generator rewrites the text between the markers from docs/bench/figures.json, which the
bench scripts write (bench/figures.py). `fig:NAME:D` prints D decimals; `fig:NAME:D:UNIT` prints
the figure in another unit (GiB for MiB, s for ms, % for a fraction, `-` for none). One figure
does not come from a bench run: `default_instance`, the template's `InstanceType` default.

Text between `<!-- past -->` and `<!-- /past -->` is an earlier measurement kept as history (each
such block says when and what); it is the only place a figure may be quoted without a span.
`stale_quotes` finds unmarked quotes of the kinds that drifted before (a daemon's memory in MiB,
the default instance type); the unit test fails on any.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))

import figures as bench_figures  # noqa: E402 - bench/ is a folder of scripts, not a package

FIGURES = REPO / "docs" / "bench" / bench_figures.FILE_NAME
TEMPLATE = REPO / "template.yaml"
# The bench reports are the figures' sources and settings.md has its own generator.
GENERATED = {"benchmarks.md", "result_cache_bench.md", "settings.md"}

SPAN = re.compile(r"<!-- fig:(?P<name>[a-z0-9_]+)(?::(?P<digits>\d+))?(?::(?P<unit>[^ :>]+))? -->"
                  r"(?P<text>[^\n]*?)<!-- /fig -->")
PAST = re.compile(r"<!-- past\b[^>]*-->.*?<!-- /past -->", re.S)
# Unit conversions a span may ask for: (from, to) -> factor.
CONVERSIONS = {("MiB", "GiB"): 1 / 1024, ("GiB", "MiB"): 1024, ("ms", "s"): 1 / 1000, ("s", "ms"): 1000,
               ("", "%"): 100}


def documents(repo: Path = REPO) -> list[Path]:
    """README.md and every hand-written docs/*.md."""
    docs = sorted(p for p in (repo / "docs").glob("*.md") if p.name not in GENERATED)
    return [repo / "README.md", *docs]


def default_instance(template: Path = TEMPLATE) -> str:
    """The `InstanceType` parameter's Default in template.yaml (read as text: the template has CFN tags)."""
    text = template.read_text(encoding="utf-8")
    match = re.search(r"^  InstanceType:\n(?:    .*\n)*?    Default: *(\S+)", text, re.M)
    if match is None:
        raise ValueError(f"{template}: no Parameters.InstanceType.Default")
    return match.group(1)


def load_figures(path: Path = FIGURES, template: Path = TEMPLATE) -> dict[str, bench_figures.Figure]:
    """Every quotable figure: figures.json plus the template's default instance type."""
    figs = bench_figures.load(path)
    figs["default_instance"] = bench_figures.Figure(
        "default_instance", default_instance(template), what="the template's InstanceType default",
        section="template.yaml#Parameters.InstanceType")
    return figs


def span_text(fig: bench_figures.Figure, digits: str | None, unit: str | None) -> str:
    """What a span of this figure says, with its optional decimals and unit."""
    if unit is None or unit == fig.unit:
        return fig.text(None if digits is None else int(digits))
    if unit == "-":
        return bench_figures.format_value(fig.value, "", fig.digits if digits is None else int(digits))
    factor = CONVERSIONS.get((fig.unit, unit))
    if factor is None or isinstance(fig.value, str):
        raise ValueError(f"fig:{fig.name} is in {fig.unit or 'no unit'}; it cannot be shown in {unit}")
    converted = replace(fig, value=fig.value * factor, unit=unit)
    return converted.text(None if digits is None else int(digits))


def render(text: str, figs: dict[str, bench_figures.Figure], where: str = "") -> str:
    """The text with every span rewritten from the figures; an unknown name is an error."""
    def one(m: re.Match) -> str:
        fig = figs.get(m["name"])
        if fig is None:
            raise KeyError(f"{where}: fig:{m['name']} is not in {FIGURES.relative_to(REPO)}")
        head = m.group(0)[: m.start("text") - m.start()]
        return f"{head}{span_text(fig, m['digits'], m['unit'])}<!-- /fig -->"

    return SPAN.sub(one, text)


def drift(figs: dict[str, bench_figures.Figure], paths: list[Path]) -> list[str]:
    """'file: span says X, figures.json says Y' for every span that differs from its figure."""
    out = []
    for path in paths:
        for m in SPAN.finditer(path.read_text(encoding="utf-8")):
            fig = figs.get(m["name"])
            want = span_text(fig, m["digits"], m["unit"]) if fig else "(no such figure)"
            if m["text"] != want:
                out.append(f"{_rel(path)}: fig:{m['name']} says {m['text']!r}, its source says {want!r}")
    return out


# The kinds of quote that drifted before: a daemon's memory, and the default instance type.
MEMORY_WORDS = re.compile(r"\b(daemon|peak|VmHWM|RSS|resident)", re.I)
MEMORY = re.compile(r"\d[\d,]*(?:\.\d+)?\s?(?:MiB|MB)\b")
INSTANCE = re.compile(r"\b(?:t2|t3a?|t4g|[cmr][5-8][a-z]*)\.(?:nano|micro|small|medium|\d*x?large)\b")
DEFAULT_WORD = re.compile(r"\bdefault\b|InstanceType", re.I)
NEAR = 40  # characters between "default" and an instance type that make it a quote of the default


def _units(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each sentence or table row, with spans, past blocks and code blanked."""
    def blank(m: re.Match) -> str:  # keeps the newlines, so line numbers still hold
        return re.sub(r"[^\n]", " ", m.group(0))

    text = PAST.sub(blank, text)
    text = SPAN.sub(blank, text)
    text = re.sub(r"```.*?```", blank, text, flags=re.S)
    units: list[tuple[int, str]] = []
    para: list[tuple[int, str]] = []

    def flush() -> None:
        joined, lines, at = "", [], 0
        for number, line in para:
            lines.append((at, number))
            joined += line + " "
            at = len(joined)
        for m in re.finditer(r".+?(?:[.;!?](?=\s+[A-Z(*`\[])|$)", joined.strip()):
            number = max(n for a, n in lines if a <= m.start())
            units.append((number, m.group(0)))
        para.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("|", "#")) or re.match(r"(?:[-*]|\d+\.) ", line):
            flush()  # a table row, a heading, a blank line or a list item ends the paragraph
            if line.startswith(("|", "#")):
                units.append((number, line))
                continue
        if line:
            para.append((number, line))
    flush()
    return units


def stale_quotes(text: str) -> list[tuple[int, str, str]]:
    """(line, quote, why) for each unmarked quote of a daemon's memory or of the default instance."""
    found = []
    for line, unit in _units(text):
        if MEMORY_WORDS.search(unit):
            found += [(line, m.group(0), "a memory figure near daemon/peak") for m in MEMORY.finditer(unit)]
        for m in INSTANCE.finditer(unit):
            if any(abs(d.start() - m.start()) <= NEAR for d in DEFAULT_WORD.finditer(unit)):
                found.append((line, m.group(0), "an instance type near 'default'"))
    return found


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    """Rewrite every document's spans, or with --check report drift and unmarked quotes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a span differs from its figure or a figure is quoted unmarked")
    args = parser.parse_args(argv)
    figs = load_figures()
    paths = documents()
    if args.check:
        problems = drift(figs, paths)
        for path in paths:
            problems += [f"{_rel(path)}:{line}: unmarked {quote!r} ({why}): quote it through a fig span"
                         for line, quote, why in stale_quotes(path.read_text(encoding="utf-8"))]
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    for path in paths:
        old = path.read_text(encoding="utf-8")
        new = render(old, figs, _rel(path))
        if new != old:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote figures in {_rel(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
