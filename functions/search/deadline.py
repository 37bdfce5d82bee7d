"""A request deadline on an injectable monotonic clock, so tests never really wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# Time kept back from the Lambda's remaining time to log, publish metrics and answer.
SAFETY_MARGIN_SECONDS = 1.5


@dataclass(frozen=True)
class Deadline:
    """The moment (on `clock`) by which the request must be answered."""

    at: float
    clock: Clock = time.monotonic

    @classmethod
    def for_request(cls, cap_seconds: float, remaining_ms: int | None,
                    clock: Clock = time.monotonic) -> Deadline:
        """The earlier of the configured cap and the Lambda's remaining time minus a safety margin."""
        budget = cap_seconds
        if remaining_ms is not None:
            budget = min(budget, remaining_ms / 1000.0 - SAFETY_MARGIN_SECONDS)
        return cls(at=clock() + max(budget, 0.0), clock=clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(self.at - self.clock(), 0.0)

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.clock() >= self.at

    def earlier_by(self, seconds: float) -> Deadline:
        """A deadline `seconds` before this one (to keep time for a later stage)."""
        return Deadline(at=self.at - seconds, clock=self.clock)
