"""The search itself: check the image, find the instance, run the command, copy the matches, answer.

Plain code that receives its EC2, SSM and S3 clients; app.py only parses, calls this and maps errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agent_output import parse_agent_output
from botocore.exceptions import ClientError
from command import output_of, send_search, wait_for_invocation
from copier import copy_results
from deadline import Clock, Deadline, Sleep
from errors import DeadlineExceeded, ImageNotFound, InstanceUnavailable, error_code, from_client_error
from instances import InstanceCache
from settings import LambdaSettings
from uploads import check_upload
from validation import SearchRequest

# Time kept back from polling for the copies: enough for k parallel copies with a retry, and never
# more than a fifth of the request's budget.
COPY_RESERVE_SECONDS = 2.0


@dataclass
class SearchClients:
    """The AWS clients one search uses (boto3 clients, or stand-ins with the same methods)."""

    ec2: Any
    ssm: Any
    s3: Any


@dataclass
class SearchService:
    """Runs one search after another with one set of clients; keeps the instance cache between them."""

    clients: SearchClients
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    instances: InstanceCache = field(default_factory=InstanceCache)

    def run(self, cfg: LambdaSettings, request: SearchRequest, deadline: Deadline, request_id: str,
            started: float) -> dict:
        """The HTTP API answer (docs/contracts.md) for one validated request (`started`: on `clock`)."""
        clock = self.clock
        bucket = cfg.site_bucket if request.in_site_bucket else cfg.gallery_bucket
        if request.upload is not None:
            check_upload(self.clients.s3, bucket, request.upload, cfg.max_upload_bytes)
        else:
            check_query_image(self.clients.s3, bucket, request.key)

        t_send = clock()
        try:
            instance_id = self.instances.get(self.clients.ec2, cfg.tag_key, cfg.tag_value,
                                             cfg.instance_cache_seconds)
            if deadline.expired():
                raise DeadlineExceeded("the request ran out of time before the search was sent")
            command_id = send_search(self.clients.ssm, instance_id, cfg.document_name, bucket,
                                     request.key, request.k, comment=f"image search {request_id}")
            t_wait = clock()
            reserve = min(COPY_RESERVE_SECONDS, deadline.remaining() / 5)
            invocation = wait_for_invocation(self.clients.ssm, command_id, instance_id,
                                             deadline.earlier_by(reserve), sleep=self.sleep)
            stdout = output_of(invocation, instance_id)
        except InstanceUnavailable:
            # The cached instance may be the one that went away: look it up again next time.
            self.instances.forget()
            raise
        t_copy = clock()
        answer = parse_agent_output(stdout, request.k)

        outcomes = copy_results(self.clients.s3, cfg.gallery_bucket, cfg.site_bucket,
                                [r["key"] for r in answer.results], cfg.copy_workers, deadline,
                                sleep=self.sleep)
        t_end = clock()

        results = []
        for result, outcome in zip(answer.results, outcomes, strict=True):
            item: dict[str, Any] = {"key": outcome.site_key,
                                    "url": cfg.url(outcome.site_key) if outcome.ok else None,
                                    "score": result["score"]}
            if not outcome.ok:
                item["error"] = "copy_failed"
            results.append(item)
        body: dict[str, Any] = {
            "query": query_of(cfg, request),
            "results": results,
            "timings_ms": {
                "ssm_send": _ms(t_wait - t_send),
                "ssm_wait": _ms(t_copy - t_wait),
                "search": answer.search_ms,
                "copy": _ms(t_end - t_copy),
                "total": _ms(t_end - started),
            },
            "request_id": request_id,
            "index": answer.index,
            "path": answer.path,
        }
        missing = [o.gallery_key for o in outcomes if not o.ok]
        if missing:
            body["missing"] = missing
        return body


def query_of(cfg: LambdaSettings, request: SearchRequest) -> dict:
    """The answer's `query`: a public URL for an album image; an upload or gallery image has none."""
    if request.upload is not None:
        return {"upload": request.upload}
    if request.in_site_bucket:
        return {"key": request.key, "url": cfg.url(request.key)}
    return {"key": request.key}


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def check_query_image(s3: Any, bucket: str, key: str) -> None:
    """Raise ImageNotFound unless the query image exists (checked before any SSM call)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in {"404", "NoSuchKey", "NotFound"}:
            raise ImageNotFound(f"there is no image {key}") from e
        raise from_client_error(e, f"check the query image {key}") from e
