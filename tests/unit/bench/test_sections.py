"""Each section's code path on tiny inputs, so `make bench` cannot rot. No timing is asserted."""

import json
import os
from pathlib import Path

import ann_recall
import build_speed
import copy_stage
import end_to_end
import load_time
import machine
import memory
import numpy as np
import old_system
import old_table
import plots
import pytest
import quality
import query_latency
import run
from ann_recall import LshSetting
from imagesearch.index.vectors import centre_and_normalise, feature_mean
from index_data import open_live


def clustered(n=240, dim=32, centres=8, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.3 * rng.standard_normal((n, dim))
    return centre_and_normalise(x, feature_mean(x))


def test_old_table_round_trips_and_checks_its_inputs(tmp_path):
    v = np.arange(12, dtype=np.float32).reshape(3, 4)
    size = old_table.write_table(v, ["a", "b", "c"], tmp_path / "t.pkl")
    assert size > 0
    assert len(old_table.load_seconds(tmp_path / "t.pkl", 2)) == 2
    with pytest.raises(ValueError, match="2 keys for 3 vectors"):
        old_table.write_table(v, ["a", "b"], tmp_path / "u.pkl")


def test_recall_of_exact_against_itself_is_one_and_every_method_is_reported(tmp_path):
    v = clustered()
    base, queries = ann_recall.split(v, 20)
    truth, _ = ann_recall.exact_truth(base, queries, 10)
    assert ann_recall.recall_at(truth, truth, 10) == 1.0
    result = ann_recall.measure(v, 20, [LshSetting(tables=4, bits=4, probes=2)], hnsw_ef=(16,))
    assert [m.name for m in result.methods] == ["LSH L=4 b=4 P=2", "hnswlib M=16 ef=16"]
    for m in result.methods:
        assert all(0.0 <= r <= 1.0 for r in m.recall.values())
    section = ann_recall.section(result, tmp_path, "bench")
    assert (tmp_path / "recall.png").stat().st_size > 0 and "recall@10" in section.body


def test_default_lsh_settings_vary_around_the_given_one():
    settings = ann_recall.default_settings(LshSetting(tables=16, bits=0, probes=16))
    assert settings[0] == LshSetting(tables=16, bits=0, probes=16)
    assert {(s.tables, s.probes) for s in settings[1:]} == {(8, 16), (32, 16), (16, 4), (16, 64)}


def test_quality_labels_by_album_and_refuses_other_keys():
    assert quality.album_of("gallery/marble/x.png") == "marble"
    with pytest.raises(ValueError, match="not a gallery key"):
        quality.album_of("albums/marble/x.png")


def test_precision_is_one_when_albums_are_separable():
    v = np.eye(4, dtype=np.float32)[[0, 0, 0, 1, 1, 1]] + 0.01 * np.arange(6)[:, None]
    p = quality.precision_at(centre_and_normalise(v, np.zeros(4, np.float32)), list("aaabbb"), [0, 3])
    assert p[1] == 1.0


def test_quality_on_a_real_tiny_index(tiny_index, tiny_collection, tmp_path):
    data = open_live(tiny_index)
    paths = [tiny_collection / key.split("/", 1)[1] for key in data.keys]
    result = quality.measure(data.vectors, data.keys, paths, 10, "seed:0 (not pretrained)")
    assert set(result.precision) == {"ResNet-50 features (ours)", "raw pixels (centred, normalised)"}
    assert 0 < result.chance < 1
    assert "precision@5" in quality.section(result, tmp_path, "bench").body


def test_load_time_and_search_modes_on_a_real_tiny_index(tiny_index, tmp_path):
    result = load_time.measure(tiny_index, tmp_path / "cache", repeats=2, model_repeats=1, old_repeats=1)
    assert set(result.ms) == {load_time.OPEN, load_time.OPEN_QUERY, load_time.OPEN_MODEL, load_time.OLD}
    assert result.count == 30 and result.pickle_bytes > 0
    assert "pickle" in load_time.section(result, tmp_path, "bench").body
    q = query_latency.QueryResult(30, 5)
    query_latency.measure_modes(tiny_index, tmp_path / "cache", 5, 5, q)
    assert set(q.ms) == {"search_vector, exact", "search_vector, lsh"}


def test_build_subset_takes_every_album_in_turn(tiny_collection, tmp_path):
    out = build_speed.subset(tiny_collection, tmp_path / "s", 12)
    files = sorted(out.glob("*/*.png"))
    assert len(files) == 12 and len({f.parent.name for f in files}) == min(12, 10)
    assert all(f.is_symlink() for f in files)


def test_build_section_from_a_command_report(tmp_path):
    b = build_speed.Build("full collection", 32, 600, 10.0, 4.0, {"default_mode": "exact", "recall": None})
    section = build_speed.section([b], tmp_path, "bench")
    assert "150.0" in section.body and (tmp_path / "build.png").exists()
    assert build_speed.duration(30) == "30.0 s" and build_speed.duration(600) == "10.0 min"


def test_copy_stage_runs_the_lambdas_copy_against_mocked_s3(tmp_path):
    from moto import mock_aws

    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        result = copy_stage.measure_with(s3, [1, 3], repeats=1, latency_s=0.0, workers=2)
        copied = s3.list_objects_v2(Bucket=copy_stage.SITE, Prefix="results/")["KeyCount"]
    assert copied == 3  # each match's preview, copied to results/
    assert set(result.ms["parallel (ours)"]) == {1, 3}
    assert "speed-up" in copy_stage.section(result, tmp_path, "bench").body


def test_memory_reads_proc_and_judges_instances():
    peak, rss = memory.peak_rss_mib(os.getpid())
    assert peak >= rss > 0
    assert memory.verdict(300, 1024).startswith("fits")
    assert memory.verdict(900, 1024).startswith("tight")
    assert memory.verdict(600, 512).startswith("does not fit")
    assert "1 GiB" in memory.section(memory.MemoryResult(10, peak, rss, 1.0)).body


def test_end_to_end_and_old_system_tables_from_results(tmp_path):
    e2e = end_to_end.E2EResult(100, 5, [end_to_end.Run(1), end_to_end.Run(4)])
    for r in e2e.runs:
        r.wall_ms += [300.0, 320.0]
        r.paths += ["warm", "warm"]
        for stage in end_to_end.STAGES:
            r.stages[stage] += [10.0, 12.0]
    assert "ssm_wait" in end_to_end.section(e2e, tmp_path, "bench").body
    load = load_time.LoadResult(100, 2048, {load_time.OPEN: [1.0], load_time.OLD: [5000.0]}, 10, 10)
    query = query_latency.QueryResult(100, 5, ms={query_latency.WARM_INDEXED: [5.0]},
                                      daemon_stages={query_latency.WARM_INDEXED: {"fetch": [2.0]}})
    copy = copy_stage.CopyResult([1, 20], 0.04, 10, {"sequential (old)": {1: [50.0], 20: [900.0]},
                                                     "parallel (ours)": {1: [50.0], 20: [100.0]}})
    rows = old_system.stages(load, query, copy, e2e)
    assert any(r.source == old_system.ESTIMATE for r in rows)
    assert any(r.old == "copy results, k=20" for r in rows)
    assert "17.6 s" in old_system.section(rows).body


def test_query_keys_follow_the_contract(tmp_path):
    p = tmp_path / "marble" / "marble_00001.png"
    assert query_latency.site_key(p) == "albums/marble/marble_00001.png"
    assert query_latency.site_key(p, "new-") == "albums/new-marble/marble_00001.png"


def test_plots_write_pngs(tmp_path):
    assert plots.lines(tmp_path / "l.png", [1, 5], {"a": [0.5, 0.4]}, "k", "p", "t").stat().st_size > 0
    assert plots.stacked_bars(tmp_path / "s.png", ["g"], {"a": [1.0], "b": [2.0]}, "ms", "t").exists()


def test_machine_description_and_run_helpers(tmp_path):
    info = machine.describe(Path(__file__).parent)
    assert {"CPU", "cores", "memory", "Python", "MXNet"} <= set(info)
    (tmp_path / "cpuinfo").write_text("processor: 0\nmodel name\t: Test CPU 3000\n")
    assert machine.cpu_model(tmp_path / "cpuinfo") == "Test CPU 3000"
    manifest = {"lsh": {"tables": 8, "bits": 5, "bits_requested": 0, "probes": 4, "seed": 1},
                "weights": {"source": "x.params", "pretrained": False, "sha256": "ab" * 32}}
    assert LshSetting.from_manifest(manifest) == LshSetting(tables=8, bits=0, probes=4, seed=1)
    assert "NOT pretrained" in run.weights_label(manifest, "seed:0")
    assert json.loads(json.dumps(run.QUICK.__dict__))["count"] == 600
