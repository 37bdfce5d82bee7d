"""Section 9: the old system's published per-stage times beside ours, each marked by where it comes from."""

from __future__ import annotations

from dataclasses import dataclass

from copy_stage import CopyResult
from end_to_end import E2EResult
from load_time import OLD, OPEN, LoadResult
from query_latency import WARM_INDEXED, WARM_NEW, QueryResult
from report import Section, table
from stats import summarize

MEASURED = "measured here"
ESTIMATE = "estimate (not measurable without AWS)"
REMOVED = "stage removed"

# The one stage this report cannot measure. No published figure for SSM Run Command delivery latency
# was found in AWS's documentation (Run Command user guide, SendCommand API reference); the deployed
# function reports the real value in every answer (timings_ms.ssm_send / ssm_wait) and as metrics.
SSM_ESTIMATE = (
    "unknown until deployed; no published AWS latency figure for Run Command was found in the Systems "
    "Manager user guide or API reference. The function polls at 0.1 s, 0.15 s, ... growing to 1 s, so an "
    "answer is seen at most one poll interval after the agent finishes; the real value is in every answer's "
    "`timings_ms.ssm_send` + `ssm_wait` and in the function's metrics"
)


@dataclass(frozen=True)
class Stage:
    """One row: the old stage and its published time, ours and where our figure comes from."""

    old: str
    old_time: str
    ours: str
    ours_time: str
    source: str


def _p50(values: list[float]) -> str:
    s = summarize(values)
    return f"{s.p50:,.1f} ms (p95 {s.p95:,.1f}, n={s.n})"


def stages(load: LoadResult, query: QueryResult, copy: CopyResult, e2e: E2EResult | None) -> list[Stage]:
    """The comparison rows from this run's results."""
    rows = [
        Stage("download the SSH key", "0.5-3.5 s", "none: SSM Run Command, no keys", "0 s", REMOVED),
        Stage("SSH connect", "0.15-0.5 s", "SSM send + agent delivery + poll", SSM_ESTIMATE, ESTIMATE),
    ]
    if e2e is not None:
        serial = e2e.runs[0]
        rows.append(Stage("", "", "SSM send + wait with the local stand-in runner",
                          f"{_p50(serial.stages['ssm_send'])} + {_p50(serial.stages['ssm_wait'])}",
                          MEASURED + " (local runner, not AWS)"))
    fetch = (query.daemon_stages.get(WARM_NEW, {}).get("fetch")
             or query.daemon_stages.get(WARM_INDEXED, {}).get("fetch"))
    rows.append(Stage("fetch the image", "1 s", "daemon reads the query image from S3",
                      _p50(fetch) if fetch else "n/a", MEASURED + " (local S3)"))
    rows.append(Stage("LSH search (per-query pickle load)", "6 s",
                      "load: once per daemon start, not per query",
                      f"{_p50(load.ms[OPEN])} to open; old load measured here: {_p50(load.ms[OLD])}",
                      MEASURED))
    for label in (WARM_INDEXED, WARM_NEW):
        if label in query.ms:
            rows.append(Stage("", "", f"search, {label}", _p50(query.ms[label]), MEASURED))
    for k in (1, 20):
        if k in copy.ms["parallel (ours)"]:
            rows.append(Stage(f"copy results, k={k}", "1.5 s" if k == 1 else "17.6 s",
                              f"parallel copy, k={k}, {copy.latency_s * 1000:.0f} ms per request injected",
                              _p50(copy.ms["parallel (ours)"][k]),
                              MEASURED + " (local S3 + injected latency)"))
    if e2e is not None:
        rows.append(Stage("total", "9.5-25 s", "POST /api/search, local stack, 1 client",
                          _p50(e2e.runs[0].wall_ms), MEASURED + " (SSM and S3 local)"))
    rows.append(Stage("", "", "total on AWS", "local total + the real SSM round trip + real S3 latency",
                      ESTIMATE))
    return rows


def section(rows: list[Stage]) -> Section:
    """The markdown section."""
    body = "\n\n".join([
        "The old system's times are its published per-stage figures; ours come from this run unless marked.",
        table(["old stage", "old time", "our stage", "our time", "source of our figure"],
              [[r.old, r.old_time, r.ours, r.ours_time, r.source] for r in rows]),
    ])
    return Section("Against the system we replace", body)
