"""LSH and exact search: hand-checkable order, recall on clustered data, determinism, exclusion."""

import numpy as np
import pytest
from imagesearch.index.lsh import LshBuildParams, LshTables, lsh_search, probe_template
from imagesearch.index.recall import measure_recall
from imagesearch.index.vectors import (
    as_float32,
    centre_and_normalise,
    exact_batch,
    exact_search,
    feature_mean,
    top_k,
)


def _unit(rows):
    v = np.array(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_exact_order_on_tiny_vectors():
    # GIVEN four 2-d unit vectors at 0, 30, 60 and 90 degrees
    v = _unit([[1, 0], [np.cos(np.pi / 6), np.sin(np.pi / 6)], [0.5, np.sqrt(3) / 2], [0, 1]])
    # WHEN searching near 10 degrees THEN the order is by angle
    rows, scores = exact_search(v, _unit([[np.cos(0.17), np.sin(0.17)]])[0], 3)
    assert rows.tolist() == [0, 1, 2]
    assert scores[0] > scores[1] > scores[2]


def test_ties_break_by_lower_row_and_exclusion_works():
    v = _unit([[1, 0], [0, 1], [1, 0], [1, 0]])
    rows, _ = exact_search(v, np.array([1, 0], dtype=np.float32), 2)
    assert rows.tolist() == [0, 2]
    rows, _ = exact_search(v, np.array([1, 0], dtype=np.float32), 3, exclude=np.array([0, 2]))
    assert rows.tolist() == [3, 1]


def test_top_k_drops_excluded_and_handles_short_lists():
    rows, scores = top_k(np.array([0.5, -np.inf, 0.9]), np.array([7, 8, 9]), 5)
    assert rows.tolist() == [9, 7] and scores.tolist() == [0.9, 0.5]


def test_centring_and_normalising():
    f = np.array([[2, 0], [4, 0], [3, 3]], dtype=np.float32)
    v = centre_and_normalise(f, f.mean(axis=0))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, rtol=1e-6)
    assert centre_and_normalise(np.zeros((1, 2)), np.zeros(2)).tolist() == [[0, 0]]


def _clusters(n=3000, d=64, centres=30, spread=0.35, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    x = c[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, d))
    x = x.astype(np.float32)
    return centre_and_normalise(x, x.mean(axis=0))


def test_lsh_recall_on_clustered_vectors():
    v = _clusters()
    r = measure_recall(v, LshBuildParams(tables=12, bits=8, seed=0), probes=8, k=10, queries=100)
    assert r["recall"] >= 0.9
    assert r["fraction_scored"] < 0.6


def test_lsh_same_seed_same_result_and_finds_the_query_itself():
    v = _clusters(n=500)
    a = LshTables.build(v, LshBuildParams(tables=4, bits=6, seed=3))
    b = LshTables.build(v, LshBuildParams(tables=4, bits=6, seed=3))
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.order, b.order)
    for row in (0, 17, 499):
        ra, sa, _ = lsh_search(v, a, v[row], 5, probes=4)
        rb, sb, _ = lsh_search(v, b, v[row], 5, probes=4)
        assert ra.tolist() == rb.tolist() and ra[0] == row
        assert np.array_equal(sa, sb)
        rows, _, _ = lsh_search(v, a, v[row], 5, exclude=np.array([row]), probes=4)
        assert row not in rows.tolist()


def test_multi_probe_visits_distinct_buckets_nearest_first():
    v = _clusters(n=200, d=16)
    t = LshTables.build(v, LshBuildParams(tables=2, bits=6, seed=1))
    q = v[5]
    probes = t.probe_codes(q, 7)
    proj = (t._flat @ q).reshape(2, 6)
    assert probes.shape == (2, 7)
    for table, codes in enumerate(probes.tolist()):
        assert len(set(codes)) == 7
        own = int(((proj[table] > 0) * (1 << np.arange(6))).sum()) | (table << 6)
        assert codes[0] == own
        # The first flip is the bit whose projection is nearest zero.
        assert codes[1] == own ^ (1 << int(np.argmin(np.abs(proj[table]))))


def test_probe_template_order():
    t = probe_template(bits=4, probes=6)
    sets = [tuple(np.flatnonzero(row).tolist()) for row in t]
    # own bucket, then the smallest margin, then the second, then both, or the third ...
    assert sets[:3] == [(), (0,), (1,)]
    assert len(set(sets)) == 6
    assert probe_template(bits=3, probes=100).shape == (8, 3)  # at most 2**bits buckets exist


def test_auto_bits_scale_with_count():
    p = LshBuildParams()
    assert p.resolved_bits(30000) > p.resolved_bits(300) >= 4


@pytest.mark.parametrize("n", [0, 1, 5])
def test_tiny_and_empty_indexes(n):
    v = _clusters(n=max(n, 1), d=8)[:n]
    t = LshTables.build(v, LshBuildParams(tables=2, bits=4))
    rows, _, scored = lsh_search(v, t, np.ones(8, dtype=np.float32) / np.sqrt(8), 3, probes=2)
    assert len(rows) <= min(3, n) and scored <= n
    assert measure_recall(v, LshBuildParams()) is None


def test_probes_are_chosen_per_query_without_a_rebuild():
    v = _clusters(n=500)
    t = LshTables.build(v, LshBuildParams(tables=4, bits=8, seed=0))
    sizes = [len(t.candidates(v[7], len(v), probes)) for probes in (1, 4, 16, 64)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    with pytest.raises(ValueError, match="probes"):
        t.candidates(v[7], len(v), 0)


def test_float16_vectors_search_like_float32_and_batch_matches_single() -> None:
    # GIVEN the same unit vectors stored as float32 and as float16
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(300, 16))
    v32 = centre_and_normalise(raw, np.zeros(16, np.float32))
    v16 = centre_and_normalise(raw, np.zeros(16, np.float32), np.float16)
    assert v16.dtype == np.float16
    q, skip = v32[:4], np.arange(4)

    def one(v: np.ndarray, i: int) -> list[int]:
        return exact_search(v, q[i], 5, np.array([i]))[0].tolist()

    # THEN the exact answers agree, and one batched scan equals one search per query (self excluded)
    assert [one(v16, i) for i in range(4)] == [one(v32, i) for i in range(4)]
    assert [b.tolist() for b in exact_batch(v16, q, 5, skip)] == [one(v16, i) for i in range(4)]


def test_as_float32_equals_numpy_cast_for_every_finite_float16() -> None:
    # GIVEN every finite float16 (normal, subnormal, both zeros), as rows of a 2-d block
    halves = np.arange(65536, dtype=np.uint16).view(np.float16)
    halves = halves[np.isfinite(halves)].reshape(-1, 2)
    # WHEN converted by bit operations, into a buffer larger than the block and without one
    buf = np.empty((len(halves) + 3, 2), dtype=np.float32)
    into, fresh = as_float32(halves, buf), as_float32(halves)
    # THEN the bits equal numpy's own (slow) cast, and float32 input passes through unchanged
    want = halves.astype(np.float32).view(np.int32)
    assert np.array_equal(into.view(np.int32), want) and np.array_equal(fresh.view(np.int32), want)
    v = np.ones((2, 3), np.float32)
    assert as_float32(v) is v


def test_feature_mean_in_blocks_equals_numpy_mean_bit_for_bit() -> None:
    # GIVEN float16 features spanning several blocks of the running sum
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((20_001, 8)) * rng.exponential(5, 8)).astype(np.float16)
    # THEN the block-wise mean is numpy's float64 mean over axis 0, to the bit
    want = np.asarray(x, dtype=np.float64).mean(axis=0).astype(np.float32)
    assert np.array_equal(feature_mean(x).view(np.int32), want.view(np.int32))
