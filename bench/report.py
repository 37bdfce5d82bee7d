"""Markdown building blocks for docs/benchmarks.md: tables, sections and figure links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Section:
    """One numbered part of the report: its title and markdown body (plots are linked in the body)."""

    title: str
    body: str


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; cells are str()-ed and pipes escaped."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def figure(rel_path: str, alt: str) -> str:
    """A markdown image link to a plot, relative to the report."""
    return f"![{alt}]({rel_path})"


def render(title: str, preamble: str, sections: Sequence[Section]) -> str:
    """The whole report: title, machine and command preamble, then numbered sections."""
    parts = [f"# {title}", "", preamble.strip(), ""]
    for number, section in enumerate(sections, start=1):
        parts += [f"## {number}. {section.title}", "", section.body.strip(), ""]
    return "\n".join(parts).rstrip() + "\n"


# Sections written by hand or by their own commands (make bench-cache, bench/upload_search.py, ...)
# live below this line in docs/benchmarks.md; a `make bench` rewrites only what is above it.
KEEP_MARKER = "<!-- make bench keeps everything below this line -->"


def with_kept_tail(text: str, previous: str) -> str:
    """The new report followed by the part of the previous one from KEEP_MARKER on (if any)."""
    at = previous.find(KEEP_MARKER)
    return text if at < 0 else text.rstrip("\n") + "\n\n" + previous[at:].rstrip("\n") + "\n"
