"""`make bench-scale`'s pure parts on tiny inputs: the blocked float32 reference and the verdicts."""

import numpy as np
import scale
from imagesearch.index.vectors import centre_and_normalise, exact_batch, feature_mean


def _vectors(n=300, dim=16, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return centre_and_normalise(x, feature_mean(x), dtype=np.float16)


def test_the_blocked_float32_scan_finds_the_exact_top_k():
    v = _vectors()
    queries = np.asarray(v[:5], dtype=np.float32)
    truth = exact_batch(v, queries, scale.K)
    for block_rows in (1000, 64, 7):  # one block, several, and a last block shorter than the rest
        ms, found = scale.float32_scan(v, queries, block_rows=block_rows)
        assert len(ms) == 5 and all(t >= 0 for t in ms)
        assert [f.tolist() for f in found] == [t.tolist() for t in truth]


def test_verdicts_say_met_or_missed_with_the_margin():
    assert scale.verdict(446, 450, at_most=True, digits=0) == "met (by 4)"
    assert scale.verdict(544, 450, at_most=True, digits=0) == "**missed by 94**"
    assert scale.verdict(0.998, 0.95, at_most=False, digits=3) == "met (by 0.048)"
    assert scale.verdict(4.9, 5, at_most=False) == "**missed by 0.1**"


def test_the_smallest_instance_keeps_a_quarter_free():
    assert scale.instance_for(446).startswith("t3.micro")
    assert scale.instance_for(768).startswith("t3.micro")  # exactly 75% of 1 GiB
    assert scale.instance_for(769).startswith("t3.small")
    assert scale.instance_for(1547).startswith("t3.medium")
    assert scale.instance_for(7000) == "larger than t3.large"


def test_the_targets_table_covers_every_measured_size():
    results = []
    for n, peak in ((30_000, 446.0), (1_000_000, 4330.0)):
        r = scale.SizeResult(n, lsh_ms=[1.0, 1.0], exact32_ms=[30.0, 30.0], lsh_recall=0.99)
        r.daemon = {"peak_mib": peak, "anon_mib": peak / 2}
        results.append(r)
    text = scale.targets(results, seconds=600)
    assert "| exact float32 / LSH p50 at 30,000 | >= 5 | 30.0x | met (by 25.0) |" in text
    assert "| exact float32 / LSH p50 at 1,000,000 | >= 20 | 30.0x | met (by 10.0) |" in text
    assert "| the same, stretch (MiB) | <= 450 | 446 | met (by 4) |" in text
    assert "t3.large (53% of 8 GiB)" in text
