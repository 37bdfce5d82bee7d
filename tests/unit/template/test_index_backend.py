"""IndexBackend: instance by default; s3vectors adds a vector bucket and index the instance may use alone."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from publish.template import TEMPLATE

from .test_template import _tool


def test_the_parameter_defaults_to_the_instance(template):
    p = template["Parameters"]["IndexBackend"]
    assert p["Default"] == "instance" and p["AllowedValues"] == ["instance", "s3vectors"]
    assert template["Conditions"]["UseS3Vectors"] == {"Fn::Equals": [{"Ref": "IndexBackend"}, "s3vectors"]}


def test_vector_bucket_and_index_exist_only_with_s3vectors(template):
    r = template["Resources"]
    assert r["VectorBucket"]["Condition"] == r["VectorIndex"]["Condition"] == "UseS3Vectors"
    props = r["VectorIndex"]["Properties"]
    assert (props["Dimension"], props["DistanceMetric"], props["DataType"]) == (2048, "cosine", "float32")
    assert props["MetadataConfiguration"] == {"NonFilterableMetadataKeys": ["sha256"]}


def test_the_instance_may_use_that_index_only(template):
    policies = template["Resources"]["SearchInstanceRole"]["Properties"]["Policies"]
    conditional = [p["Fn::If"] for p in policies if "Fn::If" in p]
    assert len(conditional) == 1 and conditional[0][0] == "UseS3Vectors"
    assert conditional[0][2] == {"Ref": "AWS::NoValue"}
    statements = conditional[0][1]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    assert {"s3vectors:QueryVectors", "s3vectors:GetVectors", "s3vectors:PutVectors"} <= actions
    assert all(a.startswith("s3vectors:") and "*" not in a for a in actions)
    assert all(s["Resource"] == {"Ref": "VectorIndex"} for s in statements)
    for other in policies:
        if "Fn::If" not in other:
            assert "s3vectors" not in str(other)


@pytest.fixture(scope="module")
def s3vectors_template(tmp_path_factory) -> str:
    """A copy of the template whose IndexBackend defaults to s3vectors, so the linters see both branches."""
    text = TEMPLATE.read_text()
    marker = "    AllowedValues: [instance, s3vectors]\n"
    assert text.count("    Default: instance\n" + marker) == 1
    path = tmp_path_factory.mktemp("s3vectors") / "template.yaml"
    path.write_text(text.replace("    Default: instance\n" + marker, "    Default: s3vectors\n" + marker))
    return str(path)


def test_cfn_lint_has_no_findings_with_s3vectors(s3vectors_template):
    result = subprocess.run([_tool("cfn-lint"), s3vectors_template], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_has_no_findings_with_s3vectors(s3vectors_template):
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [_tool("sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", s3vectors_template],
        capture_output=True, text=True, timeout=240, cwd=os.path.dirname(s3vectors_template), env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_has_no_failed_checks_with_s3vectors(s3vectors_template):
    # checkov scans every resource whatever its condition; with s3vectors as the default the vector
    # bucket and index are the stack's too, and must pass or carry a reasoned skip.
    checkov = Path(TEMPLATE).parent / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip("checkov is not installed (`make checkov` installs it; `make test` runs it)")
    result = subprocess.run(
        [str(checkov), "--file", s3vectors_template, "--framework", "cloudformation", "--quiet",
         "--compact", "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300, cwd=os.path.dirname(s3vectors_template))
    summary = json.loads(result.stdout)["summary"]
    assert summary["failed"] == 0 and summary["passed"] > 30
