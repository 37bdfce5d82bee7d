"""An SQS event of featurize messages: each message one shard; failures reported per message."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from model import ModelCache, ModelUnavailable
from request import BadRequest, BatchRequest
from settings import FeaturizeConfig
from shard import FeaturizeClients, ShardOutcome, featurize_batch

log = logging.getLogger("featurize")


def handle_records(records: list[dict], clients: FeaturizeClients, config: FeaturizeConfig,
                   models: ModelCache) -> dict:
    """The ReportBatchItemFailures answer: the ids of messages to deliver again (or park)."""
    failures: list[str] = []
    for record in records:
        message_id = record["messageId"]
        try:
            request = BatchRequest.parse(record.get("body", ""))
            outcome: ShardOutcome = featurize_batch(request, clients, config, models)
        except BadRequest as e:
            # Never valid however often it comes back: it goes to the dead-letter queue after
            # maxReceiveCount receives, and the alarm on that queue says someone should look.
            log.error("message %s is not a featurize batch: %s", message_id, e)
            failures.append(message_id)
        except (ModelUnavailable, ClientError, BotoCoreError) as e:
            log.error("batch of message %s failed; it returns to the queue: %s: %s", message_id,
                      type(e).__name__, e)
            failures.append(message_id)
        else:
            log.info("batch %d of run %s: %s, %d vectors, %d unreadable", request.batch, request.run,
                     outcome.status, outcome.count, len(outcome.failed))
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}
