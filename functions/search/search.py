"""The search itself: check the image, find the instance, run the command, copy the matches, answer.

Plain code that receives its EC2, SSM and S3 clients; app.py only parses, calls this and maps errors.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from agent_output import AgentAnswer, parse_agent_output
from botocore.exceptions import ClientError
from command import output_of, send_search, wait_for_invocation
from copier import copy_results
from deadline import Clock, Deadline, Sleep
from errors import DeadlineExceeded, InstanceUnavailable, error_code, from_client_error
from instances import InstanceCache
from public_keys import not_found, require_public_copy
from result_cache import LiveVersion, query_sha256, read_entry, write_entry
from settings import LambdaSettings
from uploads import check_upload
from validation import K_MAX, SearchRequest

log = logging.getLogger("search")

# Time kept back from polling for the copies: enough for k parallel copies with a retry, and never
# more than a fifth of the request's budget.
COPY_RESERVE_SECONDS = 2.0


@dataclass
class SearchClients:
    """The AWS clients one search uses (boto3 clients, or stand-ins with the same methods)."""

    ec2: Any
    ssm: Any
    s3: Any
    # Parameter Store (the fresh token); None: `ssm`. Apart because the local stack's `ssm` runs
    # commands only.
    params: Any = None


@dataclass
class SearchService:
    """Runs one search after another with one set of clients; keeps the instance cache between them."""

    clients: SearchClients
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    instances: InstanceCache = field(default_factory=InstanceCache)
    live: LiveVersion = field(default_factory=LiveVersion)

    def run(self, cfg: LambdaSettings, request: SearchRequest, deadline: Deadline, request_id: str,
            started: float) -> dict:
        """The HTTP API answer (docs/contracts.md) for one validated request (`started`: on `clock`).

        The result cache of the live index version answers first; on a miss the agent answers
        through SSM and its top 10 are written to the cache (docs/contracts.md, "Result cache"),
        only when the hash of the bytes the agent searched is the hash the entry is filed under.
        """
        clock = self.clock
        bucket = cfg.gallery_bucket  # every query image is there (albums/ keys resolve to gallery/)
        timings: dict[str, float] = {}
        sha256, outcome = None, "off"
        if request.upload is not None:
            check_upload(self.clients.s3, bucket, request.upload, cfg.max_upload_bytes)
            if cfg.cache_enabled:
                outcome = "upload"  # its hash is unknown without downloading it: never cached
        else:
            # Only an image the site shows may be searched: private keys answer as missing.
            require_public_copy(self.clients.s3, cfg.site_bucket, request.preview_key, request.key)
            head = check_query_image(self.clients.s3, bucket, request.image_key)
            if cfg.cache_enabled:
                sha256 = query_sha256(head)
                outcome = "no_hash" if sha256 is None else outcome
        entry = None
        if sha256 is not None:
            t_cache = clock()
            if request.fresh:
                outcome = "bypass"
            else:
                version = self.live.get(self.clients.s3, cfg.gallery_bucket, cfg.cache_version_seconds)
                entry = read_entry(self.clients.s3, cfg.gallery_bucket, version, sha256) if version else None
                outcome = "hit" if entry is not None else "miss"
            timings["cache_read"] = _ms(clock() - t_cache)

        writer = None
        if entry is not None:
            results, index, path, search_ms = entry["results"][:request.k], entry["index"], "cache", None
        else:
            # Asked for the top 10 whatever k is, so the answer can fill the cache for every k.
            asked_k = K_MAX if sha256 is not None else request.k
            answer = self._ask_agent(cfg, request, bucket, asked_k, deadline, request_id, timings)
            results, index, path, search_ms = answer.results[:request.k], answer.index, answer.path, \
                answer.search_ms
            if sha256 is not None and answer.sha256 != sha256:
                # The metadata named other bytes than the agent searched (a forged x-amz-meta-sha256,
                # or the object replaced after our HEAD): filing the answer under it would poison
                # another image's entry. The answer is still served; nothing is written.
                log.warning("cache: not written: the query's metadata names %s, the agent searched %s",
                            sha256[:12], (answer.sha256 or "no hash")[:12],
                            extra={"query_key": request.key})
                outcome = "mismatch"
            elif sha256 is not None:
                # Written beside the copies; a failed write is logged and never fails the request.
                writer = threading.Thread(target=write_entry, name="cache-write", daemon=True,
                                          args=(self.clients.s3, cfg.gallery_bucket, sha256, answer.results,
                                                answer.index))
                writer.start()

        if request.min_score is not None:
            # Applied here, on the top-k, so the agent's command and the cache stay the same for every
            # min_score (docs/contracts.md, "HTTP API").
            results = [r for r in results if r["score"] >= request.min_score]
        t_copy = clock()
        outcomes = copy_results(self.clients.s3, cfg.site_bucket,
                                [r["key"] for r in results], cfg.copy_workers, deadline,
                                sleep=self.sleep)
        t_end = clock()
        if writer is not None:
            writer.join(timeout=min(deadline.remaining(), 1.0))

        items = []
        for result, copied in zip(results, outcomes, strict=True):
            item: dict[str, Any] = {"key": copied.site_key,
                                    "url": cfg.url(copied.site_key) if copied.ok else None,
                                    "score": result["score"], "band": result.get("band")}
            if not copied.ok:
                item["error"] = "copy_failed"
            items.append(item)
        if search_ms is not None:
            timings["search"] = search_ms
        timings["copy"] = _ms(t_end - t_copy)
        timings["total"] = _ms(t_end - started)
        body: dict[str, Any] = {
            "query": query_of(cfg, request),
            "results": items,
            "timings_ms": timings,
            "request_id": request_id,
            "index": index,
            "path": path,
            "cache": outcome,
        }
        missing = [o.gallery_key for o in outcomes if not o.ok]
        if missing:
            body["missing"] = missing
        return body

    def _ask_agent(self, cfg: LambdaSettings, request: SearchRequest, bucket: str, k: int,
                   deadline: Deadline, request_id: str, timings: dict[str, float]) -> AgentAnswer:
        """The agent's checked answer through SSM Run Command; adds ssm_send and ssm_wait to timings."""
        clock = self.clock
        t_send = clock()
        try:
            instance_id = self.instances.get(self.clients.ec2, cfg.tag_key, cfg.tag_value,
                                             cfg.instance_cache_seconds)
            if deadline.expired():
                raise DeadlineExceeded("the request ran out of time before the search was sent")
            command_id = send_search(self.clients.ssm, instance_id, cfg.document_name, bucket,
                                     request.image_key, k, comment=f"image search {request_id}")
            t_wait = clock()
            reserve = min(COPY_RESERVE_SECONDS, deadline.remaining() / 5)
            invocation = wait_for_invocation(self.clients.ssm, command_id, instance_id,
                                             deadline.earlier_by(reserve), sleep=self.sleep)
            stdout = output_of(invocation, instance_id)
        except InstanceUnavailable:
            # The cached instance may be the one that went away: look it up again next time.
            self.instances.forget()
            raise
        t_done = clock()
        timings["ssm_send"] = _ms(t_wait - t_send)
        timings["ssm_wait"] = _ms(t_done - t_wait)
        return parse_agent_output(stdout, k)


def query_of(cfg: LambdaSettings, request: SearchRequest) -> dict:
    """The answer's `query`: an album or gallery image's preview URL; an upload has none (private)."""
    if request.upload is not None:
        return {"upload": request.upload}
    return {"key": request.key, "url": cfg.url(request.preview_key)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def check_query_image(s3: Any, bucket: str, key: str) -> dict:
    """The query image's head (its metadata names its SHA-256); ImageNotFound when it is not there.

    Checked before any SSM call.
    """
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in {"404", "NoSuchKey", "NotFound"}:
            raise not_found(key) from e
        raise from_client_error(e, f"check the query image {key}") from e
