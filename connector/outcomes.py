"""What an error means for the work that met it: the one table from error kind to what happens next.

Every remote write (an invoice, a stamp, a delivery, a payment) and every step before it ends in
one of these outcomes, and each caller turns the outcome into its own row's state with the tables
below — instead of each keeping its own ``except`` ladder.

::

    AmbiguousOutcome                    → AMBIGUOUS      it may have happened: read the remote state first
    RateLimited / Contended / other     → RETRY          provably not done: again at the told time or
      TransientError                                     after a backoff
    PermanentRejection (NotFound …)     → REJECTED       the remote side refused it: a person reads its words
    ConfigurationError                  → MISCONFIGURED  a setting must be fixed first
    InvalidPayload                      → UNREADABLE     the record itself is wrong
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from connector.errors import (
    AmbiguousOutcome,
    ConfigurationError,
    ConnectorError,
    Contended,
    InvalidPayload,
    PermanentRejection,
    RateLimited,
    TransientError,
)
from connector.models import utcnow
from connector.states import OrderState


class Outcome(StrEnum):
    AMBIGUOUS = "ambiguous"
    RETRY = "retry"
    REJECTED = "rejected"
    MISCONFIGURED = "misconfigured"
    UNREADABLE = "unreadable"


def outcome_of(exc: ConnectorError) -> Outcome:
    """The outcome an error stands for (see the module docstring)."""
    if isinstance(exc, AmbiguousOutcome):
        return Outcome.AMBIGUOUS
    if isinstance(exc, TransientError):
        return Outcome.RETRY
    if isinstance(exc, ConfigurationError):
        return Outcome.MISCONFIGURED
    if isinstance(exc, PermanentRejection):
        return Outcome.REJECTED
    if isinstance(exc, InvalidPayload):
        return Outcome.UNREADABLE
    return Outcome.REJECTED


# Where an order goes when its invoice cannot be made and a person must act.
ORDER_STATE_FOR = {
    Outcome.REJECTED: OrderState.FAILED,  # the ERP refused the invoice: its own words in the queue
    Outcome.MISCONFIGURED: OrderState.ERROR,
    Outcome.UNREADABLE: OrderState.ERROR,
}

# Where a remote write goes (connector/remote_writes.py).
WRITE_STATE_FOR = {
    Outcome.AMBIGUOUS: "ambiguous",
    Outcome.RETRY: "pending",
    Outcome.REJECTED: "failed",
    Outcome.MISCONFIGURED: "failed",
    Outcome.UNREADABLE: "failed",
}

MAX_WAIT_SECONDS = 3600.0


def told_wait(exc: ConnectorError) -> float | None:
    """Seconds a spent rate-limit window or work another worker holds said to come back in (at most
    an hour); None when the error said nothing."""
    if isinstance(exc, RateLimited | Contended) and exc.retry_after is not None:
        return min(max(exc.retry_after, 0.0), MAX_WAIT_SECONDS)
    return None


def next_try(attempts: int, exc: ConnectorError, backoff: float) -> tuple[datetime, bool]:
    """When to try again after a transient error, and whether it counts as a failed attempt.

    A spent rate-limit window or work another worker holds is not a failed attempt: the work comes
    back when told. Anything else backs off exponentially from ``backoff`` seconds
    (``CONNECTOR_RETRY_BACKOFF``) by the attempts made so far (this one included), up to an hour."""
    if (told := told_wait(exc)) is not None:
        return utcnow() + timedelta(seconds=told), False
    delay = min(MAX_WAIT_SECONDS, backoff * 2 ** min(max(attempts, 1) - 1, 7))
    return utcnow() + timedelta(seconds=delay), True
