"""The featurize Lambda: SQS messages of gallery keys in, vector shards out (shard).

This module wires Powertools and boto3 and answers with ReportBatchItemFailures. Importing it
makes no network call and does not import ONNX Runtime (the first batch with an image does).
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from batch import handle_records
from botocore.config import Config
from model import ModelCache
from settings import FeaturizeConfig
from shard import FeaturizeClients

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"featurize"})

_clients: FeaturizeClients | None = None
_models: ModelCache | None = None


def make_clients() -> FeaturizeClients:
    """boto3 clients with standard retries (throttles included)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)
    return FeaturizeClients(s3=boto3.client("s3", config=config))


def use_clients(clients: FeaturizeClients) -> None:
    """Replace the clients (the local stack, tests' stubs)."""
    global _clients
    _clients = clients


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    """Featurize each message's batch; failed messages come back as batchItemFailures."""
    global _clients, _models
    config = FeaturizeConfig.from_env()
    if _clients is None:
        _clients = make_clients()
    if _models is None:
        _models = ModelCache(threads=config.threads, chunk=config.chunk)
    return handle_records(event.get("Records", []), _clients, config, _models)
