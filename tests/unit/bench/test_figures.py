"""Published figures have one home: the bench scripts write docs/bench/figures.json, documents quote it.

The writers run on tiny inputs (no benchmark runs here); docs/figures_doc.py rewrites the marked
spans, and the repository's README.md and docs/*.md are checked against figures.json: a span that
differs from its figure, or an unmarked quote of a daemon's memory or of the default instance,
fails.
"""

import datetime as dt
import importlib.util
import json
import re
from pathlib import Path

import build_speed
import cache_bench
import end_to_end
import figures
import load_time
import memory
import pytest
import query_latency
import run_figures
import scale
from figures import Figure

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def figures_doc():
    """docs/figures_doc.py, loaded by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("figures_doc", REPO / "docs" / "figures_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the writer ---------------------------------------------------------------------------------

def test_a_figure_prints_as_its_report_does():
    assert Figure("a", 445.6, "MiB").text() == "446 MiB"
    assert Figure("a", 1547.2, "MiB").text() == "1,547 MiB"
    assert Figure("a", 52.49, "x", 1).text() == "52.5x"
    assert Figure("a", 44.4, "%").text() == "44%"
    assert Figure("a", 0.9731, "", 3).text() == "0.973"
    assert Figure("a", "t3.micro").text() == "t3.micro"
    assert Figure("a", 65.84, "s", 1).text(0) == "66 s"
    assert [figures.ratio_digits(x) for x in (0.682, 4.74, 52.5, 173.0)] == [3, 2, 1, 0]


def test_a_run_replaces_its_commands_figures_and_keeps_the_others(tmp_path):
    path = tmp_path / "bench" / "figures.json"
    figures.write(path, [Figure("b", 2.0), Figure("a", 1.0, "ms", 1)], "make bench", dt.date(2026, 1, 2))
    figures.write(path, [Figure("c", "t3.micro")], "make bench-scale", dt.date(2026, 1, 3))
    assert list(json.loads(path.read_text())["figures"]) == ["a", "b", "c"]  # sorted: small diffs
    figures.write(path, [Figure("a", 3.0, "ms", 1)], "make bench", dt.date(2026, 1, 4))
    got = figures.load(path)
    assert sorted(got) == ["a", "c"]  # b: not measured by make bench's latest run
    assert (got["a"].value, got["a"].measured, got["a"].command) == (3.0, "2026-01-04", "make bench")
    assert (got["c"].measured, got["c"].command) == ("2026-01-03", "make bench-scale")
    assert not path.with_suffix(".partial").exists()


def test_figures_go_beside_the_reports_plots():
    assert figures.figure_path(REPO / "docs" / "benchmarks.md") == REPO / "docs" / "bench" / "figures.json"
    assert figures.report_name(REPO / "docs" / "benchmarks.md") == "docs/benchmarks.md"


def test_bench_scale_writes_its_growth_figures():
    results = []
    for n, peak in ((30_000, 445.6), (1_000_000, 4330.4)):
        r = scale.SizeResult(n, build_s=2.8, disk_bytes=247 * 2**20, open_ms=15.0, default_mode="lsh",
                             lsh_ms=[0.5, 0.7], exact_ms=[40.0, 42.0], exact32_ms=[14.0, 14.0],
                             lsh_recall=0.998)
        r.ann = {"ms": [0.26, 0.26]}
        r.daemon = {"peak_mib": peak, "anon_mib": 236.0, "file_mib": 207.0}
        results.append(r)
    got = {f.name: f for f in scale.figures(results, seconds=750)}
    assert got["daemon_peak_30k"].text() == "446 MiB"
    assert got["daemon_peak_1m"].text() == "4,330 MiB"
    assert (got["instance_30k"].text(), got["instance_share_30k"].text()) == ("t3.micro", "44%")
    assert got["instance_1m"].text() == "t3.large"
    assert got["scale_exact32_lsh_ratio_30k"].text() == "23.3x"
    assert got["scale_wall_minutes"].text() == "12.5 minutes"
    assert all(f.section == f"docs/benchmarks.md#{scale.TITLE}" for f in got.values())
    assert [scale.size_name(n) for n in (30_000, 100_000, 1_000_000, 1234)] == ["30k", "100k", "1m", "1234"]


def test_bench_run_writes_its_headline_figures():
    builds = [build_speed.Build("full collection", 32, 600, 10.0, 5.0, {"recall": {"recall": 0.973}}),
              build_speed.Build("subset", 224, 24, 4.0, 2.0, {})]
    load = load_time.LoadResult(600, 2048, {load_time.OPEN: [1.0, 2.0], load_time.OLD: [300.0, 310.0]}, 1, 1)
    query = query_latency.QueryResult(600, 5, ms={query_latency.WARM_INDEXED: [10.0, 12.0],
                                                  query_latency.WARM_NEW: [18.0],
                                                  query_latency.COLD: [600.0]})
    mem = memory.MemoryResult(600, 445.6, 400.0, 5.0)
    run = end_to_end.Run(1)
    run.wall_ms += [130.0, 140.0]
    run.stages["total"] += [128.0, 132.0]
    e2e = end_to_end.E2EResult(600, 5, [run])
    got = {f.name: f for f in run_figures.figures(builds, load, query, mem, e2e)}
    assert got["bench_images"].text() == "600"
    assert got["bench_build_wall"].text() == "10.0 s"
    assert got["bench_build_rate_224px"].text() == "12.0 img/s"
    assert got["bench_warm_indexed_ms"].text() == "11.00 ms"
    assert got["bench_cold_warm_ratio"].text() == "54.5x"
    assert got["bench_daemon_peak"].text() == "446 MiB"
    assert got["bench_e2e_wall_ms"].text() == "135.0 ms"
    assert "bench_exact_ms" not in got  # not measured: not written
    assert got["bench_open_ms"].section == "docs/benchmarks.md#Index load time"


def test_bench_cache_writes_its_figures():
    class Warm:
        total_s, entries = 459.0, 30_000

    lat = {"hit": [70.0, 80.0], "ssm": [350.0, 360.0]}
    got = {f.name: f for f in cache_bench.figures(lat, {"report": Warm, "count": 30_000, "stored": 24.0e6})}
    assert got["cache_hit_ms"].text() == "75.0 ms"
    assert got["cache_hit_speedup"].text() == "4.73x"
    assert got["cache_entry_bytes"].text() == "800 bytes"
    assert got["cache_warm_images"].text() == "30,000"


def test_each_bench_script_writes_its_figures_beside_its_report():
    """The writer is wired into the three scripts' entry points (they are not run here: minutes each)."""
    import inspect

    import run

    for entry in (run.run, scale.main, cache_bench.main):
        source = inspect.getsource(entry)
        assert "figure_path(" in source and ("figures.write(" in source or "write_figures(" in source), entry


# --- the documents ------------------------------------------------------------------------------

def test_spans_are_rewritten_from_the_figures(figures_doc, tmp_path):
    path = tmp_path / "bench" / "figures.json"
    figures.write(path, [Figure("daemon_peak_30k", 445.6, "MiB"), Figure("lat", 619.96, "ms", 2),
                         Figure("big", 4330.0, "MiB")], "make bench-scale")
    figs = figures.load(path)
    text = ("peak <!-- fig:daemon_peak_30k -->800 MiB<!-- /fig -->, cold <!-- fig:lat:0 -->1 ms<!-- /fig -->"
            " (<!-- fig:lat:1:s -->x<!-- /fig -->), <!-- fig:big:1:GiB -->?<!-- /fig -->"
            " <!-- fig:lat:0:- -->?<!-- /fig -->")
    assert figures_doc.render(text, figs) == (
        "peak <!-- fig:daemon_peak_30k -->446 MiB<!-- /fig -->, cold <!-- fig:lat:0 -->620 ms<!-- /fig -->"
        " (<!-- fig:lat:1:s -->0.6 s<!-- /fig -->), <!-- fig:big:1:GiB -->4.2 GiB<!-- /fig -->"
        " <!-- fig:lat:0:- -->620<!-- /fig -->")
    with pytest.raises(KeyError, match="fig:nope"):
        figures_doc.render("<!-- fig:nope -->1<!-- /fig -->", figs)


def test_a_span_that_differs_from_its_figure_is_drift(figures_doc, tmp_path):
    figs = {"daemon_peak_30k": Figure("daemon_peak_30k", 446.0, "MiB")}
    doc = tmp_path / "doc.md"
    doc.write_text("ok <!-- fig:daemon_peak_30k -->446 MiB<!-- /fig -->\n"
                   "stale <!-- fig:daemon_peak_30k -->795 MiB<!-- /fig -->\n"
                   "gone <!-- fig:daemon_peak_1m -->4 GiB<!-- /fig -->\n")
    problems = figures_doc.drift(figs, [doc])
    assert len(problems) == 2
    assert "says '795 MiB', its source says '446 MiB'" in problems[0]
    assert "(no such figure)" in problems[1]


@pytest.mark.parametrize("text", [
    "It answers in 12 ms with a peak of about 800 MiB.",
    "The daemon serving 30,000 images:\n795 MiB, of which 365 MiB are arrays.",
    "| 30,000 | t3.micro (1 GiB): peak 446 MiB |",
    "| t3.medium (default) | 4 GiB | about 220,000 |",
    "The default is **t3.medium** (4 GiB).",
    "- parameters (`InstanceType` t3.small, the AMI)",
])
def test_an_unmarked_quote_of_a_drifted_kind_is_found(figures_doc, text):
    assert figures_doc.stale_quotes(text)


@pytest.mark.parametrize("text", [
    "It answers with a peak of <!-- fig:daemon_peak_30k -->446 MiB<!-- /fig -->.",
    "The default is **<!-- fig:default_instance -->t3.micro<!-- /fig -->** (1 GiB).",
    "<!-- past: 2026-10, before the gradient fix -->daemon RSS 661 MB / 940 MB<!-- /past -->",
    "The bundle is about 86 MiB. The daemon starts later.",  # another sentence
    "300,000 images need a t3.medium; 1,000,000 a t3.large.",  # no default quoted
    "```\ndaemon peak 800 MiB\n```",
])
def test_marked_quotes_history_and_other_figures_pass(figures_doc, text):
    assert figures_doc.stale_quotes(text) == []


def test_the_check_command_passes_on_the_repository(figures_doc, capsys):
    assert figures_doc.main(["--check"]) == 0, capsys.readouterr().err


def test_the_templates_instance_help_quotes_the_measured_peaks():
    """template.yaml's InstanceType description cites daemon peaks: they are figures.json's."""
    figs = figures.load(REPO / "docs" / "bench" / "figures.json")
    quoted = re.findall(r"(\d[\d,]*) MiB at (\d[\d,]*)", (REPO / "template.yaml").read_text())
    assert quoted
    for mib, images in quoted:
        assert figs[f"daemon_peak_{scale.size_name(int(images.replace(',', '')))}"].text() == f"{mib} MiB"


def test_the_default_instance_is_the_templates(figures_doc):
    text = (REPO / "template.yaml").read_text()
    default = re.search(r"^  InstanceType:\n(?:    .*\n)*?    Default: (\S+)", text, re.M).group(1)
    assert figures_doc.load_figures()["default_instance"].text() == default


def test_readme_and_docs_quote_no_figure_their_sources_contradict(figures_doc):
    """The acceptance line: every span equals figures.json and no drifted kind is quoted unmarked."""
    figs = figures_doc.load_figures()
    paths = figures_doc.documents()
    assert REPO / "README.md" in paths and REPO / "docs" / "scale.md" in paths
    assert figures_doc.drift(figs, paths) == [], "run `make figures-doc`"
    unmarked = [f"{p.relative_to(REPO)}:{line}: {quote} ({why})" for p in paths
                for line, quote, why in figures_doc.stale_quotes(p.read_text(encoding="utf-8"))]
    assert unmarked == [], "quote these through <!-- fig:NAME -->...<!-- /fig --> (docs/figures_doc.py)"
    used = {m["name"] for p in paths for m in figures_doc.SPAN.finditer(p.read_text(encoding="utf-8"))}
    assert {"daemon_peak_30k", "default_instance"} <= used


def _sections(report: Path) -> dict[str, str]:
    """Heading (without its number) -> the text under it."""
    parts = re.split(r"^## (?:\d+\. )?(.+)$", report.read_text(encoding="utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_figure_is_printed_in_the_report_section_it_names():
    """figures.json and the reports come from the same runs: each figure's number is in its section."""
    figs = figures.load(REPO / "docs" / "bench" / "figures.json")
    assert figs, "docs/bench/figures.json is empty"
    missing = []
    for f in figs.values():
        report, _, title = f.section.partition("#")
        sections = _sections(REPO / report)
        body = next((text for head, text in sections.items() if head.startswith(title)), None)
        number = figures.format_value(f.value, "", f.digits).replace(",", "")
        if body is None or not re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", body.replace(",", "")):
            missing.append(f"{f.name} = {f.text()} not in {f.section}")
    assert missing == []
