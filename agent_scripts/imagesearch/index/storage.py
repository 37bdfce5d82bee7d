"""Where an index root lives: a local folder or an S3 prefix, behind one small interface.

Both implementations keep the layout of docs/contracts.md (imagesearch.index.artifacts) and its
guarantees: a version folder is complete before current.json names it, and a switch can be made
conditional on the pointer being the one read (`read_pointer`, then `set_current(expect=...)`: S3's
If-Match / If-None-Match on PutObject; a local root compares under a lock), so a re-index and an
ingest never overwrite each other's switch. Everything that reads or
writes an index root goes through `open_store`, so no other code branches on `s3://`.
Over 300 lines on purpose: two short implementations of one interface (local folder, S3 prefix),
with version pruning, side by side so they keep behaving alike.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from botocore.exceptions import ClientError

from imagesearch.errors import SearchError
from imagesearch.file_lock import exclusive_lock
from imagesearch.index.artifacts import (
    CURRENT,
    MANIFEST,
    VERSION_RE,
    check_version,
    new_version_id,
    parse_manifest,
    parse_pointer,
    pointer_body,
    write_version_files,
)
from imagesearch.model.images import file_sha256
from imagesearch.s3io import (
    download_file,
    error_code,
    get_bytes,
    get_bytes_and_etag,
    is_s3_uri,
    join_key,
    list_objects,
    parse_s3_uri,
    put_bytes,
)

# The deployed index root is s3://<gallery bucket>/index (docs/contracts.md).
GALLERY_INDEX_PREFIX = "index"
POINTER_LOCK = ".current.lock"  # a local root's lock around a pointer switch (hidden: never a version)
# What S3 answers a conditional PutObject whose condition fails: 412, 409 (another conditional write
# to the key at the same moment), 404 (If-Match on a key that is gone).
_MOVED_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"}


@dataclass(frozen=True)
class Pointer:
    """current.json as read: the version it names and a tag a conditional switch compares.

    `version` and `tag` are None when the root has no pointer; the tag is S3's ETag of the object,
    or for a local root the SHA-256 of its bytes.
    """

    version: str | None
    tag: str | None


class PointerMoved(SearchError):
    """A conditional switch found current.json changed since it was read (another build went live)."""

    def __init__(self, root: str) -> None:
        super().__init__("internal", f"{root}/{CURRENT} changed since it was read (another build or "
                         "ingest batch switched it first)")


class IndexStore(Protocol):
    """An index root: its version pointer, its version folders and a local copy of one to open."""

    root: str  # how messages name it: a folder path or s3://bucket/prefix

    def read_current(self) -> str | None:
        """The live version id named by current.json, or None when there is no pointer yet."""
        ...

    def read_pointer(self) -> Pointer:
        """current.json's version and the tag `set_current(expect=...)` compares."""
        ...

    def set_current(self, version: str, *, expect: Pointer | None = None) -> None:
        """Point current.json at `version` in one write a reader sees whole or not at all.

        With `expect` (a Pointer read earlier), only if current.json is still that one (absent when
        its version is None); else PointerMoved and the pointer is left as it is.
        """
        ...

    def list_versions(self) -> list[str]:
        """Version ids present under the root (complete or not), oldest first."""
        ...

    def read_manifest(self, version: str) -> dict:
        """The manifest of one version, read on its own (no arrays fetched)."""
        ...

    def local_dir(self, version: str, *, cache_dir: str | None = None) -> str:
        """A local folder holding the complete version (an S3 version is fetched once into cache_dir)."""
        ...

    def read_array(self, version: str, name: str) -> np.ndarray:
        """One array of a version (e.g. "mean"), read alone and checked against the manifest."""
        ...

    def fetch_version(self, version: str, dest: str) -> None:
        """Copy a complete version into the new folder `dest`, every array checked against the manifest."""
        ...

    def stage_version(self, version: str) -> Any:
        """A context manager giving a local folder to fill; on exit the version is stored whole."""
        ...

    def delete_version(self, version: str) -> None:
        """Remove one version folder (its manifest first, so a reader sees it incomplete, never half)."""
        ...

    def prune_cache(self, cache_dir: str, keep: int, protect: set[str]) -> list[str]:
        """Delete local cached copies beyond the newest `keep` and `protect`; return the ids deleted."""
        ...


def open_store(index_root: str | IndexStore, *, s3: Any = None) -> IndexStore:
    """The store of an index root: `s3://bucket/prefix` (needs the S3 client) or a local folder."""
    if not isinstance(index_root, str):
        return index_root
    if is_s3_uri(index_root):
        if s3 is None:
            raise SearchError("bad_request", f"{index_root} is on S3 but no S3 client was given")
        return S3IndexStore(s3, *parse_s3_uri(index_root))
    return LocalIndexStore(index_root)


def publish_version(
    store: IndexStore,
    arrays: dict[str, np.ndarray],
    manifest: dict,
    *,
    move_current: bool = True,
    keep: int | None = None,
    expect: Pointer | None = None,
) -> str:
    """Store a complete new version, then (by default) point current.json at it; return its id.

    With `keep` (IMAGESEARCH_KEEP_VERSIONS) and the pointer moved, older versions are then pruned
    (`prune_versions`). With `expect`, the switch is conditional (IndexStore.set_current): when
    another build switched the pointer first, the new version is deleted again and PointerMoved
    raised, for the caller to redo its work on the version now live.
    """
    version = check_version(manifest.get("version") or new_version_id())
    with store.stage_version(version) as stage:
        write_version_files(stage, arrays, {**manifest, "version": version})
    if move_current:
        try:
            store.set_current(version, expect=expect)
        except PointerMoved:
            store.delete_version(version)  # nothing names it; the caller builds another
            raise
        if keep is not None:
            prune_versions(store, keep)
    return version


def versions_to_prune(versions: list[str], keep: int, protect: set[str]) -> list[str]:
    """The versions beyond the newest `keep` (ids sort by time) that are not protected, oldest first."""
    ordered = sorted(versions)
    newest = set(ordered[-keep:]) if keep > 0 else set()
    return [v for v in ordered if v not in newest and v not in protect]


def prune_versions(store: IndexStore, keep: int) -> list[str]:
    """Delete the root's versions beyond the newest `keep` and the live one; return the ids deleted.

    A version a build is still staging is newer than the live one, so it is among the newest kept;
    at 30,000 images each version is about 365 MiB, which is why they do not pile up.
    """
    live = store.read_current()
    gone = versions_to_prune(store.list_versions(), keep, {live} if live else set())
    for version in gone:
        store.delete_version(version)
    return gone


def _prune_folder(folder: str, keep: int, protect: set[str]) -> list[str]:
    """Delete version folders under `folder` beyond the newest `keep` and `protect` (renamed away first)."""
    if not os.path.isdir(folder):
        return []
    present = [v for v in os.listdir(folder) if VERSION_RE.match(v)]
    gone = versions_to_prune(present, keep, protect)
    for version in gone:
        _prune_folder_one(folder, version)
    return gone


def _prune_folder_one(folder: str, version: str) -> None:
    # Renamed to a hidden name first: a reader never sees a half-deleted version folder.
    doomed = tempfile.mkdtemp(prefix=f".del-{version}-", dir=folder)
    try:
        os.rename(os.path.join(folder, version), os.path.join(doomed, version))
    finally:
        shutil.rmtree(doomed, ignore_errors=True)


def _read_manifest_file(directory: str) -> dict:
    with open(os.path.join(directory, MANIFEST), "rb") as f:
        return parse_manifest(f.read(), directory)


class LocalIndexStore:
    """An index root in a local folder; versions are renamed into place, the pointer replaced."""

    def __init__(self, root: str) -> None:
        self.root = str(root)

    def _pointer_raw(self) -> bytes | None:
        try:
            with open(os.path.join(self.root, CURRENT), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read_current(self) -> str | None:
        """The live version id named by current.json, or None when there is no pointer yet."""
        return self.read_pointer().version

    def read_pointer(self) -> Pointer:
        """current.json's version and the SHA-256 of its bytes (the tag a conditional switch compares)."""
        raw = self._pointer_raw()
        if raw is None:
            return Pointer(None, None)
        return Pointer(parse_pointer(raw, self.root), hashlib.sha256(raw).hexdigest())

    @contextmanager
    def _pointer_lock(self) -> Iterator[None]:
        """Every switch of this root holds an exclusive flock (readers need none: os.replace is atomic)."""
        os.makedirs(self.root, exist_ok=True)
        with exclusive_lock(os.path.join(self.root, POINTER_LOCK)):
            yield

    def set_current(self, version: str, *, expect: Pointer | None = None) -> None:
        """Replace current.json through a temporary file and os.replace, under the root's lock.

        With `expect`, the bytes there are compared with the ones read first, under the same lock
        every switch of the root takes: the local form of S3's conditional PutObject.
        """
        body = pointer_body(version)
        with self._pointer_lock():
            if expect is not None:
                raw = self._pointer_raw()
                if (None if raw is None else hashlib.sha256(raw).hexdigest()) != expect.tag:
                    raise PointerMoved(self.root)
            fd, tmp = tempfile.mkstemp(prefix=".current-", dir=self.root)
            try:
                os.fchmod(fd, 0o644)
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, os.path.join(self.root, CURRENT))
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    def list_versions(self) -> list[str]:
        """Version folders under the root, oldest first."""
        if not os.path.isdir(self.root):
            return []
        return sorted(v for v in os.listdir(self.root) if VERSION_RE.match(v))

    def read_manifest(self, version: str) -> dict:
        """The version's manifest.json, format-checked."""
        return _read_manifest_file(self.local_dir(version))

    def local_dir(self, version: str, *, cache_dir: str | None = None) -> str:
        """The version folder itself (cache_dir is not needed for a local root)."""
        path = os.path.join(self.root, check_version(version))
        if not os.path.isfile(os.path.join(path, MANIFEST)):
            raise SearchError("index_unavailable", f"index version {version} not found under {self.root}")
        return path

    def read_array(self, version: str, name: str) -> np.ndarray:
        """One array of the version folder, loaded whole (never a pickle)."""
        path = os.path.join(self.local_dir(version), f"{name}.npy")
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise SearchError("index_unavailable", f"cannot load {path}: {e}") from e

    def fetch_version(self, version: str, dest: str) -> None:
        """Copy the version folder to `dest`."""
        shutil.copytree(self.local_dir(version), dest)

    @contextmanager
    def stage_version(self, version: str) -> Iterator[str]:
        """A hidden folder in the root, renamed to the version once filled (a reader never sees it half)."""
        check_version(version)
        os.makedirs(self.root, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=self.root)
        try:
            yield stage
            # mkdtemp makes it private; the daemon may run as another user and only reads it.
            os.chmod(stage, 0o755)  # noqa: S103
            os.rename(stage, os.path.join(self.root, version))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise

    def delete_version(self, version: str) -> None:
        """Remove the version folder (renamed away first, then deleted)."""
        _prune_folder_one(self.root, check_version(version))

    def prune_cache(self, cache_dir: str, keep: int, protect: set[str]) -> list[str]:
        """Nothing to do: a local root is opened in place, never copied into a cache."""
        return []


class S3IndexStore:
    """An index root under an S3 prefix; the manifest is uploaded after the arrays, the pointer last."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = join_key(prefix)
        self.root = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _key(self, *parts: str) -> str:
        return join_key(self.prefix, *parts)

    def read_current(self) -> str | None:
        """The live version id named by current.json, or None when there is no pointer yet."""
        return self.read_pointer().version

    def read_pointer(self) -> Pointer:
        """current.json's version and its ETag (what a conditional switch's If-Match names)."""
        raw, etag = get_bytes_and_etag(self.s3, self.bucket, self._key(CURRENT))
        return Pointer(None, None) if raw is None else Pointer(parse_pointer(raw, self.root), etag)

    def set_current(self, version: str, *, expect: Pointer | None = None) -> None:
        """Put current.json (one PUT: readers see the old or the new object whole).

        With `expect`: If-Match its ETag (If-None-Match: * when it named no pointer), so S3 refuses
        the PUT when another build switched the pointer since it was read (PointerMoved).
        """
        condition = {} if expect is None else {"IfNoneMatch": "*"} if expect.tag is None else {
            "IfMatch": expect.tag}
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self._key(CURRENT), Body=pointer_body(version),
                               ContentType="application/json", **condition)
        except ClientError as e:
            if condition and error_code(e) in _MOVED_CODES:
                raise PointerMoved(self.root) from e
            raise

    def list_versions(self) -> list[str]:
        """Version "folders" (common prefixes) under the root, oldest first."""
        found = set()
        paginator = self.s3.get_paginator("list_objects_v2")
        prefix = self.prefix + "/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            for p in page.get("CommonPrefixes", []):
                name = p["Prefix"].rstrip("/").rsplit("/", 1)[-1]
                if VERSION_RE.match(name):
                    found.add(name)
        return sorted(found)

    def _manifest(self, version: str) -> tuple[bytes, dict]:
        """The raw and parsed manifest of a version; index_unavailable when it has none."""
        raw = get_bytes(self.s3, self.bucket, self._key(check_version(version), MANIFEST))
        if raw is None:
            raise SearchError(
                "index_unavailable", f"{self.root}/{version} has no manifest (missing or incomplete)"
            )
        return raw, parse_manifest(raw, f"{self.root}/{version}")

    def read_manifest(self, version: str) -> dict:
        """The version's manifest.json alone, format-checked."""
        return self._manifest(version)[1]

    def read_array(self, version: str, name: str) -> np.ndarray:
        """One array of the version, downloaded alone (an S3 Vectors daemon needs only the mean)."""
        manifest = self.read_manifest(version)
        expected = manifest.get("files", {}).get(f"{name}.npy", {}).get("sha256")
        raw = get_bytes(self.s3, self.bucket, self._key(version, f"{name}.npy"))
        if raw is None or expected is None or hashlib.sha256(raw).hexdigest() != expected:
            raise SearchError("index_unavailable", f"{self.root}/{version}/{name}.npy is missing or "
                              "does not match its manifest hash")
        try:
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as e:
            where = f"{self.root}/{version}/{name}.npy"
            raise SearchError("index_unavailable", f"cannot load {where}: {e}") from e

    def fetch_version(self, version: str, dest: str) -> None:
        """Download the version's files into the new folder `dest`, each checked against its hash."""
        raw, manifest = self._manifest(version)
        os.makedirs(dest)
        for name, meta in manifest.get("files", {}).items():
            if "/" in name or name.startswith("."):
                raise SearchError("index_unavailable", f"manifest names an unsafe file {name!r}")
            path = os.path.join(dest, name)
            download_file(self.s3, self.bucket, self._key(version, name), path)
            if file_sha256(path) != meta.get("sha256"):
                raise SearchError(
                    "index_unavailable", f"{self.root}/{version}/{name} does not match its manifest hash"
                )
        with open(os.path.join(dest, MANIFEST), "wb") as f:
            f.write(raw)

    def cache_folder(self, cache_dir: str) -> str:
        """Where this root's versions are cached locally: cache_dir/index/<bucket>/<prefix>/."""
        return os.path.join(cache_dir, "index", self.bucket, *[p for p in self.prefix.split("/") if p])

    def prune_cache(self, cache_dir: str, keep: int, protect: set[str]) -> list[str]:
        """Delete cached copies beyond the newest `keep` and the `protect`ed ids; return the ids deleted."""
        return _prune_folder(self.cache_folder(cache_dir), keep, protect)

    def delete_version(self, version: str) -> None:
        """Delete every object of the version, its manifest first (then it reads as incomplete)."""
        check_version(version)
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(version, MANIFEST))
        keys = [key for key, _ in list_objects(self.s3, self.bucket, self._key(version) + "/")]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys a call
            answer = self.s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise SearchError("internal", f"cannot delete s3://{self.bucket}/{first.get('Key')}: "
                                  f"{first.get('Code')}")

    def local_dir(self, version: str, *, cache_dir: str | None = None) -> str:
        """The version's copy under cache_dir/index/<bucket>/<prefix>/, fetched on first use."""
        check_version(version)
        if not cache_dir:
            raise SearchError("bad_request", "an S3 index needs a local cache_dir to hold its arrays")
        dest = os.path.join(self.cache_folder(cache_dir), version)
        if os.path.isfile(os.path.join(dest, MANIFEST)):
            return dest
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=os.path.dirname(dest))
        try:
            self.fetch_version(version, os.path.join(stage, "v"))
            os.chmod(os.path.join(stage, "v"), 0o755)  # noqa: S103 - read-only cache shared with the daemon
            try:
                os.rename(os.path.join(stage, "v"), dest)
            except OSError:
                # Another process fetched the same version first; theirs is complete, use it.
                if not os.path.isfile(os.path.join(dest, MANIFEST)):
                    raise
        except SearchError as e:
            raise SearchError("index_unavailable", e.message) from e
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return dest

    @contextmanager
    def stage_version(self, version: str) -> Iterator[str]:
        """A local temporary folder; on exit its arrays are uploaded, then its manifest."""
        check_version(version)
        with tempfile.TemporaryDirectory(prefix="imagesearch-stage-") as stage:
            yield stage
            names = sorted(os.listdir(stage))
            for name in names:
                if name != MANIFEST:
                    self.s3.upload_file(os.path.join(stage, name), self.bucket, self._key(version, name))
            # The manifest goes last: a version folder without one is incomplete and never pointed at.
            with open(os.path.join(stage, MANIFEST), "rb") as f:
                put_bytes(self.s3, self.bucket, self._key(version, MANIFEST), f.read(), "application/json")
