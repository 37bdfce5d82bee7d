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
