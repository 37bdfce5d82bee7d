"""Fixtures for the ingest function: its modules and the shared layer on sys.path, its settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FUNCTION_DIR = REPO / "functions" / "ingest"
SHARED_DIR = REPO / "functions" / "shared"
for _path in (SHARED_DIR, FUNCTION_DIR, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

@pytest.fixture(autouse=True)
def _aws_env(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


