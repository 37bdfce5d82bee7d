"""The agent's settings table, its typed load, and docs/settings.md generated from the tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from imagesearch import settings
from imagesearch.errors import SearchError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def settings_doc():
    """docs/settings_doc.py, loaded by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("settings_doc", REPO / "docs" / "settings_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_settings_md_is_the_generated_text(settings_doc):
    # GIVEN the agent's and the function's settings tables
    # WHEN the page is rendered from them
    # THEN it equals the committed page (run `make settings-doc` after changing a table)
    assert (REPO / "docs" / "settings.md").read_text(encoding="utf-8") == settings_doc.render()


def test_the_function_variables_are_filed_under_the_function(settings_doc):
    text = settings_doc.render()
    function_part = text.split("## The search function", 1)[1].split("\n## ", 1)[0]
    names = [row.name for row in settings_doc.function_rows()]
    assert "SEARCH_DOCUMENT_NAME" in names and "COPY_WORKERS" in names
    for name in names:
        assert f"| `{name}` |" in function_part, name


def test_function_table_is_read_from_the_syntax_tree(settings_doc, tmp_path):
    source = tmp_path / "settings.py"
    source.write_text(
        "from errors import Misconfigured  # never imported by the generator\n"
        "SETTINGS: tuple = (\n"
        "    Setting('A_B', '1', 'first line, '\n"
        "            'second | line'),\n"
        "    Setting(name='C', default='', help='keywords work too'),\n"
        ")\n")
    rows = settings_doc.function_rows(source)
    assert rows == [settings_doc.Row("A_B", "1", "first line, second | line"),
                    settings_doc.Row("C", "", "keywords work too")]
    assert settings_doc.table(rows).splitlines()[2:] == [
        "| `A_B` | `1` | first line, second \\| line |", "| `C` | (empty) | keywords work too |"]


def test_load_gives_the_table_defaults_typed():
    cfg = settings.load({})
    assert cfg.index == "/var/lib/imagesearch/index" and cfg.socket == "/run/imagesearch/daemon.sock"
    assert cfg.max_image_bytes == 10 * 1024 * 1024 and isinstance(cfg.max_image_bytes, int)
    assert cfg.client_timeout == 10.0 and isinstance(cfg.client_timeout, float)
    assert cfg.min_recall == 0.95 and cfg.lsh_probes == 32
    assert cfg.allowed_buckets == frozenset() and cfg.mode is None and cfg.cold_cache_dir is None


def test_load_reads_the_environment_given():
    cfg = settings.load({"IMAGESEARCH_ALLOWED_BUCKETS": " site-a, ,site-b ", "IMAGESEARCH_MODE": "exact",
                         "IMAGESEARCH_SEARCH_SLOTS": "2", "IMAGESEARCH_COLD_CACHE_DIR": "/var/cache/x"})
    assert cfg.allowed_buckets == frozenset({"site-a", "site-b"})
    assert cfg.mode == "exact" and cfg.search_slots == 2 and cfg.cold_cache_dir == "/var/cache/x"


@pytest.mark.parametrize(("name", "value", "kind"), [
    ("IMAGESEARCH_MAX_IMAGE_BYTES", "10MB", "an integer"),
    ("IMAGESEARCH_CLIENT_TIMEOUT", "soon", "a number"),
])
def test_a_malformed_value_names_the_variable(name, value, kind):
    with pytest.raises(SearchError) as raised:
        settings.load({name: value})
    assert raised.value.code == "internal"
    assert raised.value.message == f"setting {name}={value!r} is not {kind}"


def test_every_loaded_field_has_one_row_and_the_rest_are_read_by_others():
    rows = {s.field: s for s in settings.SETTINGS if s.field is not None}
    assert tuple(rows) == settings.Settings._fields
    others = {s.name for s in settings.SETTINGS if s.field is None}
    assert others == {"MXNET_HOME", "MXNET_GLUON_REPO", "GALLERY_BUCKET", "SITE_BUCKET", "AWS_REGION"}
