"""The daemon and thin client with the real engine: a tiny index (40 textures, 32 px input, seed weights)."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import numpy as np
import pytest
from imagesearch.agent.client import run
from imagesearch.agent.daemon import Daemon, DaemonConfig
from imagesearch.agent.server import DaemonServer
from imagesearch.index import artifacts
from imagesearch.index.storage import open_store, publish_version
from imagesearch.model import sample_data
from imagesearch.ops import build

SITE = "site-bucket"
GALLERY = "gallery-bucket"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict:
    """One index built once for the session: 40 images in 10 albums, plus 6 images it does not hold."""
    root = tmp_path_factory.mktemp("agent-engine")
    images = root / "images"
    sample_data.generate(str(images), count=40, seed=0, size=28)
    report = build.build_index(str(images), str(root / "index"), weights="seed:0", size=32,
                               cache_dir=str(root / "cache"))
    new = {}
    for i, album in enumerate(("marble", "wood", "brick", "stripes", "checker", "dots")):
        buf = io.BytesIO()
        sample_data.render(album, 500 + i, seed=0, size=28).save(buf, format="PNG")
        new[f"albums/{album}/new_{i}.png"] = buf.getvalue()
    files = {f"albums/{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(images.rglob("*.png"))}
    return {"root": root, "version": report["version"], "count": report["count"], "files": files, "new": new}


@pytest.fixture
def index_root(built, tmp_path) -> str:
    """A private copy of the built index root, so a test may publish versions into it."""
    dest = tmp_path / "index"
    shutil.copytree(built["root"] / "index", dest)
    return str(dest)


@pytest.fixture
def site(aws, built):
    """The site bucket in moto holding every indexed image and the new ones."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=SITE)
    for key, data in {**built["files"], **built["new"]}.items():
        s3.put_object(Bucket=SITE, Key=key, Body=data)
    return s3


@pytest.fixture
def daemon_on(site, sock_dir, tmp_path):
    """Start a real-engine daemon on an index root; stopped at teardown."""
    servers = []

    def start(root: str, **config) -> tuple[Daemon, str, DaemonServer]:
        cfg = DaemonConfig(index_root=root, cache_dir=str(tmp_path / "cache"),
                           allowed_buckets=frozenset({SITE}), **config)
        daemon = Daemon(cfg, s3=site)
        daemon.reload("startup")
        path = f"{sock_dir}/e.sock"
        servers.append(DaemonServer(daemon, path).start())
        return daemon, path, servers[-1]

    yield start
    for server in servers:
        server.close()


def query(helpers, path: str, key: str, k: int = 3) -> dict:
    return helpers.ask(path, {"op": "search", "bucket": SITE, "key": key, "k": k}, timeout=60)


def expected(built, index_root: str, key: str, k: int) -> list[str]:
    """The in-process engine's own answer for the same image (the reference)."""
    from imagesearch.agent.querying import search_image_bytes
    from imagesearch.index.opened import OpenIndex

    data = {**built["files"], **built["new"]}[key]
    index = OpenIndex.open(index_root, cache_dir=None)
    return [r["key"] for r in search_image_bytes(index, data, k)["results"]]


def test_fifty_concurrent_real_queries_match_the_engine(built, index_root, daemon_on, helpers):
    # GIVEN a warm daemon on the real index
    daemon, path, server = daemon_on(index_root)
    keys = sorted(built["files"]) + sorted(built["new"]) + sorted(built["files"])[:4]
    requests = [(key, 1 + i % 10) for i, key in enumerate(keys)]
    assert len(requests) == 50
    # WHEN 50 queries (44 for indexed images, 6 for new ones that need the model) arrive at once
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda r: query(helpers, path, r[0], r[1]), requests))
    # THEN each answer equals what the engine computes for that image alone
    from imagesearch.agent.querying import search_image_bytes
    from imagesearch.index.opened import OpenIndex

    reference = OpenIndex.open(index_root, cache_dir=None, featurizer=daemon.loaded.index.featurizer)
    all_bytes = {**built["files"], **built["new"]}
    for (key, k), answer in zip(requests, answers, strict=True):
        assert answer["ok"], answer
        want = search_image_bytes(reference, all_bytes[key], k)["results"]
        assert [r["key"] for r in answer["results"]] == [r["key"] for r in want], key
        assert answer["indexed"] is (key in built["files"])
        gallery_key = "gallery/" + key.split("/", 1)[1]
        assert gallery_key not in [r["key"] for r in answer["results"]]  # never its own match
    health = helpers.ask(path, {"op": "health"})
    assert health["queries_served"] == 50 and health["index"]["version"] == built["version"]
    assert health["index"]["pretrained"] is False and health["index"]["weights"] == "seed:0"


def test_version_published_during_a_stream_is_picked_up_without_loss(built, index_root, daemon_on, helpers):
    # GIVEN a daemon polling often and three threads querying without pause
    daemon, path, server = daemon_on(index_root, reload_seconds=0.1)
    stop = threading.Event()
    daemon.start_poller(stop)
    answers, lock = [], threading.Lock()
    keys = [sorted(built["files"])[3], sorted(built["files"])[17], sorted(built["new"])[0]]

    def stream(key: str) -> None:
        while not stop.is_set():
            a = query(helpers, path, key)
            with lock:
                answers.append(a)

    threads = [threading.Thread(target=stream, args=(key,)) for key in keys]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        # WHEN a new version (two images removed) is published with the engine's own tool
        report = build.remove_images(index_root, keys=["gallery/zigzag/zigzag_00000.png",
                                                       "gallery/zigzag/zigzag_00001.png"])
        new_version = report["version"]
        deadline = time.monotonic() + 30
        while helpers.ask(path, {"op": "health"})["index"]["version"] != new_version:
            assert time.monotonic() < deadline, "the daemon never switched to the new version"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    # THEN no query failed and each saw one whole version
    assert all(a["ok"] for a in answers), [a for a in answers if not a["ok"]][:1]
    seen = {(a["index"]["version"], a["index"]["count"]) for a in answers}
    assert seen == {(built["version"], 40), (new_version, 38)}
    assert daemon.health()["reloads"] == 2  # startup and the new version


def _publish_corrupt_copy(index_root: str, version: str) -> str:
    """A new version id whose vectors file is cut short, and current.json pointing at it."""
    bad = artifacts.new_version_id()
    shutil.copytree(os.path.join(index_root, version), os.path.join(index_root, bad))
    manifest_path = os.path.join(index_root, bad, "manifest.json")
    manifest = json.loads(Path(manifest_path).read_text())
    manifest["version"] = bad
    Path(manifest_path).write_text(json.dumps(manifest))
    vectors = os.path.join(index_root, bad, "vectors.npy")
    with open(vectors, "r+b") as f:
        f.truncate(os.path.getsize(vectors) // 2)
    open_store(index_root).set_current(bad)
    return bad


def test_corrupt_version_is_refused_and_the_old_one_keeps_serving(built, index_root, daemon_on, helpers):
    daemon, path, server = daemon_on(index_root)
    bad = _publish_corrupt_copy(index_root, built["version"])
    answer = helpers.ask(path, {"op": "reload"})
    assert answer["ok"] is False and answer["error"]["code"] == "index_unavailable"
    health = helpers.ask(path, {"op": "health"})
    assert health["index"]["version"] == built["version"]
    assert health["refused"]["version"] == bad and "vectors.npy" in health["refused"]["error"]
    good = query(helpers, path, sorted(built["files"])[5])
    assert good["ok"] and good["index"]["version"] == built["version"]


def test_daemon_on_an_s3_index_root(built, site, daemon_on, helpers, tmp_path):
    # The instance's layout: IMAGESEARCH_INDEX=s3://<gallery>/index, fetched once into the cache.
    site.create_bucket(Bucket=GALLERY)
    root = f"s3://{GALLERY}/index"
    manifest, arrays = artifacts.load_version(str(built["root"] / "index" / built["version"]))
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    manifest = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
    version = publish_version(open_store(root, s3=site), arrays, manifest)
    daemon, path, server = daemon_on(root)
    answer = query(helpers, path, sorted(built["new"])[1], k=5)
    assert answer["ok"] and answer["index"]["version"] == version and len(answer["results"]) == 5
    assert os.path.isdir(tmp_path / "cache" / "index" / GALLERY / "index" / version)


def test_query_images_are_sniffed_not_trusted_by_extension(built, index_root, daemon_on, helpers, site):
    daemon, path, server = daemon_on(index_root)
    site.put_object(Bucket=SITE, Key="albums/marble/fake.png", Body=b"%PDF-1.4 not an image at all")
    jpeg = io.BytesIO()
    sample_data.render("wood", 900, size=28).save(jpeg, format="JPEG")
    site.put_object(Bucket=SITE, Key="albums/wood/really_a_jpeg.png", Body=jpeg.getvalue())
    assert query(helpers, path, "albums/marble/fake.png")["error"]["code"] == "bad_image"
    assert query(helpers, path, "albums/wood/really_a_jpeg.png")["ok"]


def test_killed_daemon_client_answers_through_the_cold_path(built, index_root, daemon_on, monkeypatch,
                                                            tmp_path):
    # GIVEN a daemon that answered a query warm
    daemon, path, server = daemon_on(index_root)
    for name, value in {"IMAGESEARCH_INDEX": index_root, "IMAGESEARCH_SOCKET": path,
                        "IMAGESEARCH_ENV_FILE": "/nonexistent", "IMAGESEARCH_ALLOWED_BUCKETS": SITE,
                        "IMAGESEARCH_COLD_CACHE_DIR": str(tmp_path / "cold")}.items():
        monkeypatch.setenv(name, value)
    indexed, new = sorted(built["files"])[9], sorted(built["new"])[2]
    env = {"SSM_bucket": SITE, "SSM_key": indexed, "SSM_k": "4"}
    warm, code = run([], env)
    assert code == 0 and warm["path"] == "warm"
    # WHEN the daemon dies
    server.close()
    assert not os.path.exists(path)
    # THEN the same query is answered cold, with the same results, and a new image too
    cold, code = run([], env)
    assert code == 0 and cold["path"] == "cold" and "not reachable" in cold["fallback_reason"]
    assert cold["results"] == warm["results"] and cold["index"] == warm["index"]
    cold_new, code = run([], {**env, "SSM_key": new})
    assert code == 0 and cold_new["path"] == "cold"
    assert [r["key"] for r in cold_new["results"]] == expected(built, index_root, new, 4)
