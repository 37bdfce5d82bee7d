"""The settings table, the deadline arithmetic, AWS error mapping, and the code on Python 3.12."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import settings
from botocore.exceptions import ClientError
from deadline import Deadline
from errors import Misconfigured, Throttled, from_client_error

REPO = Path(__file__).resolve().parents[3]
FUNCTION_DIR = REPO / "functions" / "search"
SHARED_DIR = REPO / "functions" / "shared"


def test_every_setting_is_documented():
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", (REPO / "docs" / "settings.md").read_text(), re.M))
    missing = [s.name for s in settings.SETTINGS if s.name not in documented]
    assert not missing, f"add these to docs/settings.md: {missing}"


def test_every_environment_variable_read_is_in_the_table():
    names = {s.name for s in settings.SETTINGS}
    read: set[str] = set()
    for path in [*FUNCTION_DIR.glob("*.py"), *SHARED_DIR.rglob("*.py")]:
        text = path.read_text()
        read |= set(re.findall(r'\b(?:get|get_default|_number)\("([A-Z0-9_]+)"', text))
        # Nothing reads the environment except through the table.
        assert "os.environ" not in text or path.name == "settings.py", path.name
        assert "os.getenv" not in text, path.name
    assert read and read <= names


def test_settings_load_with_the_documented_defaults(monkeypatch):
    defaults = ("INSTANCE_TAG_KEY", "INSTANCE_TAG_VALUE", "COPY_WORKERS", "DEADLINE_SECONDS",
                "PUBLIC_BASE_URL")
    for name in defaults:
        monkeypatch.delenv(name, raising=False)
    cfg = settings.load()
    assert (cfg.tag_key, cfg.tag_value, cfg.copy_workers, cfg.deadline_seconds) == (
        "ImageSearchRole", "search", 10, 25.0)
    assert cfg.url("albums/a/x.png") == "/albums/a/x.png"


@pytest.mark.parametrize(("name", "value", "words"), [
    ("DEADLINE_SECONDS", "30", "between"),
    ("DEADLINE_SECONDS", "soon", "not a float"),
    ("COPY_WORKERS", "0", "between"),
    ("COPY_WORKERS", "ten", "not a int"),
    ("SITE_BUCKET", "", "SITE_BUCKET"),
])
def test_bad_settings_are_named(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(Misconfigured) as caught:
        settings.load()
    assert words in caught.value.message and name in caught.value.message


def test_url_joins_the_base_without_double_slashes(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://site.example///")
    assert settings.load().url("results/gallery/a/x.png") == "http://site.example/results/gallery/a/x.png"


def test_deadline_is_the_cap_or_the_remaining_time_minus_a_margin(fake_time):
    assert Deadline.for_request(25, 300_000, clock=fake_time).remaining() == 25
    assert Deadline.for_request(25, 10_000, clock=fake_time).remaining() == pytest.approx(8.5)
    assert Deadline.for_request(25, 1_000, clock=fake_time).expired()
    assert Deadline.for_request(25, None, clock=fake_time).remaining() == 25


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("SlowDown", 503, Throttled),
    ("RequestLimitExceeded", 503, Throttled),
    ("AccessDenied", 403, Misconfigured),
])
def test_aws_errors_map_to_domain_errors(code, status, expected):
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    error = ClientError(response, "Op")
    assert isinstance(from_client_error(error, "do it"), expected)


def _python312(env: dict[str, str]) -> str | None:
    """The path of a python3.12 (the template's runtime) that really runs 3.12, or None."""
    path = shutil.which("python3.12")
    if not path:
        return None
    probe = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"], env=env,
                           capture_output=True, text=True, timeout=60, check=False)
    return path if probe.returncode == 0 and probe.stdout.strip() == "(3, 12)" else None


def test_function_code_compiles_on_python_312():
    env = {**os.environ, "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.12.1")}
    python = _python312(env)
    if python is None:
        pytest.skip("python3.12 (the Lambda runtime's version) is not on PATH")
    # compile() only: nothing is written next to the sources, and boto3/powertools need not be there.
    # The function's package and its shared layer both run on that runtime.
    script = ("import sys, pathlib\n"
              "files = [p for d in sys.argv[1:] for p in sorted(pathlib.Path(d).rglob('*.py'))]\n"
              "for p in files:\n"
              "    compile(p.read_text(), str(p), 'exec')\n"
              "print('ok', len(files))\n")
    result = subprocess.run([python, "-c", script, str(FUNCTION_DIR), str(SHARED_DIR)], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")
