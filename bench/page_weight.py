"""Page weight: the bytes chromium transfers to open an album, measured on the local stack.

Usage: nice -n 19 python bench/page_weight.py [--write]

Runs the measuring e2e tests (one home for the measurement): in tests/e2e/test_album_weight.py a
48-photo album opened and scrolled to its end and the first screen of a 10,000-image album, both
at 1200x900 with the cache off, bytes from the DevTools protocol's encodedDataLength, headers
included; in tests/e2e/test_upload.py the size a phone photo's upload is sent at. Reads the figures
they record in test-output/page-weight.json, and prints a markdown section; --write puts it into
docs/benchmarks.md (below the `make bench` marker line).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "test-output" / "page-weight.json"
DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## 13. Page weight: opening an album"
COMMAND = "nice -n 19 .venv/bin/python bench/page_weight.py --write"
TESTS = ["tests/e2e/test_album_weight.py::test_an_album_of_48_phone_photos_opens_within_3_mb",
         "tests/e2e/test_album_weight.py::test_a_10000_image_album_opens_within_2_mb",
         "tests/e2e/test_upload.py::test_a_phone_photo_is_sent_scaled_down_and_without_its_metadata"]
ROWS = [("phones48_whole_album",
         "48 phone photos (8 MP originals, six distinct in turn), opened and scrolled to the end", "3 MB"),
        ("huge10000_first_screen", "10,000 images, first screen", "2 MB")]
NEXT_HEADING = "## Growth to a million images"  # the section goes just above it


def kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def part(figures: dict, kind: str) -> str:
    """Bytes (requests) of one kind of file: page, listings, thumbs."""
    found = figures["by_kind"].get(kind)
    return f"{kib(found['bytes'])} ({found['requests']})" if found else "0"


def section(figures: dict) -> str:
    huge = figures["huge10000_first_screen"]
    lines = [
        HEADING, "",
        f"Not part of `make bench`; made on {date.today().isoformat()} with `{COMMAND}` (it runs the",
        "measuring e2e tests on the local stack: for albums, chromium at 1200x900, cache",
        "off, bytes as the DevTools protocol counts them, headers included; the thumbnails are display",
        "copies of generated 8-megapixel phone photos; docs/page.md says how tiles load). Cells: bytes",
        "(requests).",
        "", "| album | total | page files | listing | thumbnails | limit |", "|---|---|---|---|---|---|"]
    for name, label, limit in ROWS:
        f = figures[name]
        lines.append(f"| {label} | {f['total_bytes'] / 1e6:.2f} MB | {part(f, 'page')} "
                     f"| {part(f, 'listings')} | {part(f, 'thumbs')} | {limit} |")
    lines += ["", f"The 10,000-image album shows its first listing page ({huge['tiles_shown']} tiles) and "
              f"fetches the thumbnails of the {huge['thumbnails_loaded']} near the screen; the others load "
              "as the user scrolls, and \"Show 100 more\" loads the next listing page.", ""]
    upload = figures.get("phone_upload")
    if upload:
        original, sent = kib(upload["original_bytes"]), kib(upload["sent_bytes"])
        lines += [f"An upload of an 8-megapixel phone photo ({original}, generated) crosses the link as "
                  f"{sent}: the page redraws it at 1280 px before sending it "
                  "(docs/page.md, \"Uploads sized for phones\").", ""]
    return "\n".join(lines)


def write(text: str) -> None:
    """Replace the section, or put it above NEXT_HEADING (or at the end)."""
    doc = DOC.read_text()
    pattern = re.compile(re.escape(HEADING) + r".*?(?=\n## |\Z)", re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: text.rstrip("\n") + "\n", doc)
    elif NEXT_HEADING in doc:
        doc = doc.replace(NEXT_HEADING, text + "\n" + NEXT_HEADING, 1)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/page_weight.py", description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="put the section into docs/benchmarks.md")
    args = p.parse_args(argv)
    FIGURES.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=REPO)
    if proc.returncode != 0:
        print("the measuring tests failed; no figures written", file=sys.stderr)
        return proc.returncode
    text = section(json.loads(FIGURES.read_text()))
    print(text)
    if args.write:
        write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
