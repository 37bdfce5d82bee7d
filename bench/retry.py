"""Retry what fails only because offline seed:N weights came out with another digest.

Workaround, reported to the engine: `Featurizer.load("seed:N")` occasionally produces weights with a
different digest from the build's (seen under CPU contention), and the engine then rightly refuses
the index. The bench retries such a load and counts it, so the report says how often it happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MISMATCHES: list[str] = []


def is_digest_mismatch(error: BaseException) -> bool:
    """Whether an error is the engine refusing weights whose digest differs from the index's."""
    return "digest" in str(error) and "rebuild the index" in str(error)


def retrying(fn: Callable[[], T], what: str, attempts: int = 3) -> T:
    """fn(), again (up to `attempts`) when it failed with a weights digest mismatch."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - only the mismatch is retried; everything else re-raised
            if attempt == attempts or not is_digest_mismatch(e):
                raise
            MISMATCHES.append(what)
    raise AssertionError("unreachable")
