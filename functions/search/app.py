"""`POST /search` and `POST /uploads`: the Powertools HTTP API resolver, its observability and its wiring.

The work is done by plain modules (validation, instances, command, copier, search); this module
parses, calls and maps domain errors to answers in one place. Importing it makes no network call.
"""

from __future__ import annotations

import json

import boto3
import settings
from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from deadline import Deadline
from errors import Misconfigured, SearchAPIError
from fresh_access import HEADER as FRESH_TOKEN_HEADER
from fresh_access import FreshGate
from search import SearchClients, SearchService
from uploads import presign_upload
from validation import decode_body, parse_request

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# The plain modules (and the shared SSM layer) log through stdlib loggers; give them the JSON format
# and the correlation id.
copy_config_to_registered_loggers(source_logger=logger, include={"search", "ssm_command"})

__all__ = ["SearchClients", "app", "lambda_handler", "make_clients", "use_clients"]


def _client_config() -> Config:
    """Standard retries (SlowDown and throttles included), short timeouts, a pool for every copy thread."""
    try:
        workers = settings.copy_workers()
    except Misconfigured:
        # The request path reports the bad value (500, misconfigured); the client still gets built.
        workers = int(settings.get_default("COPY_WORKERS"))
    return Config(retries={"mode": "standard", "total_max_attempts": 3}, max_pool_connections=workers + 2,
                  connect_timeout=3, read_timeout=10)


def _s3_config() -> Config:
    """SigV4 for the presigned upload form (SigV2 forms are refused by newer regions), which also
    gives a regional URL; path-style addressing for a local S3 stand-in on 127.0.0.1."""
    style = "path" if settings.get("AWS_ENDPOINT_URL") else "virtual"
    return Config(signature_version="s3v4", s3={"addressing_style": style})


def make_clients() -> SearchClients:
    """EC2, SSM and S3 clients for this container (boto3 honours AWS_ENDPOINT_URL for local stacks)."""
    config = _client_config()
    ssm = boto3.client("ssm", config=config)
    return SearchClients(ec2=boto3.client("ec2", config=config), ssm=ssm,
                         s3=boto3.client("s3", config=config.merge(_s3_config())), params=ssm)


# Created once per container and reused by every invocation it serves.
_service = SearchService(clients=make_clients())
_fresh = FreshGate()


def use_clients(clients: SearchClients) -> None:
    """Swap the clients (test doubles); forgets the cached instance."""
    _service.clients = clients
    _service.instances.forget()
    _service.live.forget()
    _fresh.forget()


# CORS and routing are the HTTP API's (template.yaml: CorsConfiguration, the function's HttpApi
# events); only `POST /search` reaches the function, and the local dev server applies the same.
app = APIGatewayHttpResolver()


def _request_id() -> str:
    event_id = app.current_event.request_context.request_id
    return event_id or getattr(app.lambda_context, "aws_request_id", "") or ""


@app.post("/search")
def search_route() -> dict:
    """Validate the body, run the search, publish stage latencies, answer 200."""
    started = _service.clock()
    event = app.current_event
    request = parse_request(decode_body(event.body, event.is_base64_encoded))
    cfg = settings.load()
    if request.fresh:
        # Before any other AWS call: a refused fresh costs nothing but this check.
        clients = _service.clients
        _fresh.check(clients.params if clients.params is not None else clients.ssm,
                     cfg.fresh_token_parameter, event.headers.get(FRESH_TOKEN_HEADER))
    remaining = app.lambda_context.get_remaining_time_in_millis() if app.lambda_context else None
    deadline = Deadline.for_request(cfg.deadline_seconds, remaining, clock=_service.clock)
    logger.append_keys(query_key=request.key, k=request.k)
    answer = _service.run(cfg, request, deadline, _request_id(), started=started)
    for stage in ("cache_read", "ssm_send", "ssm_wait", "copy", "total"):
        if stage in answer["timings_ms"]:
            metrics.add_metric(name=f"latency_{stage}", unit=MetricUnit.Milliseconds,
                               value=answer["timings_ms"][stage])
    if answer["cache"] in ("hit", "miss", "mismatch"):
        metrics.add_metric(name=f"cache_{answer['cache']}", unit=MetricUnit.Count, value=1)
    if answer.get("missing"):
        _count_error("copy_failed", len(answer["missing"]))
    logger.info("search answered", extra={"timings_ms": answer["timings_ms"], "path": answer["path"],
                                          "cache": answer["cache"], "missing": answer.get("missing", [])})
    return answer


@app.post("/uploads")
def uploads_route() -> dict:
    """Presign a query image upload to the private gallery bucket (the body, if any, is ignored)."""
    cfg = settings.load()
    answer = presign_upload(_service.clients.s3, cfg.gallery_bucket, cfg.max_upload_bytes)
    metrics.add_metric(name="uploads_signed", unit=MetricUnit.Count, value=1)
    logger.info("upload signed", extra={"upload_id": answer["upload_id"]})
    return answer


def _count_error(code: str, value: int = 1) -> None:
    """Count an error code: a total in the invocation's metrics, and one metric with the code as dimension."""
    metrics.add_metric(name="errors", unit=MetricUnit.Count, value=value)
    with single_metric(name="errors", unit=MetricUnit.Count, value=value) as metric:
        metric.add_dimension(name="code", value=code)


def _error_response(status: int, error: dict, retry_after: bool = False) -> Response:
    headers = {"Retry-After": "1"} if retry_after else None
    body = json.dumps({"error": error, "request_id": _request_id()})
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body,
                    headers=headers)


@app.exception_handler(SearchAPIError)
def handle_search_error(e: SearchAPIError) -> Response:
    """Every domain error becomes `{"error": {"code", "message"}}` with its status."""
    if e.status >= 500:
        logger.warning("search failed", extra={"code": e.code, "status": e.status, "error": e.message},
                       exc_info=e if e.__cause__ is not None else None)
    else:
        logger.info("request refused", extra={"code": e.code, "status": e.status, "error": e.message})
    _count_error(e.code)
    return _error_response(e.status, e.body(), retry_after=e.status in (429, 503))


@app.exception_handler(Exception)
def handle_unexpected(e: Exception) -> Response:
    """A bug: log it with its traceback and answer 500 with the request id to quote."""
    logger.error("unexpected error", exc_info=e)
    _count_error("internal")
    return _error_response(500, {"code": "internal", "message": "internal error; quote the request_id"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """The Lambda entry point: the resolver answers the HTTP API v2 event."""
    return app.resolve(event, context)
