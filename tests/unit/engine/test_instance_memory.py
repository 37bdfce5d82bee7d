"""The daemon and `imagesearch ingest`, with the worst admitted images, each peak within its half of
the default instance (IMAGESEARCH_MEMORY_MIB=1024, a t3.micro).

The command runs as the IngestDocument runs it: its own process, seeded weights at the default
224 px input, the gallery and site buckets over S3 (a moto server in another process, so moto's
memory is not counted), display copies made, the new version warmed and its duplicates written.
The daemon (`imagesearch serve`, with the service unit's allocator settings) serves a small query,
then one worst image, then six at once, and its peak is read from /proc/<pid>/status. The ingest
command reports its own peak resident memory (VmHWM of /proc/self/status) when main() returns:
the parent's wait4 ru_maxrss is no measure of it, since Linux carries the forking parent's peak
across exec (that artefact read 954 MiB for six small PNGs; the command's own peak was 454).
The budget derives from IMAGESEARCH_MEMORY_MIB (decode_budget.process_peak_mib). No timings.

VmHWM counts the libraries' file pages as the page cache happens to hold them: a venv that pip has
just written maps them in large folios (181 MiB of file pages after `import mxnet, numpy`, against
97 from a cold page cache; same wheels, same anonymous memory, 101 MiB). That made a fresh clone
read ~80 MiB more than a long-lived checkout. So the bound is on what the command owns: its peak
minus the file pages mapped once its libraries are imported (file pages only grow after that, so
this bounds its private memory from above), plus the libraries' pages as read cold from disk.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from devstack.daemon_proc import DaemonProcess
from devstack.s3server import DUMMY_CREDENTIALS
from imagesearch import settings
from imagesearch.agent.client import ask_daemon
from imagesearch.agent.protocol import search_request
from imagesearch.decode_budget import model_batch_cap, process_peak_mib

MEMORY_MIB = 1024  # the default instance, t3.micro
WORST = 3  # two display-copy workers and one more: every decode of the batch near the cap
MANY = 70  # over 64: one model batch of the default IMAGESEARCH_BATCH_SIZE held ~700 MiB of activations
# With MANY, over 128 images: the band calibration samples its 20,000 random pairs (it held 328 MiB).
INDEXED = 60
SIZE = 224  # the default input size, what the instance runs

BUILD = textwrap.dedent("""
    import sys
    from imagesearch.model.sample_data import generate
    from imagesearch.ops.build import build_index
    images, root, cache = sys.argv[1:4]
    generate(images, count=int(sys.argv[5]), seed=0)
    build_index(images, root, weights="seed:0", size=int(sys.argv[4]), cache_dir=cache)
""")

# The local S3: serves until its stdin closes; prints the endpoint and the batch key once ready.
STACK = textwrap.dedent("""
    import io, json, sys
    from devstack.s3server import MotoServer, client, create_buckets
    from PIL import Image
    side, count = int(sys.argv[1]), int(sys.argv[2])
    with MotoServer() as server:
        s3 = client("s3", server.endpoint_url)
        create_buckets(s3, "gallery", "site")
        changes = []
        for n in range(count):
            out = io.BytesIO()
            # RGBA is the mode Pillow keeps widest; flat, so a few hundred KB as PNG
            Image.new("RGBA", (side, side), (n % 256, 90, n // 256, 128)).save(out, "PNG", compress_level=1)
            key = f"gallery/worst/{n}.png"
            s3.put_object(Bucket="gallery", Key=key, Body=out.getvalue())
            changes.append({"key": key, "op": "put"})
        small = io.BytesIO()
        Image.new("RGB", (640, 480), (10, 200, 30)).save(small, "JPEG")
        s3.put_object(Bucket="gallery", Key="gallery/worst/small.jpg", Body=small.getvalue())
        batch = "ingest/0123456789abcdef0123456789abcdef.json"
        s3.put_object(Bucket="gallery", Key=batch, Body=json.dumps({"changes": changes}).encode())
        print(json.dumps({"endpoint": server.endpoint_url, "batch": batch}), flush=True)
        sys.stdin.read()
""")

# The libraries' file pages once imported, read from a cold page cache (the wrapper below's imports:
# 110 MiB here; drop the venv's .so files from the cache with posix_fadvise(DONTNEED), then read
# RssFile after the imports), rounded up.
LIBRARY_PAGES_MIB = 112

# The allocator settings the daemon runs with: the service unit's own (its Environment= lines).
SERVICE_UNIT = Path(__file__).resolve().parents[3] / "agent_scripts" / "systemd" / "imagesearch.service"
SERVICE_MALLOC = dict(line.removeprefix("Environment=").split("=", 1)
                      for line in SERVICE_UNIT.read_text().splitlines()
                      if line.startswith("Environment=MALLOC_"))
DAEMON_WORST = 6  # more near-cap queries at once than the decode budget admits together

# The command itself (imagesearch.cli.main, the console script's entry) after the libraries it maps,
# then its own peak and its file pages at both points.
INGEST = textwrap.dedent("""
    import json, sys
    import mxnet, numpy, boto3, PIL.Image, pillow_heif
    import imagesearch.model.features, imagesearch.ops.ingest, imagesearch.ops.duplicates
    from imagesearch.cli import main

    def status(name):
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return int(fields[name].split()[0])

    file_kib = status("RssFile")
    code = main(sys.argv[1:])
    print(json.dumps({"code": code, "peak_kib": status("VmHWM"), "file_after_imports_kib": file_kib,
                      "file_at_end_kib": status("RssFile")}), file=sys.stderr)
""")


def _vmhwm_readable() -> bool:
    try:
        return "VmHWM" in Path("/proc/self/status").read_text()
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not _vmhwm_readable(),
                                reason="needs Linux /proc (VmHWM)")


def _assert_within_share(what: str, vmhwm_kib: int, file_kib: int, when: str) -> None:
    """The process's peak (VmHWM less its file pages `when`, plus the libraries' cold pages) within
    its half of the default instance; the figures are printed either way."""
    private_mib = (vmhwm_kib - file_kib) / 1024
    peak_mib = private_mib + LIBRARY_PAGES_MIB
    budget = process_peak_mib(MEMORY_MIB)
    print(f"{what}: peak {peak_mib:.0f} MiB of {budget} (private at most {private_mib:.0f}; "
          f"VmHWM {vmhwm_kib / 1024:.0f} with {file_kib / 1024:.0f} MiB of file pages {when})")
    assert peak_mib <= budget, f"{what} peaked at {peak_mib:.0f} MiB, over its {budget} MiB"


def test_the_ingest_share_derives_from_the_memory_setting():
    assert process_peak_mib(MEMORY_MIB) == 512
    assert process_peak_mib(settings.load({"IMAGESEARCH_MEMORY_MIB": "2048"}).memory_mib) == 1024
    # and so does the model batch the instance's ingest runs (IMAGESEARCH_BATCH_SIZE capped by it)
    caps = [model_batch_cap(settings.decode_budget(settings.load({"IMAGESEARCH_MEMORY_MIB": str(m)})), SIZE)
            for m in (512, 1024, 4096)]
    assert caps == [1, 2, 20]


@pytest.fixture(scope="module")
def built_index(tmp_path_factory) -> Path:
    """A 224 px index of INDEXED sample images, built once (each case applies its batch to a copy)."""
    work = tmp_path_factory.mktemp("ingest-memory-index")
    subprocess.run([sys.executable, "-c", BUILD, str(work / "images"), str(work / "index"),
                    str(work / "build-cache"), str(SIZE), str(INDEXED)], check=True, timeout=900)
    return work / "index"


@pytest.mark.parametrize("kind", ["worst", "many"])
def test_ingest_peaks_within_its_share(tmp_path, built_index, kind):
    # GIVEN a 224 px index and a batch of near-cap RGBA PNGs (the cap of a 1 GiB instance), or of
    # more small ones than one model batch of the default IMAGESEARCH_BATCH_SIZE (64) held
    env_memory = {"IMAGESEARCH_MEMORY_MIB": str(MEMORY_MIB)}
    side, count = (math.isqrt(settings.load(env_memory).max_pixels), WORST) if kind == "worst" else (64, MANY)
    index_root, cache = tmp_path / "index", tmp_path / "cache"
    shutil.copytree(built_index, index_root)
    stack = subprocess.Popen([sys.executable, "-c", STACK, str(side), str(count)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(stack.stdout.readline())
        env = {**os.environ, **env_memory, "AWS_ENDPOINT_URL": ready["endpoint"],
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # moto's placeholders
               "AWS_DEFAULT_REGION": "us-east-1", "SITE_BUCKET": "site",
               "IMAGESEARCH_ENV_FILE": str(cache / "absent.env"),
               "IMAGESEARCH_SOCKET": str(cache / "no.sock"),
               "IMAGESEARCH_BUILD_MAX_BYTES": str(64 << 20)}
        for name in SERVICE_MALLOC:
            env.pop(name, None)  # SSM runs the command without the service unit's settings
        # WHEN the command applies the batch
        proc = subprocess.run([sys.executable, "-c", INGEST, "ingest", "--key", ready["batch"],
                               "--bucket", "gallery", "--index", str(index_root), "--cache-dir", str(cache)],
                              env=env, capture_output=True, text=True, timeout=900)
    finally:
        stack.communicate(timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    # THEN every image went in, with its display copies, the warm-up and the duplicates
    assert report["added"] == count and report["skipped"] == 0, report
    assert report["site"]["copied"] == count and not report["site"]["failed"], report["site"]
    assert report["cache"]["warmed"] and report["duplicates"]["ok"], report
    # AND its peak, with the libraries' pages counted as read cold, stays within its half of the instance
    memory = json.loads(proc.stderr.strip().splitlines()[-1])
    _assert_within_share(f"ingest of {count} PNGs ({side} x {side})", memory["peak_kib"],
                         memory["file_after_imports_kib"], "after the imports")


def _status_kib(pid: int) -> dict[str, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {name: int(fields[name].split()[0]) for name in ("VmHWM", "RssFile")}


def test_the_daemon_peaks_within_its_share(tmp_path, built_index):
    # GIVEN the daemon on a 224 px index, the default instance's memory, and the worst admitted
    # images (near-cap RGBA PNGs) in the gallery beside a small photo
    env_memory = {"IMAGESEARCH_MEMORY_MIB": str(MEMORY_MIB)}
    side = math.isqrt(settings.load(env_memory).max_pixels)
    index_root, cache = tmp_path / "index", tmp_path / "cache"
    shutil.copytree(built_index, index_root)
    cache.mkdir()
    stack = subprocess.Popen([sys.executable, "-c", STACK, str(side), str(DAEMON_WORST)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(stack.stdout.readline())
        socket_path = cache / "daemon.sock"
        env = {**os.environ, **DUMMY_CREDENTIALS, **env_memory, **SERVICE_MALLOC,
               "AWS_ENDPOINT_URL": ready["endpoint"], "IMAGESEARCH_INDEX": str(index_root),
               "IMAGESEARCH_CACHE_DIR": str(cache), "IMAGESEARCH_COLD_CACHE_DIR": str(cache / "cold"),
               "IMAGESEARCH_SOCKET": str(socket_path), "IMAGESEARCH_ENV_FILE": str(cache / "absent.env"),
               "IMAGESEARCH_ALLOWED_BUCKETS": "gallery", "IMAGESEARCH_RELOAD_SECONDS": "3600"}
        daemon = DaemonProcess(env, str(socket_path), tmp_path / "daemon.log")
        daemon.start()
        try:
            assert daemon.wait_healthy(300).get("status") == "serving", daemon.log_tail()

            def ask(key: str) -> None:
                answer = ask_daemon(str(socket_path), search_request("gallery", key, 5), timeout=300.0)
                assert answer.get("ok"), (key, answer)

            # WHEN it answers a small query (the model loaded and run), then one worst image, then six
            ask("gallery/worst/small.jpg")
            warm = _status_kib(daemon.proc.pid)
            ask("gallery/worst/0.png")
            with ThreadPoolExecutor(max_workers=DAEMON_WORST) as pool:
                list(pool.map(ask, [f"gallery/worst/{n}.png" for n in range(DAEMON_WORST)]))
            after = _status_kib(daemon.proc.pid)
        finally:
            daemon.stop()
    finally:
        stack.communicate(timeout=60)
    # THEN its peak, with the libraries' pages counted as read cold, stays within its half
    _assert_within_share(f"daemon, {DAEMON_WORST} PNGs ({side} x {side})", after["VmHWM"],
                         warm["RssFile"], "once warm")
