"""Reading the agent's JSON: trusted only after its keys and scores are checked."""

from __future__ import annotations

import json

import pytest
from agent_output import parse_agent_output
from errors import AgentFailed


def _ok(results, **extra) -> str:
    index = {"version": "v1", "count": 3, "mode": "exact"}
    timings = {"total": 4.25}
    return json.dumps({"ok": True, "results": results, "index": index, "timings_ms": timings, **extra})


def test_a_good_answer_is_read():
    match = {"key": "gallery/a/x.png", "score": 0.9, "band": "similar"}
    answer = parse_agent_output(_ok([match], path="cold"), k=5)
    assert answer.results == [{"key": "gallery/a/x.png", "score": 0.9, "band": "similar"}]
    assert answer.index["mode"] == "exact"
    assert (answer.path, answer.search_ms) == ("cold", 4.25)


def test_log_lines_before_the_json_are_ignored():
    stdout = "warming up\n" + _ok([{"key": "gallery/a/x.png", "score": 1}]) + "\n"
    assert parse_agent_output(stdout, k=1).results == [{"key": "gallery/a/x.png", "score": 1.0, "band": None}]


@pytest.mark.parametrize("band", ["near_duplicate", "similar", "weak"])
def test_each_band_is_passed_through(band):
    answer = parse_agent_output(_ok([{"key": "gallery/a/x.png", "score": 0.5, "band": band}]), k=1)
    assert answer.results[0]["band"] == band


@pytest.mark.parametrize("band", [None, "", "NEAR", "near-duplicate", 3, ["weak"], {"b": 1}, "<script>"])
def test_a_band_that_is_not_a_band_name_is_null(band):
    # An agent without bands (older index) or a garbled one: the match stays, its band is unknown.
    answer = parse_agent_output(_ok([{"key": "gallery/a/x.png", "score": 0.5, "band": band}]), k=1)
    assert answer.results == [{"key": "gallery/a/x.png", "score": 0.5, "band": None}]


def test_more_results_than_k_are_cut_and_a_missing_path_means_warm():
    results = [{"key": f"gallery/a/{i}.png", "score": 1 - i / 10} for i in range(6)]
    answer = parse_agent_output(_ok(results), k=3)
    assert [r["key"] for r in answer.results] == ["gallery/a/0.png", "gallery/a/1.png", "gallery/a/2.png"]
    assert answer.path == "warm"


@pytest.mark.parametrize("stdout", [
    "",
    "not json",
    json.dumps([1, 2]),
    json.dumps({"ok": True}),
    json.dumps({"ok": "yes", "results": []}),
    _ok([{"key": "albums/a/x.png", "score": 0.5}]),  # not a gallery key
    _ok([{"key": "gallery/../../etc/passwd", "score": 0.5}]),
    _ok([{"key": "gallery/a/x.png"}]),  # no score
    _ok([{"key": "gallery/a/x.png", "score": "high"}]),
    _ok([{"key": "gallery/a/x.png", "score": True}]),
    _ok(["gallery/a/x.png"]),
], ids=["empty", "text", "array", "no results", "ok not true", "albums key", "traversal", "no score",
        "string score", "bool score", "bare string"])
def test_unusable_output_is_a_502_bad_agent_output(stdout):
    with pytest.raises(AgentFailed) as caught:
        parse_agent_output(stdout, k=5)
    assert (caught.value.status, caught.value.code) == (502, "bad_agent_output")


def test_ok_false_carries_the_agents_code_and_message():
    stdout = json.dumps({"ok": False, "error": {"code": "index_unavailable", "message": "no index yet"}})
    with pytest.raises(AgentFailed) as caught:
        parse_agent_output(stdout, k=5)
    assert (caught.value.status, caught.value.code, caught.value.message) == (503, "index_unavailable",
                                                                              "no index yet")


SHA = "ab" * 32


@pytest.mark.parametrize(("query", "expected"), [
    ({"sha256": SHA}, SHA),  # the hash of the bytes the agent searched
    (None, None),  # an older agent names none: served, never cached
    ({}, None), ({"sha256": SHA.upper()}, None), ({"sha256": SHA[:-1]}, None), ({"sha256": SHA + "\n"}, None),
    ({"sha256": 5}, None), ("ab" * 32, None), ([SHA], None),
])
def test_the_searched_hash_is_read_only_when_well_formed(query, expected):
    extra = {} if query is None else {"query": query}
    answer = parse_agent_output(_ok([{"key": "gallery/a/x.png", "score": 0.9}], **extra), k=5)
    assert answer.sha256 == expected
