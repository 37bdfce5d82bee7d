"""The instance's wheelhouse: every runtime dependency as a binary wheel, pinned by hash.

`agent_scripts/requirements.txt` names the pins (transitive ones included);
`agent_scripts/requirements.lock` adds the sha256 of the one wheel each pin resolves to for
CPython 3.11 on manylinux x86_64. `lock` writes the lock file (an operator step, after changing a
pin); `download` fills the wheelhouse from it, with pip checking every hash, and does nothing when
the wheels already there match the lock. The bundle carries the wheels, so the instance installs
with `--no-index --require-hashes` and never reaches a package index.

`needed_libraries` reads the wheels' ELF shared objects: the libraries they link against and do
not bundle are what the bootstrap must install from the OS.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent.parent / "agent_scripts"
REQUIREMENTS = AGENT_DIR / "requirements.txt"
LOCK = AGENT_DIR / "requirements.lock"
WHEELHOUSE = Path(__file__).resolve().parent.parent / ".cache" / "wheelhouse"

# AL2023 ships glibc 2.34, so any manylinux wheel up to 2_34 runs there. pip matches --platform
# tags literally, so each one is named, with the legacy alias manylinux2014 (MXNet's wheel).
PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 35)))
PLATFORM = "manylinux x86_64 (glibc <= 2.34)"
PYTHON_VERSION = "3.11"
TARGET = ["--only-binary=:all:", *(a for p in PLATFORMS for a in ("--platform", p)),
          "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", "cp311"]

_LOCK_LINE = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})$")
_SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")


class WheelhouseError(RuntimeError):
    """The lock, the requirements or the wheelhouse do not agree."""


@dataclass(frozen=True)
class Pin:
    """One locked requirement: the name, the version and the sha256 of its wheel."""

    name: str
    version: str
    sha256: str


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path = REQUIREMENTS) -> dict[str, str]:
    """Normalized name -> pinned version of every line of a requirements file."""
    pins: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version:
            raise WheelhouseError(f"{path}: {line!r} is not pinned with ==")
        pins[normalize(name)] = version.strip()
    return pins


def read_lock(path: Path = LOCK) -> list[Pin]:
    """The pins of a lock file written by `write_lock`."""
    text = Path(path).read_text().replace("\\\n", " ")
    pins = []
    for line in text.splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if not line:
            continue
        match = _LOCK_LINE.match(line)
        if not match:
            raise WheelhouseError(f"{path}: {line!r} is not `name==version --hash=sha256:...`")
        pins.append(Pin(normalize(match[1]), match[2], match[3]))
    return pins


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheel_name(path: Path) -> tuple[str, str]:
    """(normalized name, version) from a wheel's file name."""
    parts = Path(path).name.split("-")
    if len(parts) < 5 or not path.name.endswith(".whl"):
        raise WheelhouseError(f"{path.name} is not a wheel file name")
    return normalize(parts[0]), parts[1]


def _pip_download(args: list[str], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
           *TARGET, "--dest", str(dest), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise WheelhouseError(f"pip download failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def write_lock(requirements: Path = REQUIREMENTS, lock: Path = LOCK) -> list[Pin]:
    """Download the pinned wheels once and write their hashes to the lock file (needs the network)."""
    wanted = read_requirements(requirements)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-lock-") as tmp:
        _pip_download(["-r", str(requirements)], Path(tmp))
        found = {wheel_name(p): p for p in Path(tmp).glob("*.whl")}
        pins = []
        for name, version in sorted(wanted.items()):
            path = found.get((name, version))
            if path is None:
                raise WheelhouseError(f"no binary wheel of {name}=={version} for CPython {PYTHON_VERSION} "
                                      f"on {PLATFORM}")
            pins.append(Pin(name, version, sha256_file(path)))
    lines = [f"# The wheels the instance installs: one binary wheel per pin of requirements.txt for\n"
             f"# CPython {PYTHON_VERSION} on {PLATFORM}, by sha256. Written by `make lock`; do not edit.\n"]
    lines += [f"{p.name}=={p.version} \\\n    --hash=sha256:{p.sha256}\n" for p in pins]
    Path(lock).write_text("".join(lines))
    return pins


def check_lock_matches(requirements: Path = REQUIREMENTS, lock: Path = LOCK) -> None:
    """Raise when the lock does not pin exactly the versions requirements.txt names."""
    wanted = read_requirements(requirements)
    locked = {p.name: p.version for p in read_lock(lock)}
    if wanted != locked:
        diff = sorted(set(wanted.items()) ^ set(locked.items()))
        raise WheelhouseError(f"{lock.name} is stale against {requirements.name} ({diff}); run `make lock`")


def locked_wheels(dest: Path = WHEELHOUSE, lock: Path = LOCK) -> dict[Pin, Path]:
    """Each pin of the lock -> its wheel in dest; raises naming the pins with no matching wheel."""
    by_hash = {}
    for path in sorted(Path(dest).glob("*.whl")) if Path(dest).is_dir() else []:
        by_hash[sha256_file(path)] = path
    pins = read_lock(lock)
    missing = [f"{p.name}=={p.version}" for p in pins if p.sha256 not in by_hash]
    if missing:
        raise WheelhouseError(f"the wheelhouse {dest} lacks {', '.join(missing)}; run `make wheelhouse`")
    return {p: by_hash[p.sha256] for p in pins}


def download(dest: Path = WHEELHOUSE, lock: Path = LOCK) -> tuple[dict[Pin, Path], bool]:
    """Fill dest with the locked wheels, reusing those already there; returns them and whether pip ran."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return locked_wheels(dest, lock), False
    except WheelhouseError:
        pass  # something is missing: pip fetches it below and checks every hash
    _pip_download(["--require-hashes", "-r", str(lock)], dest)
    wheels = locked_wheels(dest, lock)
    keep = set(wheels.values())
    for path in dest.glob("*.whl"):
        if path not in keep:  # a wheel of an older pin: the bundle must hold the lock's wheels only
            path.unlink()
    return wheels, True


def _elf_needed(data: bytes) -> list[str]:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    needed = []
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            needed += [tag.needed for tag in section.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]
    return needed


def wheel_needs(wheel: Path) -> set[str]:
    """The sonames a wheel's shared objects need (DT_NEEDED) that the wheel does not carry itself."""
    needed: set[str] = set()
    bundled: set[str] = set()
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or not _SHARED_OBJECT.search(name):
                continue
            data = zf.read(info)
            if not data.startswith(b"\x7fELF"):
                continue
            # auditwheel puts copies in <pkg>.libs/ and rewrites DT_NEEDED to their hashed names;
            # MXNet ships its own next to libmxnet.so (RPATH $ORIGIN). Both are found by file name.
            bundled.add(name)
            needed.update(_elf_needed(data))
    return needed - bundled


def needed_libraries(wheels: list[Path]) -> dict[str, list[str]]:
    """Soname -> the wheels needing it, for every library the wheels link against and do not bundle."""
    needs: dict[str, list[str]] = {}
    for wheel in sorted(wheels):
        for soname in sorted(wheel_needs(wheel)):
            needs.setdefault(soname, []).append(Path(wheel).name)
    return dict(sorted(needs.items()))


def main(argv: list[str] | None = None) -> int:
    """`python -m publish.wheelhouse lock|download|needs`."""
    parser = argparse.ArgumentParser(prog="python -m publish.wheelhouse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("lock", help="download the pins once and write requirements.lock (network)")
    down = sub.add_parser("download", help="fill the wheelhouse from the lock, reusing what is there")
    down.add_argument("--dest", type=Path, default=WHEELHOUSE)
    needs = sub.add_parser("needs", help="print the system libraries the wheels need")
    needs.add_argument("--dest", type=Path, default=WHEELHOUSE)
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            pins = write_lock()
            print(f"locked {len(pins)} wheels in {LOCK}")
        elif args.command == "download":
            check_lock_matches()
            wheels, fetched = download(args.dest)
            size = sum(p.stat().st_size for p in wheels.values())
            state = "downloaded" if fetched else "already there"
            print(f"wheelhouse {args.dest}: {len(wheels)} wheels, {size / 2**20:.1f} MiB ({state})")
        else:
            for soname, users in needed_libraries(list(locked_wheels(args.dest).values())).items():
                print(f"{soname}\t{' '.join(users)}")
    except WheelhouseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
