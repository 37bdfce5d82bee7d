"""Static checks of site/: ES modules, no markup built from strings, config.js as the contract says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[2] / "site"
MODULES = sorted(SITE.glob("*.js"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_markup_from_strings(path):
    source = path.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, f"{path.name} uses {sink}"


def test_the_modules_have_one_job_each():
    assert {p.name for p in MODULES} == {"api.js", "views.js", "app.js", "main.js", "config.js"}
    assert "fetch" not in (SITE / "views.js").read_text()
    assert "createElement" not in (SITE / "api.js").read_text()
    assert "fetch(" not in (SITE / "app.js").read_text()


def test_dev_config_points_at_the_local_api():
    text = (SITE / "config.js").read_text()
    assert re.search(r'export default \{ apiUrl: "/api" \};', text)


def test_index_loads_main_as_a_module():
    html = (SITE / "index.html").read_text()
    assert '<script type="module" src="main.js"></script>' in html
    assert 'name="viewport"' in html
