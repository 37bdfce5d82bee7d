"""JSON log lines for the journal: one object per line, with each record's structured fields.

Code logs with `extra={"fields": {...}}`; systemd captures stdout, so the journal holds one
parseable JSON object per event.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for the journal (systemd captures stdout)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line with its structured fields."""
        body: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "msg": record.getMessage()}
        body.update(getattr(record, "fields", {}))
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send every imagesearch log record to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("imagesearch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
