"""bench/page_weight.py's report on figures of the shape the e2e tests record; no stack, no browser."""

import page_weight

FIGURES = {
    "phones48_whole_album": {"total_bytes": 790_000, "by_kind": {
        "page": {"requests": 12, "bytes": 70_000}, "listings": {"requests": 1, "bytes": 10_000},
        "thumbs": {"requests": 48, "bytes": 710_000}}},
    "huge10000_first_screen": {"total_bytes": 710_000, "tiles_shown": 100, "thumbnails_loaded": 42,
                               "by_kind": {
        "page": {"requests": 11, "bytes": 70_000}, "listings": {"requests": 1, "bytes": 20_000},
        "thumbs": {"requests": 42, "bytes": 620_000}}},
    "phone_upload": {"original_bytes": 1_440_000, "sent_bytes": 205_000},
}


def test_the_section_names_each_album_its_bytes_and_its_limit():
    text = page_weight.section(FIGURES)
    assert text.startswith(page_weight.HEADING) and page_weight.COMMAND in text
    assert "| 0.79 MB | 68 KiB (12) | 10 KiB (1) | 693 KiB (48) | 3 MB |" in text
    assert "| 0.71 MB |" in text and "| 2 MB |" in text
    assert "thumbnails of the 42 near the screen" in text and "as 200 KiB" in text


def test_write_puts_the_section_above_the_next_heading_then_replaces_it(tmp_path, monkeypatch):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\n## 12. Other\n\ntext\n\n{page_weight.NEXT_HEADING}\n\nrest\n")
    monkeypatch.setattr(page_weight, "DOC", doc)
    page_weight.write(page_weight.section(FIGURES))
    first = doc.read_text()
    where = [first.index(text) for text in ("## 12. Other", page_weight.HEADING, page_weight.NEXT_HEADING)]
    assert where == sorted(where)
    smaller = {**FIGURES, "phone_upload": {"original_bytes": 4096, "sent_bytes": 2048}}
    page_weight.write(page_weight.section(smaller))
    second = doc.read_text()
    assert second.count(page_weight.HEADING) == 1 and "as 2 KiB" in second and second.endswith("rest\n")
