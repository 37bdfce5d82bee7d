"""config.js, albums.json and the album walk."""

from __future__ import annotations

import json

import pytest

from publish.collection import browsable, scan
from publish.index import summary_from_manifest
from publish.site import config_js, site_items
from publish.uploader import PublishError


@pytest.mark.parametrize(("url", "expected"), [
    ("https://abc.execute-api.us-east-1.amazonaws.com", "https://abc.execute-api.us-east-1.amazonaws.com"),
    ("https://abc.execute-api.us-east-1.amazonaws.com/", "https://abc.execute-api.us-east-1.amazonaws.com"),
    ("/api", "/api"),
    ('https://h/"quoted"', 'https://h/"quoted"'),
])
def test_config_js_is_an_es_module_naming_the_api(url, expected):
    text = config_js(url)
    assert text.startswith("export default { apiUrl: ") and text.endswith(" };\n")
    assert json.loads(text[len("export default { apiUrl: "):-len(" };\n")]) == expected


@pytest.mark.parametrize("url", ["", "javascript:alert(1)", "ftp://host/x", "//evil.example/api", "api"])
def test_config_js_refuses_what_is_not_an_api_url(url):
    with pytest.raises(PublishError, match="API URL must be"):
        config_js(url)


def test_config_js_carries_extra_fields_only_when_given():
    # Only the local stack passes one (the page's re-index panel); a deploy writes apiUrl alone.
    assert config_js("/api") == 'export default { apiUrl: "/api" };\n'
    assert config_js("/api", {"localReindex": "/local/reindex"}) == \
        'export default { apiUrl: "/api", localReindex: "/local/reindex" };\n'


@pytest.mark.parametrize("name", ["bad-name", "1x", "a b", ""])
def test_config_js_refuses_a_field_name_that_is_not_an_identifier(name):
    with pytest.raises(PublishError, match="identifiers"):
        config_js("/api", {name: "x"})


def test_generated_config_replaces_the_local_one(tmp_path):
    (tmp_path / "config.js").write_text("export default { apiUrl: '/api' };\n")
    (tmp_path / "index.html").write_text("x")
    items = {i.key: i for i in site_items(tmp_path, "https://api.example")}
    assert set(items) == {"config.js", "index.html"}
    assert b"https://api.example" in items["config.js"].data


def test_scan_makes_names_safe_and_skips_hidden(tmp_path):
    (tmp_path / "wood").mkdir()
    (tmp_path / "wood" / "b.png").write_bytes(b"x")
    (tmp_path / "wood" / "a.jpg").write_bytes(b"x")
    (tmp_path / "wood" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "my album").mkdir()
    (tmp_path / "my album" / "x;rm -rf.png").write_bytes(b"x")
    (tmp_path / ".cache").mkdir()
    (tmp_path / "empty").mkdir()
    albums = scan(tmp_path)
    assert [i.name for i in albums["wood"]] == ["a.jpg", "b.png"]
    (odd,) = [a for a in albums if a != "wood"]
    assert odd.startswith("my_album-")
    (image,) = albums[odd]
    assert image.gallery_key.startswith(f"gallery/{odd}/x_rm_-rf-") and image.gallery_key.endswith(".png")
    assert ";" not in image.album_key and " " not in image.album_key


def test_scan_errors_are_clear(tmp_path):
    with pytest.raises(PublishError, match="does not exist"):
        scan(tmp_path / "missing")
    (tmp_path / "loose.png").write_bytes(b"x")
    with pytest.raises(PublishError, match="no albums"):
        scan(tmp_path)


def test_browsable_is_the_warm_up_scope_by_suffix_and_limit(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("1.png", "2.png", "3.png", "notes.txt"):
        (tmp_path / "a" / name).write_bytes(b"x")
    albums = scan(tmp_path)
    assert [i.name for i in browsable(albums["a"], 10)] == ["1.png", "2.png", "3.png"]
    assert [i.name for i in browsable(albums["a"], 2)] == ["1.png", "2.png"]


def test_index_summary_labels_demo_weights():
    manifest = {"version": "v1", "count": 3, "default_mode": "exact",
                "weights": {"source": "seed:0", "pretrained": False}}
    assert summary_from_manifest(manifest) == {
        "version": "v1", "count": 3, "mode": "exact", "pretrained": False, "demo": True,
        "weights_label": "demo weights, not pretrained (seed:0)"}
    manifest["weights"] = {"source": "s3://g/models/x.params", "pretrained": True, "file_sha256": "ab" * 32}
    summary = summary_from_manifest(manifest)
    assert summary["pretrained"] is True and summary["demo"] is False
    assert summary["weights_label"] == "pretrained ImageNet weights (sha256 abababababab)"


def test_index_summary_names_a_weights_file_by_its_hash():
    manifest = {"weights": {"source": "/x/my.params", "pretrained": False, "file_sha256": "cd" * 32}}
    summary = summary_from_manifest(manifest)
    assert summary["demo"] is False and "demo weights" not in summary["weights_label"]
    assert summary["weights_label"] == "weights file sha256 cdcdcdcdcdcd, not known to be pretrained"


def test_agent_items_need_the_bootstrap_and_the_pointer(tmp_path):
    from publish.agent import agent_items

    bundle = tmp_path / "agent-0123456789abcdef.tar.gz"
    bundle.write_bytes(b"x")
    with pytest.raises(PublishError, match="bootstrap script .* is missing"):
        agent_items(tmp_path, bundle, tmp_path / "bootstrap.sh")
    (tmp_path / "bootstrap.sh").write_text("#!/bin/bash\n")
    with pytest.raises(PublishError, match="wrote no"):
        agent_items(tmp_path, bundle, tmp_path / "bootstrap.sh")
    (tmp_path / "current.json").write_text("{}")
    files, pointer = agent_items(tmp_path, bundle, tmp_path / "bootstrap.sh")
    assert [i.key for i in files] == ["agent/agent-0123456789abcdef.tar.gz", "agent/bootstrap.sh"]
    assert pointer.key == "agent/current.json"


def test_weights_keep_a_safe_name_under_models():
    from pathlib import Path

    from publish.weights import weights_key

    sha = "0123456789abcdef" + "0" * 48
    assert weights_key(Path("dir/resnet50_v1.params"), sha) == "models/resnet50_v1-0123456789abcdef.params"
    assert weights_key(Path("my weights;x.params"), sha).startswith("models/my_weights_x-")
