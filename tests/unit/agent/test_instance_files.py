"""What goes onto the instance: bootstrap.sh, the systemd unit, the pinned requirements, the bundle."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import pytest

from publish import bundle as agent_bundle

REPO = Path(__file__).resolve().parents[3]
AGENT = REPO / "agent_scripts"
BOOTSTRAP = AGENT / "bootstrap.sh"
UNIT = AGENT / "systemd" / "imagesearch.service"


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (Debian package; `make system-deps` installs it)")
def test_bootstrap_passes_shellcheck():
    proc = subprocess.run(["shellcheck", "--severity=style", str(BOOTSTRAP)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bootstrap_is_strict_and_never_evaluates_its_inputs():
    text = BOOTSTRAP.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert "\nset -euo pipefail\n" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    # The env file and the pointer are data: nothing sources or evals them.
    assert not re.search(r"(^|[\s;])(source|eval)\s", code) and not re.search(r"(^|\s)\.\s+\S", code)
    for name in ("GALLERY_BUCKET", "SITE_BUCKET", "AWS_REGION"):
        assert f"{name}=${{{name}:-$(env_file_value {name})}}" in text
    assert "s3://$GALLERY_BUCKET/agent/current.json" in text and "sha256sum --check" in text
    assert "IMAGESEARCH_INDEX=s3://$GALLERY_BUCKET/index" in text


def test_bootstrap_parses_as_bash():
    proc = subprocess.run(["bash", "-n", str(BOOTSTRAP)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _verify_copy(tmp_path: Path) -> subprocess.CompletedProcess:
    # systemd-analyze checks that ExecStart exists; point it at a binary this machine has.
    unit = tmp_path / "imagesearch.service"
    unit.write_text(re.sub(r"(?m)^ExecStart=\S+", "ExecStart=/bin/true", UNIT.read_text()))
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)


def test_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    proc = _verify_copy(tmp_path)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and "imagesearch.service" not in output:
        pytest.skip(f"systemd-analyze cannot run in this environment: {output.strip()[:200]}")
    # A bad value only warns (exit 0), so any line about our unit is a failure too.
    assert proc.returncode == 0 and "imagesearch.service" not in output, output


def test_unit_runs_unprivileged_hardened_and_restarts():
    text = UNIT.read_text()
    settings = dict(line.split("=", 1) for line in text.splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["User"] == "imagesearch" and settings["Restart"] == "on-failure"
    assert settings["ExecStart"] == "/usr/local/bin/imagesearch serve"
    assert settings["EnvironmentFile"] == "/etc/imagesearch.env"
    assert settings["RuntimeDirectory"] == "imagesearch" and settings["StateDirectory"] == "imagesearch"
    for key, value in {"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
                       "ProtectHome": "yes"}.items():
        assert settings[key] == value
    assert "IMAGESEARCH_SOCKET=/run/imagesearch/daemon.sock" in text


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_requirements_are_pinned_and_match_the_dev_constraints():
    requirements = _pins(AGENT / "requirements.txt")
    constraints = _pins(REPO / "constraints.txt")
    assert requirements["mxnet"] == "1.9.1" and requirements["numpy"] == "1.23.5"
    for name in ("pillow", "boto3", "botocore", "s3transfer", "tqdm", "requests", "graphviz"):
        assert name in requirements
    for name, version in requirements.items():
        assert version, f"{name} is not pinned"
        assert constraints.get(name) == version, f"{name}=={version} differs from constraints.txt"


def test_bundle_is_deterministic_and_named_by_its_content(tmp_path):
    first = agent_bundle.build_bundle(tmp_path / "a")
    second = agent_bundle.build_bundle(tmp_path / "b")
    assert first.name == second.name and first.read_bytes() == second.read_bytes()
    assert re.fullmatch(r"agent-[0-9a-f]{16}\.tar\.gz", first.name)
    pointer = json.loads((tmp_path / "a" / "current.json").read_text())
    assert pointer == agent_bundle.pointer_for(first.read_bytes())
    assert pointer["key"] == f"agent/{first.name}" and pointer["sha256"].startswith(pointer["version"])


def test_bundle_holds_the_agent_and_nothing_else(tmp_path):
    path = agent_bundle.build_bundle(tmp_path)
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    names = set(members)
    assert {"bootstrap.sh", "requirements.lock", "systemd/imagesearch.service", "pyproject.toml",
            "imagesearch/__init__.py", "imagesearch/daemon.py", "imagesearch/client.py",
            "imagesearch/protocol.py", "imagesearch/searcher.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith(("/", ".."))]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["bootstrap.sh"].mode == 0o755


def test_bundle_changes_when_the_code_changes(tmp_path):
    agent = tmp_path / "agent"
    shutil.copytree(AGENT, agent, ignore=shutil.ignore_patterns("__pycache__"))
    before = agent_bundle.build_bundle(tmp_path / "out1", agent)
    (agent / "imagesearch" / "client.py").write_text((agent / "imagesearch" / "client.py").read_text() + "\n")
    after = agent_bundle.build_bundle(tmp_path / "out2", agent)
    assert before.name != after.name


def test_bundle_code_imports_from_the_extracted_archive(tmp_path):
    # The instance runs the package in place from the unpacked release (a .pth entry, no build).
    path = agent_bundle.build_bundle(tmp_path)
    release = tmp_path / "release"
    with tarfile.open(path) as tar:
        tar.extractall(release, filter="data")
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import imagesearch.client, imagesearch.daemon; "
             "print(imagesearch.client.__file__)")
    proc = subprocess.run([sys.executable, "-S", "-I", "-c", probe, str(release)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(release / "imagesearch" / "client.py")


def test_publish_agent_puts_the_pointer_last(aws):
    from publish.agent import publish_agent

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="gallery")
    order = []
    s3.meta.events.register("before-parameter-build.s3.PutObject",
                            lambda params, **_: order.append(params["Key"]))
    publish_agent(s3, "gallery", progress=False, wheelhouse=None)
    pointer = json.loads(s3.get_object(Bucket="gallery", Key="agent/current.json")["Body"].read())
    # The instance follows the pointer, so it must be written after what it points at.
    assert order[-1] == "agent/current.json"
    assert set(order[:-1]) == {pointer["key"], "agent/bootstrap.sh"}
    archive = s3.get_object(Bucket="gallery", Key=pointer["key"])["Body"].read()
    assert agent_bundle.pointer_for(archive) == pointer


AGENT_MODULES = ("daemon.py", "client.py", "querying.py", "protocol.py")


def test_every_setting_the_agent_reads_is_in_the_table_and_documented():
    from imagesearch import settings

    names = {s.name for s in settings.SETTINGS}
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", (REPO / "docs" / "settings.md").read_text(), re.M))
    read: set[str] = set()
    for name in AGENT_MODULES:
        text = (AGENT / "imagesearch" / name).read_text()
        read |= set(re.findall(r'settings\.get\("([A-Z0-9_]+)"\)', text))
        assert "os.getenv" not in text and "os.environ.get(" not in text, name
    bootstrap_inputs = {"GALLERY_BUCKET", "SITE_BUCKET", "AWS_REGION"}
    assert read and read | bootstrap_inputs <= names
    assert read | bootstrap_inputs <= documented
    missing = sorted(names - documented)
    assert not missing, f"add these to docs/settings.md: {missing}"
