"""Summaries, ratios and markdown: the pieces every section is written with."""

import pytest
import report
import stats


def test_summarize_gives_median_quartiles_and_count():
    s = stats.summarize([1, 2, 3, 4, 100])
    assert (s.p50, s.q1, s.q3, s.n, s.lo, s.hi) == (3, 2, 4, 5, 1, 100)
    assert "n=5" in s.fmt("ms") and "IQR 2.0-4.0" in s.fmt("ms")


def test_summarize_single_value_says_n_1_and_refuses_nothing():
    assert stats.summarize([7.0]).fmt("s") == "7.0 s (n=1)"
    with pytest.raises(ValueError, match="no measurements"):
        stats.summarize([])


def test_ratio_of_medians_with_an_interval_around_it():
    point, low, high = stats.ratio([10, 10, 10, 10], [2, 2, 2, 2])
    assert point == 5.0 and low == 5.0 and high == 5.0
    assert stats.fmt_ratio([10, 11, 9], [1, 1, 1]).startswith("10x")
    with pytest.raises(ValueError):
        stats.ratio([], [1])


def test_time_ms_returns_one_value_per_repeat_after_warmup():
    calls = []
    values = stats.time_ms(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(values) == 4 and len(calls) == 6 and all(v >= 0 for v in values)


def test_table_escapes_pipes_and_render_numbers_sections():
    t = report.table(["a", "b"], [["x|y", 1]])
    assert t.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]
    text = report.render("T", "pre", [report.Section("One", "body"), report.Section("Two", "more")])
    assert "## 1. One" in text and "## 2. Two" in text and text.startswith("# T\n\npre")


def test_a_rerun_keeps_the_sections_below_the_marker():
    previous = f"# Benchmarks\n\nold\n\n{report.KEEP_MARKER}\n\n## 12. Result cache\n\nhand-written\n"
    text = report.with_kept_tail("# Benchmarks\n\nnew\n", previous)
    assert text.startswith("# Benchmarks\n\nnew\n") and "old" not in text
    assert text.endswith(f"{report.KEEP_MARKER}\n\n## 12. Result cache\n\nhand-written\n")
    assert report.with_kept_tail("# B\n", "# B\n\nno marker\n") == "# B\n"
