"""What goes onto the instance: bootstrap.sh, the systemd unit, the pinned requirements, the bundle."""

from __future__ import annotations

import json
import os
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


# --- bootstrap.sh run for real in a sandbox ---------------------------------------------------------
#
# The script runs unchanged except that the system folders it writes (/etc, /usr/local, /var, /run)
# are moved under a temporary root. PATH holds only stand-ins for the instance's commands (aws,
# dnf, systemctl, useradd, getent, curl, journalctl, sleep, python3.11), each recording its
# arguments and the shell options it was started under, plus the ordinary tools the script uses.

SYSTEM_DIRS = re.compile(r"(?<![\w.$}/-])/(etc|usr/local|var|run)/")
# Absolute paths the script may name that it never writes to (left as they are in the sandbox).
UNTOUCHED_PATHS = {"/bin/bash", "/dev/null", "/sbin/nologin"}
TOOLS = ("awk", "sed", "grep", "cmp", "cp", "mv", "rm", "mkdir", "mktemp", "touch", "chmod", "tar", "gzip",
         "sha256sum", "cut", "cat", "tr", "find", "sort", "tail", "head", "readlink", "ln", "seq", "date",
         "flock")
# With SHELLOPTS in its environment bash exports its live `set -o` options to every command it runs.
START_SHELLOPTS = "braceexpand:hashall:interactive-comments"
SEP, END = "\x1f", "\x1e"


class _AnyPath(str):
    """Equal to any absolute path (where a call's argument is a temporary file)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("/")

    __hash__ = str.__hash__


ANY_PATH = _AnyPath("<any absolute path>")

RECORD = f"""printf '%s{SEP}%s' "${{0##*/}}" "${{SHELLOPTS:-}}" >>"$SANDBOX/calls.log"
for arg in "$@"; do printf '{SEP}%s' "$arg" >>"$SANDBOX/calls.log"; done
printf '{END}' >>"$SANDBOX/calls.log"
"""
STUBS = {
    "aws": """[[ "$1 $2" == "s3 cp" ]] || exit 2
src=${@: -2:1} dest=${@: -1}
src=$SANDBOX/buckets/${src#s3://}
[[ -f $src ]] || { echo "fatal error: An error occurred (404) when calling HeadObject" >&2; exit 1; }
cp "$src" "$dest"
""",
    "dnf": """[[ ! -e $SANDBOX/dnf-fails ]] || { echo "dnf: no network" >&2; exit 1; }
for pkg in "$@"; do
    case $pkg in
        python3.11) cp "$SANDBOX/stash/python3.11" "$SANDBOX/bin/" ;;
        awscli-2) cp "$SANDBOX/stash/aws" "$SANDBOX/bin/" ;;
    esac
done
""",
    "systemctl": """case $1 in
    is-active) [[ -e $SANDBOX/service-active ]] ;;
    restart) touch "$SANDBOX/service-active" ;;
esac
""",
    "getent": """grep -qx "$2" "$SANDBOX/users" 2>/dev/null || exit 2
echo "$2:x:990:990::/var/lib/imagesearch:/sbin/nologin"
""",
    "useradd": 'echo "${@: -1}" >>"$SANDBOX/users"\n',
    "curl": """case "$*" in
    *api/token*) echo token ;;
    *placement/region*) echo eu-central-1 ;;
    *) exit 22 ;;
esac
""",
    "journalctl": "echo 'journal: imagesearch failed'\n",
    # `rpm -q --quiet PKG`: installed unless listed in $SANDBOX/rpm-missing (not recorded: queries only)
    "rpm": """! grep -qx "${@: -1}" "$SANDBOX/rpm-missing" 2>/dev/null
""",
    "pip": "",
    "sleep": "",
    "python3.11": f"""if [[ $1 == -m && $2 == venv ]]; then
    {sys.executable} -m venv --without-pip "$3"
    cp "$SANDBOX/stash/pip" "$3/bin/pip"
    exit 0
fi
exec {sys.executable} "$@"
""",
}
# The test runs as any user: ownership flags are dropped, everything else goes to the real install.
INSTALL = f"""args=()
while (($#)); do
    case $1 in -o|-g) shift 2 ;; *) args+=("$1"); shift ;; esac
done
exec {shutil.which("install")} "${{args[@]}}"
"""

FAKE_UNIT = b"[Unit]\nDescription=fake imagesearch\n[Service]\nExecStart=/usr/local/bin/imagesearch serve\n"
FAKE_CLI = b"""import json, sys

def main():
    if sys.argv[1:2] == ["health"]:
        print(json.dumps({"ok": True, "status": "serving"}))
        return 0
    return 2
"""


def fake_bundle() -> bytes:
    """A small agent bundle: what bootstrap.sh installs, with a CLI that only answers health."""
    files = {"requirements.lock": (b"fake-agent-dependency==1.0 --hash=sha256:" + b"0" * 64 + b"\n", 0o644),
             "systemd/imagesearch.service": (FAKE_UNIT, 0o644),
             "imagesearch/__init__.py": (b"", 0o644),
             "imagesearch/cli/__init__.py": (FAKE_CLI, 0o644),
             "imagesearch/agent/__init__.py": (b"", 0o644),
             "imagesearch/agent/client.py": (b"def main():\n    return 0\n", 0o644)}
    return agent_bundle.archive_bytes(files)


class BootstrapSandbox:
    """bootstrap.sh with its system folders under tmp/root and recording stand-ins on PATH."""

    def __init__(self, tmp: Path, missing: tuple[str, ...] = ()):
        self.dir = tmp
        self.root = tmp / "root"
        for name in ("bin", "stash", "tools", "buckets", "root/etc", "root/tmp"):
            (tmp / name).mkdir(parents=True)
        for name, body in {**STUBS, "install": INSTALL}.items():
            record = "" if name in ("install", "rpm") else RECORD
            # pip is not on PATH: the python3.11 stand-in puts it into each venv it makes
            for folder in ("stash",) if name in (*missing, "pip") else ("stash", "bin"):
                path = tmp / folder / name
                path.write_text("#!/bin/bash\n" + record + body)
                path.chmod(0o755)
        for name in TOOLS:
            (tmp / "tools" / name).symlink_to(shutil.which(name))
        self.script = tmp / "bootstrap.sh"
        self.script.write_text(self._sandboxed(BOOTSTRAP.read_text()))
        self.script.chmod(0o755)
        self.env_file = self.root / "etc" / "imagesearch.env"
        self.prefix = self.root / "usr" / "local" / "lib" / "imagesearch"

    def _sandboxed(self, text: str) -> str:
        moved = SYSTEM_DIRS.sub(lambda m: f"{self.root}/{m.group(1)}/", text)
        code = "\n".join(line for line in moved.splitlines()[1:] if not line.lstrip().startswith("#"))
        stray = {p for p in re.findall(r"(?<![\w.$}/:-])/[\w.-]+(?:/[\w.-]+)*", code)
                 if not p.startswith(str(self.root))} - UNTOUCHED_PATHS
        # A new system path in the script must be moved here before the script may run as root.
        assert not stray, f"the sandbox does not move these paths: {sorted(stray)}"
        return moved

    def publish(self, bucket: str, archive: bytes, pointer: dict | None = None) -> dict:
        """Put an agent bundle and its pointer (by default the right one) into a fake bucket."""
        pointer = pointer or agent_bundle.pointer_for(archive)
        folder = self.dir / "buckets" / bucket / "agent"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / Path(pointer["key"]).name).write_bytes(archive)
        (folder / "current.json").write_text(json.dumps(pointer))
        return pointer

    def run(self, **env: str) -> subprocess.CompletedProcess:
        """Run the script as the instance would (by its shebang); the log holds only this run's calls."""
        (self.dir / "calls.log").write_text("")
        base = {"PATH": f"{self.dir / 'bin'}:{self.dir / 'tools'}", "SANDBOX": str(self.dir),
                "HOME": str(self.dir), "TMPDIR": str(self.root / "tmp"), "LC_ALL": "C",
                "SHELLOPTS": START_SHELLOPTS}
        return subprocess.run([str(self.script)], env={**base, **env}, capture_output=True, text=True,
                              timeout=180)

    def _records(self) -> list[list[str]]:
        return [r.split(SEP) for r in (self.dir / "calls.log").read_text().split(END) if r]

    def calls(self, name: str | None = None) -> list[list[str]]:
        """The commands the last run started, in order: [name, arg, ...] (only `name`'s if given)."""
        return [[r[0], *r[2:]] for r in self._records() if name is None or r[0] == name]

    def shell_options(self) -> list[set[str]]:
        """The `set -o` options each command of the last run was started under, in order."""
        return [set(r[1].split(":")) for r in self._records()]

    def env_lines(self) -> list[str]:
        """The env file the script wrote, with the sandbox root taken out of its paths."""
        return self.env_file.read_text().replace(str(self.root), "").splitlines()


PUBLISHED_ENV_FILE = """GALLERY_BUCKET="gallery-from-file"
SITE_BUCKET='site-from-file'
AWS_REGION=eu-west-1
OTHER_SETTING=kept as it is
EXTRA=$(touch {root}/pwned-1)
`touch {root}/pwned-2`
touch {root}/pwned-3
"""


def test_bootstrap_installs_the_published_agent_strictly_and_reads_its_inputs_as_data(tmp_path):
    # GIVEN a published bundle, an env file holding settings and lines that would run if sourced,
    # and GALLERY_BUCKET in the environment
    box = BootstrapSandbox(tmp_path)
    pointer = box.publish("gallery-env", fake_bundle())
    box.env_file.write_text(PUBLISHED_ENV_FILE.format(root=box.root))
    # WHEN the instance runs the bootstrap
    proc = box.run(GALLERY_BUCKET="gallery-env")
    assert proc.returncode == 0, proc.stderr
    calls = box.calls()
    # THEN every command ran under nounset and pipefail, and each that changes the instance under
    # errexit too (bash runs $(...) without errexit; the assignment around it still stops the run)
    options = box.shell_options()
    assert calls and all({"nounset", "pipefail"} <= opts for opts in options)
    changing = [opts for call, opts in zip(calls, options, strict=True)
                if call[0] in ("aws", "useradd", "pip", "systemctl")]
    assert changing and all("errexit" in opts for opts in changing)
    # the environment wins over the env file, which fills in the rest (quotes taken off)
    assert box.calls("aws") == [
        ["aws", "s3", "cp", "--only-show-errors", "s3://gallery-env/agent/current.json", ANY_PATH],
        ["aws", "s3", "cp", "--only-show-errors", f"s3://gallery-env/{pointer['key']}", ANY_PATH]]
    lines = box.env_lines()
    for line in ("GALLERY_BUCKET=gallery-env", "SITE_BUCKET=site-from-file", "AWS_REGION=eu-west-1",
                 "IMAGESEARCH_INDEX=s3://gallery-env/index",
                 "IMAGESEARCH_ALLOWED_BUCKETS=gallery-env",
                 "IMAGESEARCH_SOCKET=/run/imagesearch/daemon.sock"):
        assert line in lines
    # the env file was read as data: its other lines are kept word for word and none of them ran
    for line in PUBLISHED_ENV_FILE.format(root="").splitlines()[3:]:
        assert line in lines
    assert 'GALLERY_BUCKET="gallery-from-file"' not in lines
    assert not list(box.root.glob("pwned-*"))
    # the checked release is active, its commands installed, the service user made, the unit loaded
    release = box.prefix / "releases" / pointer["version"]
    assert (box.prefix / "current").resolve() == release and (release / ".complete").is_file()
    assert (box.root / "etc/systemd/system/imagesearch.service").read_bytes() == FAKE_UNIT
    for name in ("imagesearch", "imagesearch-query"):
        assert os.access(box.root / "usr/local/bin" / name, os.X_OK)
    assert box.calls("useradd")[0][-1] == "imagesearch" and "--system" in box.calls("useradd")[0]
    # only from the bundle's own wheels, each checked against the lock: no package index is asked
    assert box.calls("pip") == [["pip", "install", "--quiet", "--disable-pip-version-check", "--no-cache-dir",
                                 "--no-index", "--find-links", str(release / "wheels"), "--only-binary=:all:",
                                 "--require-hashes", "-r", str(release / "requirements.lock")]]
    assert [c[1:] for c in box.calls("systemctl")] == [
        ["daemon-reload"], ["enable", "--quiet", "imagesearch"], ["restart", "imagesearch"]]
    assert box.calls("dnf") == [] and "daemon healthy" in proc.stderr

    # WHEN it runs again with nothing changed THEN it downloads only the pointer and restarts nothing
    proc = box.run(GALLERY_BUCKET="gallery-env")
    assert proc.returncode == 0, proc.stderr
    assert [c[4] for c in box.calls("aws")] == ["s3://gallery-env/agent/current.json"]
    assert [c[1] for c in box.calls("systemctl")] == ["enable", "is-active"]
    assert box.calls("pip") == box.calls("useradd") == []
    assert "nothing changed" in proc.stderr


def test_bootstrap_refuses_a_bundle_that_does_not_match_its_pointer(tmp_path):
    box = BootstrapSandbox(tmp_path)
    archive = fake_bundle()
    box.publish("gallery-b", archive[:-1] + bytes([archive[-1] ^ 1]), agent_bundle.pointer_for(archive))
    proc = box.run(GALLERY_BUCKET="gallery-b", AWS_REGION="eu-west-1")
    assert proc.returncode != 0
    assert "does not match the sha256" in proc.stderr
    assert not (box.prefix / "current").exists() and not list((box.prefix / "releases").glob("*"))
    assert box.calls("systemctl") == []


@pytest.mark.parametrize("field", ["version", "key", "sha256"])
def test_bootstrap_never_runs_what_its_pointer_holds(tmp_path, field):
    box = BootstrapSandbox(tmp_path)
    archive = fake_bundle()
    hostile = f"$(touch {box.root}/pwned) `touch {box.root}/pwned`"
    box.publish("gallery-b", archive, {**agent_bundle.pointer_for(archive), field: hostile})
    proc = box.run(GALLERY_BUCKET="gallery-b", AWS_REGION="eu-west-1")
    assert proc.returncode != 0 and "agent/current.json" in proc.stderr
    assert not (box.root / "pwned").exists()
    assert len(box.calls("aws")) == 1  # the pointer only: nothing it names was fetched


def test_bootstrap_stops_at_the_first_failing_step(tmp_path):
    # GIVEN an instance without the AWS CLI whose package install fails
    box = BootstrapSandbox(tmp_path, missing=("aws",))
    box.publish("gallery-b", fake_bundle())
    (tmp_path / "dnf-fails").touch()
    proc = box.run(GALLERY_BUCKET="gallery-b", AWS_REGION="eu-west-1")
    # THEN nothing after the failed step ran
    assert proc.returncode != 0
    assert [c[0] for c in box.calls()] == ["dnf"]
    assert not box.env_file.exists()


def test_bootstrap_installs_missing_packages_and_asks_the_instance_for_its_region(tmp_path):
    # GIVEN a fresh instance: no python3.11, no AWS CLI, no region set anywhere, nothing published yet
    box = BootstrapSandbox(tmp_path, missing=("python3.11", "aws"))
    (tmp_path / "rpm-missing").write_text("libgomp\nlibquadmath\n")
    proc = box.run(GALLERY_BUCKET="gallery-b")
    # THEN the packages are installed, the region comes from the instance metadata, the settings are
    # written, and the run stops saying the agent is not published
    # (and the system libraries the wheels need that the image lacks: bootstrap.sh's SYSTEM_LIBS)
    assert box.calls("dnf") == [["dnf", "install", "-y", "-q", "python3.11", "python3.11-pip", "awscli-2",
                                 "libgomp", "libquadmath"]]
    asked = [next(a for a in c if a.startswith("http://")).rsplit("/", 2)[-2:] for c in box.calls("curl")]
    assert asked == [["api", "token"], ["placement", "region"]]
    assert "AWS_REGION=eu-central-1" in box.env_lines()
    assert proc.returncode != 0 and "was the agent published?" in proc.stderr


def test_bootstrap_rejects_a_bucket_name_outside_the_contract(tmp_path):
    box = BootstrapSandbox(tmp_path)
    proc = box.run(GALLERY_BUCKET=f"gallery;touch {box.root}/pwned", AWS_REGION="eu-west-1")
    assert proc.returncode != 0 and "GALLERY_BUCKET must match" in proc.stderr
    assert box.calls() == [] and not (box.root / "pwned").exists()


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
    assert settings["User"] == "imagesearch"
    # A SIGHUP or SIGTERM exit is clean to systemd: only Restart=always brings the daemon back.
    assert settings["Restart"] == "always" and 1 <= int(settings["RestartSec"]) <= 10
    assert int(settings["StartLimitBurst"]) >= 3 and int(settings["StartLimitIntervalSec"]) > 0
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
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
    # Every module of the package (whatever the modules are called), and the two entry points.
    package = {p.relative_to(AGENT).as_posix() for p in (AGENT / "imagesearch").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert {"imagesearch/__init__.py", "imagesearch/cli/parser.py", "imagesearch/agent/client.py"} <= package
    others = {"bootstrap.sh", "requirements.lock", "systemd/imagesearch.service", "pyproject.toml"}
    assert package | others <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith(("/", ".."))]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["bootstrap.sh"].mode == 0o755


def test_bundle_changes_when_the_code_changes(tmp_path):
    agent = tmp_path / "agent"
    shutil.copytree(AGENT, agent, ignore=shutil.ignore_patterns("__pycache__"))
    before = agent_bundle.build_bundle(tmp_path / "out1", agent)
    client = agent / "imagesearch" / "agent" / "client.py"
    client.write_text(client.read_text() + "\n")
    after = agent_bundle.build_bundle(tmp_path / "out2", agent)
    assert before.name != after.name


def test_bundle_code_imports_from_the_extracted_archive(tmp_path):
    # The instance runs the package in place from the unpacked release (a .pth entry, no build).
    path = agent_bundle.build_bundle(tmp_path)
    release = tmp_path / "release"
    with tarfile.open(path) as tar:
        tar.extractall(release, filter="data")
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); "
             "import imagesearch.agent.client, imagesearch.agent.daemon; "
             "print(imagesearch.agent.client.__file__)")
    proc = subprocess.run([sys.executable, "-S", "-I", "-c", probe, str(release)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(release / "imagesearch" / "agent" / "client.py")


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


# Every module of the agent package but the settings table itself (the daemon and client are split
# into several modules; a list of names would miss the new ones).
AGENT_MODULES = sorted(p.relative_to(AGENT / "imagesearch").as_posix()
                       for p in (AGENT / "imagesearch").rglob("*.py") if p.name != "settings.py")


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
