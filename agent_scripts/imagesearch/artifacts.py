"""Index versions on disk or S3: write a complete version folder, then move current.json to it.

Layout (docs/contracts.md): `<root>/<version>/manifest.json` plus `.npy` arrays, and
`<root>/current.json` = {"version": "<version>"}. Arrays are plain .npy (never pickles) and are
memory-mapped read-only when loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import tempfile
from typing import Any

import numpy as np

from imagesearch.errors import SearchError
from imagesearch.images import file_sha256
from imagesearch.s3io import download_file, get_bytes, is_s3_uri, join_key, parse_s3_uri, put_bytes

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "current.json"
ARRAYS = ("features", "vectors", "mean", "hashes", "keys", "lsh_planes", "lsh_codes", "lsh_order")
VERSION_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")


def new_version_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique version id: UTC time plus 6 random hex digits."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _check_version(version: str) -> str:
    # A version id ends up in paths and keys; refuse anything else (e.g. "../x" from a bad pointer).
    if not VERSION_RE.match(version):
        raise SearchError("index_unavailable", f"malformed index version id {version!r}")
    return version


def write_arrays(directory: str, arrays: dict[str, np.ndarray]) -> dict[str, dict]:
    """Save each array as <name>.npy in `directory`; return {file: {bytes, sha256}}."""
    files = {}
    for name, arr in arrays.items():
        path = os.path.join(directory, f"{name}.npy")
        np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
        files[f"{name}.npy"] = {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}
    return files


def publish_version(
    index_root: str,
    arrays: dict[str, np.ndarray],
    manifest: dict,
    *,
    s3: Any = None,
    move_current: bool = True,
) -> str:
    """Write a complete new version under `index_root`, then point current.json at it; return its id.

    Local: the version is written into a hidden temporary folder and renamed into place, and the
    pointer is replaced with os.replace, so a reader sees either the old or the new version whole.
    S3: every array and the manifest are uploaded before current.json is put.
    """
    version = manifest.get("version") or new_version_id()
    manifest = {**manifest, "version": version, "format_version": FORMAT_VERSION}
    if is_s3_uri(index_root):
        if s3 is None:
            raise SearchError("bad_request", f"{index_root} is on S3 but no S3 client was given")
        bucket, prefix = parse_s3_uri(index_root)
        with tempfile.TemporaryDirectory(prefix="imagesearch-stage-") as stage:
            manifest["files"] = write_arrays(stage, arrays)
            for name in manifest["files"]:
                s3.upload_file(os.path.join(stage, name), bucket, join_key(prefix, version, name))
        # The manifest goes last: a version folder without one is incomplete and never pointed at.
        put_bytes(s3, bucket, join_key(prefix, version, MANIFEST), _dumps(manifest), "application/json")
    else:
        os.makedirs(index_root, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=index_root)
        try:
            manifest["files"] = write_arrays(stage, arrays)
            with open(os.path.join(stage, MANIFEST), "wb") as f:
                f.write(_dumps(manifest))
            # mkdtemp makes it private; the daemon may run as another user and only reads it.
            os.chmod(stage, 0o755)  # noqa: S103
            os.rename(stage, os.path.join(index_root, version))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    if move_current:
        set_current(index_root, version, s3=s3)
    return version


def _dumps(obj: dict) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def set_current(index_root: str, version: str, *, s3: Any = None) -> None:
    """Point `<root>/current.json` at `version` atomically."""
    body = _dumps({"version": _check_version(version)})
    if is_s3_uri(index_root):
        bucket, prefix = parse_s3_uri(index_root)
        put_bytes(s3, bucket, join_key(prefix, CURRENT), body, "application/json")
        return
    fd, tmp = tempfile.mkstemp(prefix=".current-", dir=index_root)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(index_root, CURRENT))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_current(index_root: str, s3: Any = None) -> str | None:
    """The live version id from `<root>/current.json`, or None when there is no pointer yet."""
    if is_s3_uri(index_root):
        if s3 is None:
            raise SearchError("bad_request", f"{index_root} is on S3 but no S3 client was given")
        bucket, prefix = parse_s3_uri(index_root)
        raw = get_bytes(s3, bucket, join_key(prefix, CURRENT))
    else:
        try:
            with open(os.path.join(index_root, CURRENT), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raw = None
    if raw is None:
        return None
    try:
        return _check_version(json.loads(raw)["version"])
    except (ValueError, KeyError, TypeError) as e:
        raise SearchError("index_unavailable", f"{index_root}/{CURRENT} is not a version pointer: {e}") from e


def local_version_dir(index_root: str, version: str, *, s3: Any = None, cache_dir: str | None = None) -> str:
    """A local folder holding the complete version: the folder itself, or an S3 copy fetched once."""
    _check_version(version)
    if not is_s3_uri(index_root):
        path = os.path.join(index_root, version)
        if not os.path.isfile(os.path.join(path, MANIFEST)):
            raise SearchError("index_unavailable", f"index version {version} not found under {index_root}")
        return path
    if s3 is None:
        raise SearchError("bad_request", f"{index_root} is on S3 but no S3 client was given")
    if not cache_dir:
        raise SearchError("bad_request", "an S3 index needs a local cache_dir to hold its arrays")
    bucket, prefix = parse_s3_uri(index_root)
    dest = os.path.join(cache_dir, "index", bucket, *[p for p in prefix.split("/") if p], version)
    if os.path.isfile(os.path.join(dest, MANIFEST)):
        return dest
    raw, manifest = _s3_manifest(s3, index_root, version)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=os.path.dirname(dest))
    try:
        for name, meta in manifest.get("files", {}).items():
            if "/" in name or name.startswith("."):
                raise SearchError("index_unavailable", f"manifest names an unsafe file {name!r}")
            path = os.path.join(stage, name)
            download_file(s3, bucket, join_key(prefix, version, name), path)
            if file_sha256(path) != meta.get("sha256"):
                raise SearchError(
                    "index_unavailable", f"{index_root}/{version}/{name} does not match its manifest hash"
                )
        with open(os.path.join(stage, MANIFEST), "wb") as f:
            f.write(raw)
        os.chmod(stage, 0o755)  # noqa: S103 - read-only cache shared with the daemon user
        try:
            os.rename(stage, dest)
        except OSError:
            # Another process fetched the same version first; theirs is complete, use it.
            if not os.path.isfile(os.path.join(dest, MANIFEST)):
                raise
    except SearchError as e:
        raise SearchError("index_unavailable", e.message) from e
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return dest


def _s3_manifest(s3: Any, index_root: str, version: str) -> tuple[bytes, dict]:
    """The raw and parsed manifest of a version on S3; index_unavailable when it has none."""
    bucket, prefix = parse_s3_uri(index_root)
    raw = get_bytes(s3, bucket, join_key(prefix, version, MANIFEST))
    if raw is None:
        raise SearchError(
            "index_unavailable", f"{index_root}/{version} has no manifest (missing or incomplete)"
        )
    return raw, parse_manifest(raw, f"{index_root}/{version}")


def read_manifest(index_root: str, version: str, *, s3: Any = None) -> dict:
    """The manifest of one version, read on its own: an S3 version's arrays are not fetched."""
    if not is_s3_uri(index_root):
        directory = local_version_dir(index_root, version)
        with open(os.path.join(directory, MANIFEST), "rb") as f:
            return parse_manifest(f.read(), directory)
    _check_version(version)
    if s3 is None:
        raise SearchError("bad_request", f"{index_root} is on S3 but no S3 client was given")
    return _s3_manifest(s3, index_root, version)[1]


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


def list_versions(index_root: str, *, s3: Any = None) -> list[str]:
    """Version ids present under the root (complete or not), oldest first."""
    if is_s3_uri(index_root):
        bucket, prefix = parse_s3_uri(index_root)
        found = set()
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=bucket, Prefix=join_key(prefix) + "/" if prefix else "", Delimiter="/"
        ):
            for p in page.get("CommonPrefixes", []):
                name = p["Prefix"].rstrip("/").rsplit("/", 1)[-1]
                if VERSION_RE.match(name):
                    found.add(name)
        return sorted(found)
    if not os.path.isdir(index_root):
        return []
    return sorted(v for v in os.listdir(index_root) if VERSION_RE.match(v))
