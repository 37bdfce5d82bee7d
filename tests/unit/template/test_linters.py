"""cfn-lint, `sam validate --lint` and checkov on the template, with each IndexBackend as its default.

checkov scans every resource whatever its condition, and cfn-lint checks the conditions' branches
from the defaults, so a copy whose IndexBackend defaults to s3vectors makes them see the vector
bucket and index as the stack's too. cfn-lint and checkov take both files in one run (each run
starts the tool once: about 3 CPU-seconds of imports); `sam validate` takes one template a run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from publish.template import TEMPLATE

from .test_template import ALLOWED_SKIPS

ROOT = TEMPLATE.parent
BIN = Path(sys.executable).parent
BACKEND_DEFAULT = "    Default: instance\n    AllowedValues: [instance, s3vectors]\n"


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            pytest.skip(f"{name} is not installed")
        return found
    return str(path)


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> list[str]:
    """template.yaml and a copy whose IndexBackend defaults to s3vectors."""
    text = TEMPLATE.read_text()
    assert text.count(BACKEND_DEFAULT) == 1
    copy = tmp_path_factory.mktemp("s3vectors") / "template-s3vectors.yaml"
    copy.write_text(text.replace(BACKEND_DEFAULT, BACKEND_DEFAULT.replace("instance\n", "s3vectors\n", 1)))
    return [str(TEMPLATE), str(copy)]


def test_cfn_lint_has_no_findings(templates):
    result = subprocess.run([_tool("cfn-lint"), *templates], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("backend", ["instance", "s3vectors"])
def test_sam_validate_lint_has_no_findings(templates, backend):
    template = templates[["instance", "s3vectors"].index(backend)]
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [_tool("sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", template],
        capture_output=True, text=True, timeout=240, cwd=os.path.dirname(template), env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_has_no_failed_checks(templates):
    # checkov pins its own boto3, so it lives in a venv of its own (`make checkov`).
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip("checkov is not installed (`make checkov` installs it; `make test` runs it)")
    files = [arg for template in templates for arg in ("--file", template)]
    result = subprocess.run(
        [str(checkov), *files, "--framework", "cloudformation", "--quiet", "--compact", "--skip-download",
         "--output", "json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    report = json.loads(result.stdout)
    summary = report["summary"]  # both files together
    assert summary["failed"] == 0, json.dumps(report["results"]["failed_checks"], indent=1)[:4000]
    assert summary["parsing_errors"] == 0
    # Every skip is one of the template's reasoned skips (test_template.py), in each file.
    assert summary["skipped"] == len(templates) * sum(len(v) for v in ALLOWED_SKIPS.values())
    assert summary["passed"] > 30 * len(templates)
