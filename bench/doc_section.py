"""Write one named section of docs/benchmarks.md in place, between its own begin/end markers.

Sections kept below report.KEEP_MARKER are written by their own commands; each such command
replaces only the text between `<!-- NAME: begin -->` and `<!-- NAME: end -->`, adding the pair at
the end of the file the first time.
"""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section `name` of `path` with `body`."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
