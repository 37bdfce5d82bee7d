"""The ingest Lambda: SQS batches of S3 events from the gallery bucket, applied on the instance.

The work is done by batch (given its clients); this module wires Powertools and boto3 and
answers with ReportBatchItemFailures. Importing it makes no network call.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from batch import IngestClients, handle_batch
from botocore.config import Config
from settings import IngestConfig

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"ingest", "ssm_command", "site_albums"})

_clients: IngestClients | None = None


def make_clients() -> IngestClients:
    """boto3 clients with standard retries (throttles included)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
    return IngestClients(s3=boto3.client("s3", config=config), ssm=boto3.client("ssm", config=config),
                         ec2=boto3.client("ec2", config=config))


def use_clients(clients: IngestClients) -> None:
    """Replace the clients (tests' stubs; the local stack reaches its stand-ins through endpoints)."""
    global _clients
    _clients = clients


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    """Apply one batch; the messages of a failed batch come back as batchItemFailures."""
    global _clients
    if _clients is None:
        _clients = make_clients()
    config = IngestConfig.from_env()
    ends_at = time.monotonic() + context.get_remaining_time_in_millis() / 1000.0 - config.margin_s

    def remaining() -> float:
        return ends_at - time.monotonic()

    return handle_batch(event.get("Records", []), _clients, config, remaining).response()
