"""One batch of gallery keys -> one shard of vectors under reindex/<run>/shards/ (written once).

A shard is a float16 .npy of the vectors (rows in the order of the record's `keys`) and a JSON
record written after it with If-None-Match: *, so the first complete writer wins and a batch
delivered twice (SQS is at-least-once) never rewrites a shard. A shard already written is
skipped before any work, so a resumed run redoes nothing. Images that cannot be read or decoded
are listed in the record with the reason; only failures that may pass (S3 errors, the model)
make the message fail and come back, and after the queue's maxReceiveCount it is parked in the
dead-letter queue, where an alarm fires.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import image_prep
import numpy as np
from botocore.exceptions import ClientError
from model import FEATURE_DIM, ModelCache
from request import (
    GALLERY_KEY,
    BatchRequest,
    model_key,
    shard_record_key,
    shard_vectors_key,
)
from settings import FeaturizeConfig

log = logging.getLogger("featurize")

SHARD_FORMAT = 1


@dataclass
class FeaturizeClients:
    """The AWS clients the featurize function uses (boto3's, or stand-ins in tests)."""

    s3: Any


@dataclass
class ShardOutcome:
    """What one batch did: written, already there (skipped), or lost the race to a twin delivery."""

    status: str  # "written" | "exists" | "raced"
    key: str
    count: int = 0
    failed: list[dict] = field(default_factory=list)


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    """Whether `key` exists, by listing it (the role may list gallery/ and reindex/, not head the absent)."""
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item["Key"] == key for item in listing.get("Contents", []))


def read_image(s3: Any, bucket: str, key: str, config: FeaturizeConfig) -> tuple[bytes | None, str | None]:
    """The object's bytes, or None and why it will never be readable (other S3 errors raise)."""
    if not GALLERY_KEY.fullmatch(key):
        return None, "not a gallery key (gallery/<album>/<file>)"
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        # S3 answers AccessDenied, not NoSuchKey, for a missing key when the role may not list that
        # exact key; the role may list gallery/, which tells a deleted image from a broken role.
        if code in ("NoSuchKey", "404") or (code == "AccessDenied" and not object_exists(s3, bucket, key)):
            return None, "the object does not exist (deleted since the run listed it)"
        raise
    if response.get("ContentLength", 0) > config.max_bytes:
        response["Body"].close()
        return None, f"the object is {response['ContentLength']} bytes, over the limit of {config.max_bytes}"
    return response["Body"].read(), None


def featurize_batch(request: BatchRequest, clients: FeaturizeClients, config: FeaturizeConfig,
                    models: ModelCache) -> ShardOutcome:
    """Featurize `request`'s images and write its shard, unless the shard is already written."""
    bucket = config.gallery_bucket
    record_key = shard_record_key(request.run, request.batch)
    if object_exists(clients.s3, bucket, record_key):
        log.info("shard %s already written; batch %d skipped", record_key, request.batch)
        return ShardOutcome("exists", record_key)
    keys: list[str] = []
    hashes: list[str] = []
    arrays: list[np.ndarray] = []
    failed: list[dict] = []
    for key in request.keys:
        data, reason = read_image(clients.s3, bucket, key, config)
        if data is not None:
            try:
                # As the instance's pipeline does (imagesearch.model.pipeline): decoded for the input
                # size (a large JPEG at reduced scale), then the same resize and normalisation.
                square = (request.input_size, request.input_size)
                image = image_prep.decode(data, max_pixels=config.max_pixels, size=square)
                arrays.append(image_prep.to_input(image, request.input_size))
            except image_prep.BadImage as e:
                reason = str(e)
        if reason is not None:
            failed.append({"key": key, "reason": reason})
            continue
        keys.append(key)
        hashes.append(hashlib.sha256(data).hexdigest())
    if arrays:
        model = models.get(clients.s3, bucket, model_key(request.onnx_sha256), request.onnx_sha256,
                           request.weights_sha256)
        vectors = model.featurize_arrays(np.stack(arrays)).astype(np.float16)
    else:
        vectors = np.zeros((0, FEATURE_DIM), dtype=np.float16)
    return write_shard(clients.s3, bucket, request, keys, hashes, vectors, failed)


def write_shard(s3: Any, bucket: str, request: BatchRequest, keys: list[str], hashes: list[str],
                vectors: np.ndarray, failed: list[dict]) -> ShardOutcome:
    """The .npy, then the record with If-None-Match: * (a twin delivery's record is never replaced)."""
    buf = io.BytesIO()
    np.save(buf, vectors, allow_pickle=False)
    npy = buf.getvalue()
    npy_sha = hashlib.sha256(npy).hexdigest()
    vectors_key = shard_vectors_key(request.run, request.batch, npy_sha)
    record_key = shard_record_key(request.run, request.batch)
    s3.put_object(Bucket=bucket, Key=vectors_key, Body=npy, ContentType="application/octet-stream")
    record = {"format": SHARD_FORMAT, "run": request.run, "batch": request.batch,
              "weights_sha256": request.weights_sha256, "onnx_sha256": request.onnx_sha256,
              "input_size": request.input_size, "count": len(keys), "dim": FEATURE_DIM, "dtype": "float16",
              "vectors": {"key": vectors_key, "sha256": npy_sha},
              "keys": keys, "hashes": hashes, "failed": failed}
    try:
        s3.put_object(Bucket=bucket, Key=record_key, Body=json.dumps(record, indent=1).encode() + b"\n",
                      ContentType="application/json", IfNoneMatch="*")
    except ClientError as e:
        # 412: another delivery of this batch wrote the record first; 409: it is writing it now.
        if e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            log.info("shard %s was written by another delivery of batch %d", record_key, request.batch)
            return ShardOutcome("raced", record_key, len(keys), failed)
        raise
    if failed:
        log.warning("shard %s: %d images could not be read: %s", record_key, len(failed), failed[:5])
    return ShardOutcome("written", record_key, len(keys), failed)
