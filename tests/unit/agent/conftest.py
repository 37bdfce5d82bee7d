"""Fixtures for the agent tests: an S3 bucket in moto, a small fake Searcher, a running daemon."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import boto3
import pytest
from imagesearch.agent.daemon import Daemon, DaemonConfig
from imagesearch.agent.server import DaemonServer
from imagesearch.errors import SearchError
from moto import mock_aws

SITE = "site-bucket"


class FakeSearcher:
    """A stand-in for imagesearch.index.opened.OpenIndex over "images" whose bytes are `img:<n>`.

    The vector of an image is its number n; matches are the rows nearest in n. featurize() is slow
    on purpose and records how many calls overlap, so tests can prove the daemon serializes it.
    """

    featurize_seconds = 0.05
    search_seconds = 0.0

    def __init__(self, version: str, numbers: range, featurizer: object | None = None) -> None:
        self.version = version
        self.numbers = list(numbers)
        self.count = len(self.numbers)
        self.keys = [f"gallery/a/{n}.png" for n in self.numbers]
        self._rows = {hashlib.sha256(image_bytes(n)).hexdigest(): i for i, n in enumerate(self.numbers)}
        self.hashes = list(self._rows)
        self.featurizer = featurizer if featurizer is not None else object()
        self.default_mode = "lsh"
        self.manifest = {"version": version, "weights": {"source": "seed:0", "pretrained": False}}
        self.active = 0
        self.max_active = 0
        self.featurized = 0
        self.featurize_threads: set[str] = set()
        self.searching = 0
        self.max_searching = 0
        self.gate: threading.Event | None = None
        self.decode_gate: threading.Event | None = None
        self.decoding = 0
        self._guard = threading.Lock()

    def resolve_mode(self, mode: str | None) -> str:
        return mode or self.default_mode

    def lookup(self, content_hash: str, gallery_key: str | None = None) -> int | None:
        return self._rows.get(content_hash)

    def vector(self, row: int) -> float:
        return float(self.numbers[row])

    # Query images numbered LARGE and up are "large" decodes: the daemon sends them to its lane.
    LARGE = 1000

    def decode_cost(self, data: bytes) -> int:
        large = data.startswith(b"img:") and int(data[4:].decode()) >= self.LARGE
        return 1 << 30 if large else 1 << 20

    def decode_query(self, data: bytes) -> bytes:
        with self._guard:
            self.decoding += 1
        try:
            if self.decode_gate is not None and self.decode_cost(data) > 1 << 20:
                self.decode_gate.wait(60)  # a test holds a large decode here (it holds the lane)
            return data
        finally:
            with self._guard:
                self.decoding -= 1

    def featurize(self, data: bytes) -> float:
        return self.featurize_decoded(self.decode_query(data))

    def featurize_decoded(self, data: bytes) -> float:
        with self._guard:
            self.featurize_threads.add(threading.current_thread().name)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.gate is not None:
                self.gate.wait(60)  # a test holds featurization here to prove others do not wait
            time.sleep(self.featurize_seconds)
            if not data.startswith(b"img:"):
                raise SearchError("bad_image", "not an image")
            return float(data[4:].decode())
        finally:
            with self._guard:
                self.active -= 1
                self.featurized += 1

    def search_vector(self, vector: float, k: int, *, mode: str | None = None, probes: int | None = None,
                      exclude_hash: str | None = None) -> list[dict]:
        with self._guard:
            self.searching += 1
            self.max_searching = max(self.max_searching, self.searching)
        time.sleep(self.search_seconds)
        with self._guard:
            self.searching -= 1
        skip = self._rows.get(exclude_hash) if exclude_hash else None
        order = sorted((abs(n - vector), i) for i, n in enumerate(self.numbers) if i != skip)
        return [{"key": self.keys[i], "score": 1.0 / (1.0 + d)} for d, i in order[:k]]


def image_bytes(n: int) -> bytes:
    """The fake image content for number n."""
    return f"img:{n}".encode()


def expected_keys(n: int, k: int, numbers: range, *, indexed: bool) -> list[str]:
    """The keys FakeSearcher must answer for image n."""
    order = sorted((abs(m - n), m) for m in numbers if not (indexed and m == n))
    return [f"gallery/a/{m}.png" for _, m in order[:k]]


class FakeIndex:
    """Versions the fake daemon can open; `current` plays the role of current.json."""

    def __init__(self) -> None:
        self.current: str | None = "v1"
        self.versions: dict[str, range] = {"v1": range(0, 40)}
        self.broken: set[str] = set()
        self.opened: list[FakeSearcher] = []
        self.open_seconds = 0.0

    def read_pointer(self, index_root: str, s3: object) -> str | None:
        return self.current

    def open(self, index_root: str, *, s3=None, cache_dir=None, version=None,
             featurizer=None) -> FakeSearcher:
        time.sleep(self.open_seconds)
        if version in self.broken or version not in self.versions:
            raise SearchError("index_unavailable", f"version {version} is corrupt")
        searcher = FakeSearcher(version, self.versions[version], featurizer)
        self.opened.append(searcher)
        return searcher


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-process S3 with dummy credentials."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None):
    """An S3 client with the site bucket holding albums/a/<n>.png = img:<n> for n in 0..59."""
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=SITE)
    for n in range(60):
        client.put_object(Bucket=SITE, Key=f"albums/a/{n}.png", Body=image_bytes(n))
    return client


@pytest.fixture
def sock_dir() -> Iterator[str]:
    """A short directory for Unix sockets (AF_UNIX paths are limited to 108 bytes)."""
    path = tempfile.mkdtemp(dir="/tmp", prefix="isa-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fake_index() -> FakeIndex:
    return FakeIndex()


@pytest.fixture
def start_daemon(s3, sock_dir: str) -> Iterator[Callable[..., tuple[Daemon, DaemonServer, str]]]:
    """Start a daemon (fake or real index) on a socket in a thread; stopped at teardown."""
    servers: list[DaemonServer] = []

    def start(open_index, read_pointer, *, name: str = "d.sock",
              **config) -> tuple[Daemon, DaemonServer, str]:
        config.setdefault("index_root", "fake-root")
        daemon = Daemon(DaemonConfig(**config), s3=s3, open_index=open_index, read_pointer=read_pointer)
        daemon.reload("startup")
        path = f"{sock_dir}/{name}"
        server = DaemonServer(daemon, path).start()
        servers.append(server)
        return daemon, server, path

    yield start
    for server in servers:
        server.close()


def ask(path: str, request: dict | bytes, timeout: float = 10.0) -> dict:
    """Send one raw request line and read one answer line."""
    line = request if isinstance(request, bytes) else json.dumps(request).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(line)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered an oversized line and hung up before reading it all
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


@pytest.fixture
def helpers():
    """Module-level helpers for test files (importlib mode cannot import conftest by name)."""

    class H:
        pass

    H.ask = staticmethod(ask)
    H.image_bytes = staticmethod(image_bytes)
    H.expected_keys = staticmethod(expected_keys)
    H.FakeSearcher = FakeSearcher
    H.SITE = SITE
    return H
