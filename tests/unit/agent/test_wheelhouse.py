"""The instance's wheelhouse: the lock, the system libraries the wheels need, the offline install."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from publish import bundle as agent_bundle
from publish import wheelhouse

REPO = Path(__file__).resolve().parents[3]
BOOTSTRAP = REPO / "agent_scripts" / "bootstrap.sh"


def _wheelhouse_or_skip() -> dict:
    try:
        return wheelhouse.locked_wheels()
    except wheelhouse.WheelhouseError as e:
        pytest.skip(f"{e} (`make test` does this first)")


def bootstrap_system_libs() -> dict[str, str]:
    """Soname -> AL2023 package, from bootstrap.sh's SYSTEM_LIBS table."""
    block = re.search(r"^readonly SYSTEM_LIBS=\(\n(.*?)^\)", BOOTSTRAP.read_text(), re.M | re.S)
    assert block, "bootstrap.sh has no SYSTEM_LIBS=( ... ) table"
    return dict(line.strip().split("=", 1) for line in block[1].splitlines() if line.strip())


def missing_from_bootstrap(needs: dict[str, list[str]]) -> list[str]:
    """The needed sonames the bootstrap does not install, with the wheels needing them."""
    table = bootstrap_system_libs()
    return [f"{soname} (needed by {', '.join(users)})" for soname, users in needs.items()
            if soname not in table]


def test_the_lock_pins_exactly_the_requirements_each_by_one_hash():
    wheelhouse.check_lock_matches()
    pins = wheelhouse.read_lock()
    assert len({p.name for p in pins}) == len(pins) == len(wheelhouse.read_requirements())
    assert all(re.fullmatch(r"[0-9a-f]{64}", p.sha256) for p in pins)
    assert {"mxnet", "numpy", "pillow", "pillow-heif", "boto3"} <= {p.name for p in pins}


def test_a_stale_lock_is_refused(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text((REPO / "agent_scripts" / "requirements.txt").read_text().replace(
        "numpy==1.23.5", "numpy==1.23.4"))
    with pytest.raises(wheelhouse.WheelhouseError, match="stale.*numpy"):
        wheelhouse.check_lock_matches(requirements, wheelhouse.LOCK)


def test_a_wheel_with_the_wrong_hash_is_not_in_the_wheelhouse(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("six==1.17.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    (tmp_path / "six-1.17.0-py2.py3-none-any.whl").write_bytes(b"not the locked wheel")
    with pytest.raises(wheelhouse.WheelhouseError, match="lacks six==1.17.0"):
        wheelhouse.locked_wheels(tmp_path, lock)


def _shared_object_with_needs() -> tuple[Path, list[str]]:
    # A real ELF file of this machine's Python that links against something outside glibc.
    # (this Python's own extensions, else those of the installed wheels: numpy's, Pillow's)
    paths = sysconfig.get_paths()
    folders = [Path(paths["platstdlib"], "lib-dynload"), Path(paths["platlib"])]
    candidates = (p for folder in folders
                  for p in sorted(folder.glob("*.so")) + sorted(folder.glob("*/*.so*")))
    for path in candidates:
        if path.stat().st_size > 5_000_000 or not path.read_bytes()[:4] == b"\x7fELF":
            continue
        needs = wheelhouse._elf_needed(path.read_bytes())
        if any(not n.startswith(("libc.", "libm.", "libpthread.", "ld-linux")) for n in needs):
            return path, needs
    pytest.skip("no extension module with a non-glibc need in this Python's lib-dynload")


def _fake_wheel(tmp_path: Path, members: dict[str, bytes]) -> Path:
    wheel = tmp_path / "fake-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return wheel


def test_needs_are_read_from_the_elf_files_and_bundled_libraries_do_not_count(tmp_path):
    so, needs = _shared_object_with_needs()
    outside = next(n for n in needs if not n.startswith(("libc.", "libm.", "libpthread.", "ld-linux")))
    alone = _fake_wheel(tmp_path, {"fake/_ext.so": so.read_bytes(), "fake/notes.txt": b"x"})
    assert wheelhouse.wheel_needs(alone) == set(needs)
    # The same library carried in the wheel's .libs folder is the wheel's own, not the OS's.
    data = so.read_bytes()
    bundled = _fake_wheel(tmp_path, {"fake/_ext.so": data, f"fake.libs/{outside}": data})
    assert outside not in wheelhouse.wheel_needs(bundled)


def test_the_check_names_a_library_the_bootstrap_does_not_install(tmp_path):
    so, _ = _shared_object_with_needs()
    wheel = _fake_wheel(tmp_path, {"fake/_ext.so": so.read_bytes()})
    needs = wheelhouse.needed_libraries([wheel])
    table = bootstrap_system_libs()
    unlisted = sorted(set(needs) - set(table))
    assert unlisted, "pick an extension with a need outside the bootstrap's table"
    assert any(unlisted[0] in line and wheel.name in line for line in missing_from_bootstrap(needs))


def test_the_bootstrap_installs_exactly_the_libraries_the_locked_wheels_need():
    wheels = _wheelhouse_or_skip()
    needs = wheelhouse.needed_libraries(list(wheels.values()))
    assert not missing_from_bootstrap(needs), "add these to SYSTEM_LIBS in bootstrap.sh"
    extra = sorted(set(bootstrap_system_libs()) - set(needs))
    assert not extra, f"SYSTEM_LIBS lists libraries no wheel needs: {extra}"
    # MXNet's own libgfortran needs libquadmath and libmxnet needs libgomp: the reported needs.
    assert {"libquadmath.so.0", "libgomp.so.1"} <= set(needs)


def test_the_bootstrap_installs_from_the_bundle_only():
    text = BOOTSTRAP.read_text()
    install = re.search(r'"\$VENV/bin/pip" install (.*?)\n\s*echo', text, re.S)
    assert install, "bootstrap.sh installs the requirements with $VENV/bin/pip install"
    args = install[1]
    for flag in ("--no-index", "--require-hashes", "--only-binary=:all:",
                 '--find-links "$BUNDLE_DIR/wheels"', '-r "$BUNDLE_DIR/requirements.lock"'):
        assert flag in args
    assert "--index-url" not in text and "pip install" not in text.replace('"$VENV/bin/pip" install', "")


def test_the_bundle_installs_offline_into_a_fresh_venv_and_answers_a_query(tmp_path):
    # The acceptance test of the bundle: what the bootstrap does on the instance, here, with no
    # package index reachable, then a real search with the installed engine.
    wheels = _wheelhouse_or_skip()
    archive = agent_bundle.build_bundle(tmp_path / "dist", wheelhouse=wheelhouse.WHEELHOUSE)
    release = tmp_path / "release"
    with tarfile.open(archive) as tar:
        tar.extractall(release, filter="data")
    assert {p.name for p in (release / "wheels").iterdir()} == {p.name for p in wheels.values()}

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull,
           "PIP_INDEX_URL": "http://127.0.0.1:9/never", "PIP_NO_CACHE_DIR": "1"}
    started = time.monotonic()
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-index",
         "--find-links", str(release / "wheels"), "--only-binary=:all:", "--require-hashes",
         "-r", str(release / "requirements.lock")],
        capture_output=True, text=True, env=env, timeout=600)
    install_seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]

    # The bootstrap runs the package in place from the release through a .pth entry.
    site = subprocess.run([str(venv / "bin" / "python"), "-I", "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "imagesearch-agent.pth").write_text(f"{release}\n")
    cli = [str(venv / "bin" / "python"), "-I", "-c",
           "import sys; from imagesearch.cli import main; sys.exit(main())"]

    def run(*args: str) -> str:
        out = subprocess.run([*cli, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    run("sample-data", "--out", "albums", "--count", "30")
    run("index", "build", "--images", "albums", "--out", "index", "--weights", "seed:0", "--size", "32",
        "--quiet")
    query = sorted((tmp_path / "albums").rglob("*.png"))[0]
    answer = json.loads(run("query", "--index", "index", "--image", str(query), "--k", "3"))
    album = query.parent.name
    # An indexed image is answered from its stored features and never matches itself.
    assert answer["ok"] is True and answer["indexed"] is True and len(answer["results"]) == 3
    assert answer["results"][0]["key"].startswith(f"gallery/{album}/")
    assert f"gallery/{album}/{query.name}" not in [r["key"] for r in answer["results"]]
    imported = subprocess.run([*cli[:2], "-c", "import imagesearch, mxnet; print(imagesearch.__file__)"],
                              capture_output=True, text=True, env=env, timeout=120)
    assert imported.stdout.strip().startswith(str(release))
    size = archive.stat().st_size
    print(f"\nbundle {size / 2**20:.1f} MiB, offline install {install_seconds:.1f} s")
    shutil.rmtree(venv)
