"""The index version format: manifest, arrays and pointer, independent of where they are stored.

Layout (docs/contracts.md): `<root>/<version>/manifest.json` plus `.npy` arrays, and
`<root>/current.json` = {"version": "<version>"}. Arrays are plain .npy (never pickles) and are
memory-mapped read-only when loaded. Where a root lives (folder or S3 prefix) is imagesearch.index.storage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets

import numpy as np

from imagesearch.errors import SearchError
from imagesearch.model.images import file_sha256

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "current.json"
ARRAYS = ("features", "vectors", "mean", "hashes", "keys", "lsh_planes", "lsh_codes", "lsh_order")
VERSION_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")


def new_version_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique version id: UTC time plus 6 random hex digits."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_version(version: str) -> str:
    """`version` itself when it is a well-formed version id, else index_unavailable."""
    # A version id ends up in paths and keys; refuse anything else (e.g. "../x" from a bad pointer).
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise SearchError("index_unavailable", f"malformed index version id {version!r}")
    return version


def dumps(obj: dict) -> bytes:
    """The JSON bytes the index writes (manifest, pointer): indented, sorted keys, final newline."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def pointer_body(version: str) -> bytes:
    """The bytes of a current.json naming `version`."""
    return dumps({"version": check_version(version)})


def parse_pointer(raw: bytes, where: str) -> str:
    """The version a current.json names; index_unavailable when it is not a version pointer."""
    try:
        return check_version(json.loads(raw)["version"])
    except (ValueError, KeyError, TypeError, SearchError) as e:
        raise SearchError("index_unavailable", f"{where}/{CURRENT} is not a version pointer: {e}") from e


def write_arrays(directory: str, arrays: dict[str, np.ndarray]) -> dict[str, dict]:
    """Save each array as <name>.npy in `directory`; return {file: {bytes, sha256}}."""
    files = {}
    for name, arr in arrays.items():
        path = os.path.join(directory, f"{name}.npy")
        np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
        files[f"{name}.npy"] = {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}
    return files


def write_version_files(directory: str, arrays: dict[str, np.ndarray], manifest: dict) -> dict:
    """Write the arrays and the completed manifest (files, format) into `directory`; return the manifest."""
    manifest = {**manifest, "format_version": FORMAT_VERSION}
    manifest["files"] = write_arrays(directory, arrays)
    with open(os.path.join(directory, MANIFEST), "wb") as f:
        f.write(dumps(manifest))
    return manifest


def parse_manifest(raw: bytes, where: str) -> dict:
    """The manifest dict, checked for a format this code reads."""
    try:
        manifest = json.loads(raw)
    except ValueError as e:
        raise SearchError("index_unavailable", f"{where}/{MANIFEST} is not JSON: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        got = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise SearchError(
            "index_unavailable", f"{where} has index format {got!r}; this code reads {FORMAT_VERSION}"
        )
    return manifest


def load_version(directory: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest and the memory-mapped arrays of a local version folder, checked for consistency."""
    try:
        with open(os.path.join(directory, MANIFEST), "rb") as f:
            manifest = parse_manifest(f.read(), directory)
    except FileNotFoundError as e:
        raise SearchError("index_unavailable", f"no manifest in {directory}") from e
    arrays = {}
    for name in ARRAYS:
        path = os.path.join(directory, f"{name}.npy")
        expected = manifest.get("files", {}).get(f"{name}.npy", {}).get("bytes")
        try:
            if expected is not None and os.path.getsize(path) != expected:
                raise SearchError(
                    "index_unavailable", f"{path} has {os.path.getsize(path)} bytes, manifest says {expected}"
                )
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise SearchError("index_unavailable", f"cannot load {path}: {e}") from e
    n = int(manifest.get("count", -1))
    shapes_ok = (
        arrays["features"].shape[0] == n
        and arrays["vectors"].shape[0] == n
        and len(arrays["keys"]) == n
        and len(arrays["hashes"]) == n
        and arrays["lsh_codes"].shape[1:] == (n,)
        and arrays["lsh_order"].shape == arrays["lsh_codes"].shape
    )
    if not shapes_ok:
        raise SearchError(
            "index_unavailable", f"{directory}: array shapes disagree with the manifest count {n}"
        )
    return manifest, arrays
