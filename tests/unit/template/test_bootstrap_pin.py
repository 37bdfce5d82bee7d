"""Root on the instance is not gallery-write: UserData and the RefreshDocument run only the pinned bootstrap.

Both scripts are taken from template.yaml, their ${...} substituted as CloudFormation would, and
run in a sandbox whose `aws` copies a stand-in bootstrap.sh (it records that it ran).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from publish.template import refresh_document


def _sub(text: str, values: dict[str, str]) -> str:
    """Fn::Sub for the names these scripts use (a shell `$work` has no braces and is left alone)."""
    return re.sub(r"\$\{([A-Za-z0-9:]+)\}", lambda m: values[m.group(1)], text)


def _line(value) -> str:
    return value["Fn::Sub"] if isinstance(value, dict) else value


def _sandbox(tmp_path: Path) -> tuple[dict, Path, str]:
    """PATH with a stand-in `aws` (s3 cp of the bootstrap) and `imagesearch`; the bootstrap's hash."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "bootstrap-ran"
    bin_dir.mkdir()
    published = tmp_path / "published-bootstrap.sh"
    published.write_text(f"#!/bin/bash\ntouch {marker}\n")
    # aws s3 cp --only-show-errors SRC DEST: the destination is the fifth argument
    (bin_dir / "aws").write_text(f'#!/bin/bash\ncp {published} "$5"\n')
    (bin_dir / "imagesearch").write_text('#!/bin/bash\necho \'{"ok": true}\'\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return env, marker, hashlib.sha256(published.read_bytes()).hexdigest()


VALUES = {"GalleryBucket": "gallery-b", "SiteBucket": "site-b", "AWS::Region": "us-east-1",
          "IndexBackend": "instance", "VectorBucketName": ""}


def _user_data(template, tmp_path, pin: str) -> str:
    text = template["Resources"]["SearchInstance"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"][0]
    return _sub(text, {**VALUES, "BootstrapSha256": pin}).replace("/etc/imagesearch.env",
                                                                   str(tmp_path / "imagesearch.env"))


def _refresh(template, pin: str) -> str:
    (step,) = refresh_document(template)["mainSteps"]
    return "\n".join(_sub(_line(c), {**VALUES, "BootstrapSha256": pin}) for c in step["inputs"]["runCommand"])


def test_the_pin_is_a_stack_parameter_of_64_hex_or_empty(template):
    spec = template["Parameters"]["BootstrapSha256"]
    assert spec["Type"] == "String" and spec["Default"] == ""
    assert all(re.fullmatch(spec["AllowedPattern"], v) for v in ("", "a" * 64))
    assert not any(re.fullmatch(spec["AllowedPattern"], v) for v in ("A" * 64, "a" * 63, "x;id"))


@pytest.mark.parametrize("pinned", [True, False])
def test_user_data_runs_only_the_pinned_bootstrap(template, tmp_path, pinned):
    env, marker, digest = _sandbox(tmp_path)
    pin = digest if pinned else "0" * 64
    done = subprocess.run(["bash", "-c", _user_data(template, tmp_path, pin)], env=env,
                          capture_output=True, text=True, timeout=30)
    # The instance boots either way (publish refreshes it later); the bootstrap ran only if pinned.
    assert done.returncode == 0, done.stderr
    assert marker.exists() is pinned
    if not pinned:
        assert "does not match the stack's BootstrapSha256" in done.stderr


@pytest.mark.parametrize("pin", ["", "0" * 64])
def test_refresh_document_refuses_an_unpinned_bootstrap(template, tmp_path, pin):
    env, marker, _ = _sandbox(tmp_path)
    done = subprocess.run(["bash", "-c", _refresh(template, pin)], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0 and not marker.exists()
    assert "does not match the stack's BootstrapSha256" in done.stderr


def test_refresh_document_runs_the_pinned_bootstrap(template, tmp_path):
    env, marker, digest = _sandbox(tmp_path)
    done = subprocess.run(["bash", "-c", _refresh(template, digest)], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert marker.exists() and '"ok": true' in done.stdout
