"""The featurize queue's message and the shard keys it names (docs/contracts.md, "Re-index shards")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

RUN_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The same gallery key pattern as functions/ingest/ingest_keys.py and imagesearch.keys.
GALLERY_KEY = re.compile(r"^gallery/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}$")
MAX_KEYS = 1000  # one shard; the run queues far fewer per message (a batch is about a minute of work)
MAX_BATCH = 999_999


class BadRequest(ValueError):
    """A message that can never be featurized; it goes to the dead-letter queue."""


@dataclass(frozen=True)
class BatchRequest:
    """One batch of gallery keys to featurize into one shard of a run."""

    run: str
    batch: int
    keys: tuple[str, ...]
    weights_sha256: str  # the index's weights digest (manifest weights.sha256), checked in the model
    onnx_sha256: str  # the converted model's file hash: models/<onnx_sha256>.onnx
    input_size: int

    @classmethod
    def parse(cls, body: str) -> BatchRequest:
        """The request in an SQS message body; BadRequest says what is wrong."""
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, TypeError) as e:
            raise BadRequest(f"the message body is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise BadRequest("the message body is not a JSON object")
        run, batch, keys = data.get("run"), data.get("batch"), data.get("keys")
        if not isinstance(run, str) or not RUN_ID.fullmatch(run):
            raise BadRequest(f"run must match {RUN_ID.pattern}, got {run!r}")
        if type(batch) is not int or not 0 <= batch <= MAX_BATCH:
            raise BadRequest(f"batch must be an integer from 0 to {MAX_BATCH}, got {batch!r}")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(keys) > MAX_KEYS:
            raise BadRequest(f"keys must be a list of at most {MAX_KEYS} strings")
        for name in ("weights_sha256", "onnx_sha256"):
            if not isinstance(data.get(name), str) or not SHA256.fullmatch(data[name]):
                raise BadRequest(f"{name} must be 64 lowercase hex digits, got {data.get(name)!r}")
        size = data.get("input_size")
        if type(size) is not int or not 32 <= size <= 1024:
            raise BadRequest(f"input_size must be an integer from 32 to 1024, got {size!r}")
        return cls(run, batch, tuple(keys), data["weights_sha256"], data["onnx_sha256"], size)

    def body(self) -> str:
        """The message body that parses back to this request."""
        return json.dumps({"run": self.run, "batch": self.batch, "keys": list(self.keys),
                           "weights_sha256": self.weights_sha256, "onnx_sha256": self.onnx_sha256,
                           "input_size": self.input_size})


def model_key(onnx_sha256: str) -> str:
    """Where publish stores the converted model: named by its own content hash."""
    return f"models/{onnx_sha256}.onnx"


def shard_prefix(run: str) -> str:
    """Every shard of a run lives under this prefix."""
    return f"reindex/{run}/shards/"


def shard_record_key(run: str, batch: int) -> str:
    """The shard's JSON record; written last and only once, so its presence means the shard is done."""
    return f"{shard_prefix(run)}{batch:06d}.json"


def shard_vectors_key(run: str, batch: int, vectors_sha256: str) -> str:
    """The shard's float16 .npy, named by its hash so a second writer never overwrites the first's."""
    return f"{shard_prefix(run)}{batch:06d}-{vectors_sha256[:16]}.npy"
