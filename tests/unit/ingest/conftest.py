"""Fixtures for the ingest function: the test helpers' folder on sys.path, AWS settings.

The function's own modules are imported through function_modules (tests/unit/lambda_helpers; their
names are also the search and featurize functions')."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _helpers in (str(_HERE), str(_HERE.parent / "lambda_helpers")):
    if _helpers not in sys.path:
        sys.path.insert(0, _helpers)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


