"""The template as every template test reads it: parsed once (CloudFormation tags kept)."""

from __future__ import annotations

import pytest

from publish.template import TEMPLATE, load_template


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]
