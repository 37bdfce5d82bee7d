"""Helpers every command module shares: the S3 client, JSON output, progress bars."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from imagesearch.settings import Settings


def s3_client() -> Any:
    """The S3 client of a command that reads or writes an s3:// location."""
    import boto3

    return boto3.client("s3")


def needs_s3(*values: str | None) -> bool:
    """Whether any of the command's locations is an s3:// URI."""
    from imagesearch.s3io import is_s3_uri

    return any(v and is_s3_uri(v) for v in values)


def print_json(obj: dict) -> None:
    """Print a command's JSON answer on stdout."""
    print(json.dumps(obj, indent=2))


def progress_bar(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: not with --quiet, and only on a terminal."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def configure_decoding(cfg: Settings) -> None:
    """Size the process's decode gate from IMAGESEARCH_MEMORY_MIB (else MemTotal): every command's
    decodes, across its threads, hold at most that budget at once (imagesearch.decode_budget)."""
    from imagesearch import decode_budget
    from imagesearch import settings as settings_table

    decode_budget.configure(settings_table.decode_budget(cfg))
