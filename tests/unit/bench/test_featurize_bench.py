"""The featurize benchmarks' reporting on a made-up result, so the scripts cannot rot (no timing asserted)."""

import json

import featurize_layer
import featurize_speed


def _result():
    return {"images": 4, "repeat": 1, "size": 224, "cores": 2, "load_average": 1.0,
            "decode_and_input_s": 0.01,
            "mxnet": "1.9.1", "onnxruntime": "1.32.0", "command": featurize_speed.COMMAND,
            "per_image_s": {"mxnet_b1": 0.1, "onnx_b1": 0.08, "mxnet_b16": 0.09, "onnx_b16": 0.07},
            "containers_img_s": {"1": 10.0, "2": 19.0}}


def test_the_section_replaces_itself_and_keeps_the_others(tmp_path):
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\n## 1. Other\n\nkept\n")
    featurize_speed.write_section(featurize_speed.SECTION, featurize_speed.section(_result()), out)
    featurize_speed.write_section(featurize_speed.SECTION, featurize_speed.section(_result()), out)
    text = out.read_text()
    assert text.count(featurize_speed.TITLE) == 1 and "kept" in text
    assert "| ONNX Runtime 1.32.0 (function) | 16 | 70.0 ms | 14.3 |" in text and "| 2 | 19.0 |" in text


def test_the_published_figures_are_the_recorded_ones():
    # docs/benchmarks.md's section is what the script wrote from docs/bench/featurize_speed.json.
    record = json.loads((featurize_speed.REPO / "docs" / "bench" / "featurize_speed.json").read_text())
    report = (featurize_speed.REPO / "docs" / "benchmarks.md").read_text()
    assert featurize_speed.section(record) in report


def test_the_layer_record_names_the_layers_requirements():
    record = json.loads((featurize_layer.REPO / "docs" / "bench" / "featurize_layer.json").read_text())
    assert record["requirements"] == featurize_layer.requirements()
    assert record["python"] == "3.12" and all("aarch64" in p for p in record["platforms"])
