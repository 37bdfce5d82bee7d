"""A re-index run: gallery keys -> featurize queue -> shards -> one new index version.

The operator's machine runs it (where publish runs): it lists the gallery, sends one SQS message
per batch (docs/contracts.md, "Re-index shards"), waits for every shard with a progress bar
(images/s and ETA), then assembles the shards into one version in the same index store publish
writes, through the same `manifest.assemble` and `storage.publish_version` as any build. The
run's plan is kept at `reindex/<run>/run.json`, so a run resumed with the same id queues only
the batches whose shard is missing. `finish_run` closes it: the catch-up listing, then the pointer
switch only if no ingest switched it since that listing (else the catch-up again).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagesearch.errors import SearchError
from imagesearch.keys import GALLERY_KEY_RE
from imagesearch.s3io import list_objects

DEFAULT_BATCH = 64  # about a minute of one vCPU at 224 px (docs/benchmarks.md, section 13)
# Catch-up listings and conditional switches before a run gives up (its shards stay; resume it).
SWITCH_ATTEMPTS = 5
SQS_SEND_MAX = 10  # SendMessageBatch's limit
RUNS_PREFIX = "reindex/"  # every run's folder is under it (docs/contracts.md, "Re-index shards")


def run_prefix(run: str) -> str:
    """Everything a run writes lives under this prefix of the gallery bucket."""
    return f"{RUNS_PREFIX}{run}/"


def record_key(run: str, batch: int) -> str:
    """The shard record of one batch (functions/featurize/request.shard_record_key)."""
    return f"{run_prefix(run)}shards/{batch:06d}.json"


@dataclass(frozen=True)
class RunPlan:
    """What a run featurizes with which model, batch by batch (stored as reindex/<run>/run.json)."""

    run: str
    weights: dict  # the manifest's weights object (source, sha256, pretrained, ...)
    onnx_sha256: str
    input_size: int
    batches: list[list[str]]

    @property
    def images(self) -> int:
        """Images in the run."""
        return sum(len(b) for b in self.batches)

    def message(self, batch: int) -> str:
        """The SQS message body of one batch."""
        return json.dumps({"run": self.run, "batch": batch, "keys": self.batches[batch],
                           "weights_sha256": self.weights["sha256"], "onnx_sha256": self.onnx_sha256,
                           "input_size": self.input_size})

    def to_json(self) -> bytes:
        """run.json's bytes."""
        return json.dumps({"run": self.run, "weights": self.weights, "onnx_sha256": self.onnx_sha256,
                           "input_size": self.input_size, "batches": self.batches}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RunPlan:
        """A plan read back from run.json."""
        d = json.loads(data)
        return cls(d["run"], d["weights"], d["onnx_sha256"], int(d["input_size"]), d["batches"])


def gallery_keys(s3: Any, bucket: str) -> list[str]:
    """Every indexable gallery key, sorted (the same key rule as ingest and publish)."""
    return sorted(key for key, _ in list_objects(s3, bucket, "gallery/") if GALLERY_KEY_RE.fullmatch(key))


def plan_run(run: str, keys: Iterable[str], *, weights: dict, onnx_sha256: str, input_size: int,
             batch_size: int = DEFAULT_BATCH) -> RunPlan:
    """Split the keys into batches of `batch_size` (at least one batch, so an empty gallery ends)."""
    if batch_size < 1:
        raise SearchError("bad_request", f"batch size must be at least 1, not {batch_size}")
    keys = list(keys)
    batches = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)] or [[]]
    return RunPlan(run, weights, onnx_sha256, input_size, batches)


def load_plan(s3: Any, bucket: str, run: str) -> RunPlan | None:
    """The stored plan of `run` (a resumed run keeps its batches), or None for a new run."""
    try:
        data = s3.get_object(Bucket=bucket, Key=f"{run_prefix(run)}run.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return RunPlan.from_json(data)


def catch_up(s3: Any, sqs: Any, bucket: str, queue_url: str, plan: RunPlan, *,
             batch_size: int = DEFAULT_BATCH, live: dict[str, str] | None = None) -> tuple[RunPlan, set[str]]:
    """Images put or deleted during the run: new keys as more batches of the run, gone keys to drop.

    Ingest keeps applying gallery events to the live version while a run featurizes; the run's
    version replaces that one, so before assembling, the gallery is listed again: keys added since
    the plan are featurized as further batches (queued and stored in run.json), keys deleted since
    are left out. `live` ({key: content hash} of the live version, which ingest keeps current):
    a key whose content there differs from its shard's (replaced after its batch read it) is
    featurized again too; the last batch naming a key wins (read_shards). An event after this
    listing reaches the new version through ingest as usual (finish_run: no switch is lost).
    """
    now = set(gallery_keys(s3, bucket))
    planned = {k for batch in plan.batches for k in batch}
    added = sorted(now - planned)
    if live:
        featurized = shard_hashes(s3, bucket, plan)
        added += sorted(k for k, h in live.items() if k in now and k in planned and featurized.get(k) != h)
    if added:
        more = [added[i : i + batch_size] for i in range(0, len(added), batch_size)]
        plan = RunPlan(plan.run, plan.weights, plan.onnx_sha256, plan.input_size, plan.batches + more)
        s3.put_object(Bucket=bucket, Key=f"{run_prefix(plan.run)}run.json", Body=plan.to_json(),
                      ContentType="application/json")
        start_run(s3, sqs, bucket, queue_url, plan)
    return plan, planned - now


def shard_hashes(s3: Any, bucket: str, plan: RunPlan) -> dict[str, str | None]:
    """{key: content hash} of the run's shards (None: it could not be read); the last batch naming it wins."""
    hashes: dict[str, str | None] = {}
    for batch in range(len(plan.batches)):
        record = json.loads(s3.get_object(Bucket=bucket, Key=record_key(plan.run, batch))["Body"].read())
        hashes.update(zip(record["keys"], record["hashes"], strict=True))
        hashes.update((f["key"], None) for f in record["failed"])
    return hashes


def written_batches(s3: Any, bucket: str, run: str) -> set[int]:
    """The batches of `run` whose shard record exists."""
    done = set()
    for key, _ in list_objects(s3, bucket, f"{run_prefix(run)}shards/"):
        name = key.rsplit("/", 1)[1]
        if name.endswith(".json") and name[:-5].isdigit():
            done.add(int(name[:-5]))
    return done


def start_run(s3: Any, sqs: Any, bucket: str, queue_url: str, plan: RunPlan) -> list[int]:
    """Store the plan (or check it matches the stored one) and queue every batch without a shard."""
    plan_key = f"{run_prefix(plan.run)}run.json"
    stored = load_plan(s3, bucket, plan.run)
    if stored is None:
        s3.put_object(Bucket=bucket, Key=plan_key, Body=plan.to_json(), ContentType="application/json")
    elif stored != plan:
        raise SearchError("bad_request", f"run {plan.run} exists with another plan (images or weights "
                          "changed since it started): start a new run")
    done = written_batches(s3, bucket, plan.run)
    todo = [b for b in range(len(plan.batches)) if b not in done]
    for start in range(0, len(todo), SQS_SEND_MAX):
        entries = [{"Id": str(b), "MessageBody": plan.message(b)} for b in todo[start : start + SQS_SEND_MAX]]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if answer.get("Failed"):
            raise SearchError("internal", f"the queue refused batches: {answer['Failed'][:3]}")
    return todo


def wait_for_shards(s3: Any, bucket: str, plan: RunPlan, *, poll_s: float = 5.0, timeout_s: float = 86400,
                    progress: bool = True, sleep: Callable[[float], None] = time.sleep,
                    between: Callable[[], None] | None = None) -> None:
    """Until every batch has its shard: a progress bar in images, with images/s and an ETA."""
    from tqdm import tqdm

    sizes = [len(b) for b in plan.batches]
    seen = written_batches(s3, bucket, plan.run)
    bar = tqdm(total=plan.images, initial=sum(sizes[b] for b in seen), unit="img", disable=not progress,
               desc=f"reindex {plan.run}", smoothing=0.1)
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < len(plan.batches):
            if between is not None:
                between()  # the local stack plays the event source here
            else:
                sleep(poll_s)
            now = written_batches(s3, bucket, plan.run)
            bar.update(sum(sizes[b] for b in now - seen))
            seen = now
            if time.monotonic() > deadline:
                raise SearchError("internal", f"run {plan.run}: {len(plan.batches) - len(seen)} batches "
                                  f"have no shard after {timeout_s:.0f} s (see the dead-letter queue)")
    finally:
        bar.close()


def read_shards(s3: Any, bucket: str, plan: RunPlan,
                drop: set[str] = frozenset()) -> tuple[list[str], list[str], np.ndarray, list[dict]]:
    """Keys, content hashes, float16 features and unreadable images of every shard (`drop` left out).

    A key featurized again by a later batch of the run (the catch-up: its content changed) is taken
    from the last batch naming it, as a vector or as a failure.
    """
    last: dict[str, int] = {}
    for batch, batch_keys in enumerate(plan.batches):
        last.update((key, batch) for key in batch_keys)
    keys: list[str] = []
    hashes: list[str] = []
    parts: list[np.ndarray] = []
    failed: list[dict] = []
    for batch in range(len(plan.batches)):
        record = json.loads(s3.get_object(Bucket=bucket, Key=record_key(plan.run, batch))["Body"].read())
        if (record["weights_sha256"], record["input_size"]) != (plan.weights["sha256"], plan.input_size):
            raise SearchError("internal", f"shard {batch} of run {plan.run} was made with other weights")
        data = s3.get_object(Bucket=bucket, Key=record["vectors"]["key"])["Body"].read()
        vectors = np.load(io.BytesIO(data), allow_pickle=False)
        if vectors.shape != (record["count"], 2048) or len(record["keys"]) != record["count"]:
            raise SearchError("internal", f"shard {batch} of run {plan.run} is inconsistent")
        mine = {key for key in record["keys"] + [f["key"] for f in record["failed"]]
                if key not in drop and last.get(key, batch) == batch}
        keep = [i for i, key in enumerate(record["keys"]) if key in mine]
        keys += [record["keys"][i] for i in keep]
        hashes += [record["hashes"][i] for i in keep]
        parts.append(vectors[keep])
        failed += [f for f in record["failed"] if f["key"] in mine]
    return keys, hashes, np.concatenate(parts).astype(np.float16), failed


def assemble_run(s3: Any, bucket: str, plan: RunPlan, index_root: Any, *, config: Any = None,
                 drop: set[str] = frozenset(), labelled: Any = None, expect: Any = None) -> dict:
    """One new live version from the run's shards (as any build: assemble, store, pointer, prune).

    `labelled`: the labelled near-duplicate set featurized with the run's weights
    (imagesearch.index.calibration.featurize_labelled_set, where scikit-image is installed, as
    publish's build measures it); None: the score bands by the fallback rule. `expect`: the
    storage.Pointer read before the catch-up listing; the switch then happens only if it is still
    the live one (else storage.PointerMoved, the version deleted again).
    """
    from imagesearch import settings
    from imagesearch.index.build_params import BuildConfig
    from imagesearch.index.manifest import assemble, build_report
    from imagesearch.index.storage import open_store, publish_version

    started = time.perf_counter()
    config = config if config is not None else BuildConfig.from_settings(settings.load())
    keys, hashes, features, failed = read_shards(s3, bucket, plan, drop)
    if not keys:
        raise SearchError("bad_request", f"run {plan.run}: no image was featurized ({len(failed)} failed)")
    arrays, manifest = assemble(
        keys, hashes, features, weights=plan.weights, size=plan.input_size, lsh=config.lsh,
        probes=config.probes, mode_rule=config.mode_rule,
        extra={"build": {"kind": "reindex", "run": plan.run, "skipped": len(failed)}}, labelled=labelled,
    )
    store = open_store(index_root, s3=s3)
    version = publish_version(store, arrays, manifest, keep=config.keep_versions, expect=expect)
    skipped = [{"key": f["key"], "reason": "bad_image", "message": f["reason"]} for f in failed]
    return build_report("reindex", version, store.root, manifest, skipped, started, unchanged=False)


def live_hashes(store: Any, version: str | None) -> dict[str, str]:
    """{key: content hash} of an index version (two of its arrays); empty without a readable one."""
    if version is None:
        return {}
    try:
        keys = store.read_array(version, "keys").tolist()
        hashes = store.read_array(version, "hashes").tolist()
    except SearchError:
        return {}  # no usable live version: nothing ingest applied to compare with
    return {k: h.decode("ascii") if isinstance(h, bytes) else h for k, h in zip(keys, hashes, strict=True)}


def finish_run(s3: Any, sqs: Any, bucket: str, queue_url: str, plan: RunPlan, index_root: Any, *,
               wait: Callable[[RunPlan], None], config: Any = None, labelled: Any = None,
               batch_size: int = DEFAULT_BATCH, attempts: int = SWITCH_ATTEMPTS) -> tuple[RunPlan, dict]:
    """After the shards: catch up, assemble and switch, with no ingest event lost in between.

    The live pointer is read (with its ETag) before each catch-up listing, and the version goes
    live only if the pointer is still that one. An ingest batch that went live after the read
    changed the gallery before its own switch, but possibly after the listing: the switch is
    refused, and the run lists the gallery again, featurizes what is new and tries again (`wait`
    waits for the new batches' shards, e.g. wait_for_shards). An ingest batch still running when
    the run switches finds the pointer moved in its turn and re-applies itself on the run's version
    (imagesearch.ops.build.update_images). After `attempts` refused switches: an internal error;
    the shards stay, and the same run id resumes.
    """
    from imagesearch.index.storage import PointerMoved, open_store

    store = open_store(index_root, s3=s3)
    for attempt in range(1, attempts + 1):
        seen = store.read_pointer()  # before the listing: a later switch is one the listing may miss
        plan, gone = catch_up(s3, sqs, bucket, queue_url, plan, batch_size=batch_size,
                              live=live_hashes(store, seen.version))
        wait(plan)
        try:
            return plan, assemble_run(s3, bucket, plan, store, config=config, drop=gone, labelled=labelled,
                                      expect=seen)
        except PointerMoved as e:
            if attempt == attempts:
                raise SearchError("internal", f"run {plan.run}: {e.message}, {attempts} times in a row; "
                                  "its shards are kept: resume it with the same run id") from e
    raise AssertionError("unreachable")
