"""Section 8: POST /api/search through the local stack's dev server, stage by stage, serial and 4 at once."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import plots
from report import Section, figure, table
from stats import summarize

STAGES = ("ssm_send", "ssm_wait", "search", "copy", "total")


@dataclass
class Run:
    """One batch of requests: client wall time and the API's timings_ms for each answer."""

    clients: int
    wall_ms: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    paths: list[str] = field(default_factory=list)


@dataclass
class E2EResult:
    """Serial and concurrent runs against one stack."""

    count: int
    k: int
    runs: list[Run]


def album_keys(base_url: str) -> list[str]:
    """Every image key the page offers (albums.json and the album pages), as album query keys."""
    from publish.smoke import album_keys as listed

    return listed(base_url, 30.0)


def post_search(api_url: str, key: str, k: int) -> tuple[float, dict]:
    """One POST /search; (client milliseconds, answer). Raises on a non-200 answer."""
    body = json.dumps({"key": key, "k": k}).encode()
    request = urllib.request.Request(api_url.rstrip("/") + "/search", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback URL; errors raise
        answer = json.load(resp)
    return (time.perf_counter() - t0) * 1000, answer


def run_batch(api_url: str, keys: Sequence[str], k: int, requests: int, clients: int) -> Run:
    """`requests` searches spread over `clients` threads, keys taken in turn."""
    run = Run(clients)

    def one(i: int) -> tuple[float, dict]:
        return post_search(api_url, keys[i % len(keys)], k)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        for ms, answer in pool.map(one, range(requests)):
            run.wall_ms.append(ms)
            for stage in STAGES:
                run.stages[stage].append(float(answer["timings_ms"][stage]))
            run.paths.append(str(answer.get("path", "?")))
    return run


def measure(api_url: str, keys: Sequence[str], count: int, k: int, requests: int, concurrent: int = 4,
            warmup: int = 3) -> E2EResult:
    """A serial run and a run with `concurrent` clients, after a few untimed requests."""
    for i in range(warmup):
        post_search(api_url, keys[i % len(keys)], k)
    runs = [run_batch(api_url, keys, k, requests, 1), run_batch(api_url, keys, k, requests, concurrent)]
    return E2EResult(count, k, runs)


def _minus(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Element-wise a - b (per request), e.g. the SSM wait not spent in the agent."""
    return [x - y for x, y in zip(a, b, strict=True)]


def section(result: E2EResult, plot_dir: Path, rel_dir: str) -> Section:
    """The markdown section and its stacked-stage plot."""
    headers = ["clients", *STAGES, "client wall"]
    rows = []
    for run in result.runs:
        summaries = [summarize(run.stages[s]) for s in STAGES] + [summarize(run.wall_ms)]
        rows.append([f"{run.clients} (n={len(run.wall_ms)})",
                     *(f"{s.p50:,.1f} / {s.p95:,.1f}" for s in summaries)])
    groups = [f"{r.clients} client{'s' if r.clients > 1 else ''}" for r in result.runs]
    parts = {"ssm_send": [summarize(r.stages["ssm_send"]).p50 for r in result.runs],
             "ssm_wait outside the agent": [summarize(_minus(r.stages["ssm_wait"], r.stages["search"])).p50
                                            for r in result.runs],
             "agent (search)": [summarize(r.stages["search"]).p50 for r in result.runs],
             "copy": [summarize(r.stages["copy"]).p50 for r in result.runs]}
    plots.stacked_bars(plot_dir / "e2e.png", groups, parts, "median ms",
                       "POST /api/search by stage (local stack)")
    paths = sorted({p for r in result.runs for p in r.paths})
    body = "\n\n".join([
        f"`python -m devstack` on the same {result.count:,}-image collection: the dev server turns each "
        "POST /api/search into an HTTP API v2 event for the Lambda handler, which finds the instance (moto "
        "EC2), sends the SSM document to the local runner (it runs the document's own command, the thin "
        "client, which asks the warm daemon), polls, and copies the "
        f"k={result.k} matches in moto S3 (no injected latency here). Cells are p50 / p95 in ms from each "
        "answer's `timings_ms`; *client wall* is the HTTP round trip measured by the bench. Answers "
        f"reported path: {', '.join(paths)}. ssm_send and ssm_wait here are the local stand-in for SSM, "
        "not AWS's delivery time (see section 9). The agent's `search` time is part of `ssm_wait`; the plot "
        "splits the wait into the agent's time and the rest (the runner starting the thin client, polling).",
        table(headers, rows),
        figure(f"{rel_dir}/e2e.png", "end-to-end stages"),
    ])
    return Section("Local end-to-end latency of POST /api/search", body)
