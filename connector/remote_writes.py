"""Writes to a remote API that must happen exactly once — the one primitive every such write uses.

Stamping an e-invoice, attaching it to a marketplace order, having the ERP e-mail it and recording
its payment are calls no API lets us repeat safely: none has an idempotency key, and a stamp or an
e-mail sent twice cannot be taken back. Each is a :class:`~connector.models.RemoteWrite` row and
goes through :func:`perform`, with the guards invoices have (``connector/invoicing.py``):

1. **The row is the claim** (:class:`~connector.leases.RowLease`): one owner at a time, renewed while
   it works, so only a dead owner's claim runs out.
2. **The attempt is recorded before the call** (``state = sending``, committed, fenced by the claim):
   a process that dies mid-call leaves ``sending`` behind, never a silent gap.
3. **An uncertain write is settled by reading the remote state** before anything is sent again: a
   write found ``sending`` (its owner died) or ``ambiguous`` (timeout, dropped answer, 5xx) is read
   first; done → recorded; provably not done → sent; the remote side cannot tell → ``uncertain``,
   and a person decides (never a blind repeat).
4. What an error means comes from one table (:mod:`connector.outcomes`).

A kind of write gives two functions: ``send`` (the call; returns what to keep of the answer) and
``read`` (the remote state: :class:`Remote`). Kinds whose target may already hold the result from
elsewhere (a pack that already has a document) read before the first send too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_

from connector.context import AppContext
from connector.errors import ConnectorError
from connector.leases import RowLease
from connector.models import RemoteWrite, utcnow
from connector.outcomes import WRITE_STATE_FOR, Outcome, next_try, outcome_of

log = logging.getLogger(__name__)

# States a write can still move out of by itself.
OPEN_STATES = ("pending", "sending", "ambiguous")
# Final states: done, failed (the remote side refused; a person reads why), skipped (nothing to do:
# no e-mail, a marketplace that takes no documents), uncertain (lost answer the remote side cannot
# confirm: never repeated by itself).
FINAL_STATES = ("done", "failed", "skipped", "uncertain")


@dataclass(frozen=True)
class Remote:
    """What the remote side says of a write: ``done`` True (it happened; ``result`` what it shows),
    False (it provably did not), or None (it cannot tell)."""

    done: bool | None
    result: dict[str, Any] = field(default_factory=dict)


DONE_UNKNOWN = Remote(None)
NOT_DONE = Remote(False)


@dataclass(frozen=True)
class WriteAction:
    """How to carry out one kind of write for one row."""

    send: Callable[[], dict[str, Any]]
    read: Callable[[], Remote]
    read_first: bool = False  # read the remote state before the first send too


def due_condition(model=RemoteWrite):
    """Writes a worker may take now: open and due, or left ``sending`` by an owner whose claim ran out."""
    now = utcnow()
    return or_(
        model.state.in_(("pending", "ambiguous"))
        & or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
        (model.state == "sending") & (model.claimed_until < now),
    )


def perform(ctx: AppContext, write_id: int, action: WriteAction, *, model=RemoteWrite) -> str:
    """Carry out one write exactly once; returns its new state (``busy`` when another owner has it).

    ``model`` is the table whose row is the write: :class:`~connector.models.RemoteWrite` for what follows
    an invoice, or another table with the same columns (state, attempts, next_attempt_at, claim_token,
    claimed_until, sent_at, finished_at, detail, result) for writes that belong to no invoice (the ERP's
    webhook subscriptions, :mod:`connector.mirror`)."""
    lease = RowLease(ctx.db, model, write_id, ctx.settings.claim_lease_seconds)
    if not lease.take(due_condition(model)):
        return "busy"
    with ctx.db.session() as session:
        write = session.get(model, write_id)
        uncertain = write.state in ("sending", "ambiguous")
        session.rollback()
    with lease.kept(f"write-{write_id}"):
        if uncertain or action.read_first:
            settled = _settle_by_reading(ctx, lease, action, uncertain)
            if settled is not None:
                return settled
        with ctx.db.transaction() as session:
            # Fencing: the attempt exists before the call, and only while the claim is still ours.
            if not lease.update(session, state="sending", sent_at=utcnow(), attempts=model.attempts + 1):
                return "busy"
        try:
            result = action.send()
        except ConnectorError as exc:
            return _finish_failed(ctx, lease, write_id, exc)
        return _finish(ctx, lease, "done", result=result)


def _settle_by_reading(ctx: AppContext, lease: RowLease, action: WriteAction, uncertain: bool) -> str | None:
    """Read the remote state first. Returns the write's final state when that settles it, else None
    (provably not done: go on and send)."""
    try:
        remote = action.read()
    except ConnectorError as exc:
        if outcome_of(exc) in (Outcome.RETRY, Outcome.AMBIGUOUS):  # could not read: keep it uncertain
            return _retry_later(ctx, lease, exc, "ambiguous" if uncertain else "pending")
        return _finish(ctx, lease, "failed", detail=exc.user_message)
    if remote.done:
        return _finish(ctx, lease, "done", result={**remote.result, "found_by_reading": True})
    if remote.done is None and uncertain:
        return _finish(ctx, lease, "uncertain",
                       detail="No se recibió la respuesta y el destino no permite comprobar si se hizo; "
                              "no se repite sola para no duplicarla.")
    return None


def _finish_failed(ctx: AppContext, lease: RowLease, write_id: int, exc: ConnectorError) -> str:
    outcome = outcome_of(exc)
    if outcome is Outcome.AMBIGUOUS:
        with ctx.db.transaction() as session:
            lease.release(session, state="ambiguous", detail=exc.user_message,
                          next_attempt_at=utcnow() + timedelta(seconds=ctx.settings.reconcile_delay_seconds))
        return "ambiguous"
    if outcome is Outcome.RETRY:  # provably not sent
        return _retry_later(ctx, lease, exc, "pending")
    state = WRITE_STATE_FOR[outcome]
    return _finish(ctx, lease, state, detail=exc.user_message)


def _retry_later(ctx: AppContext, lease: RowLease, exc: ConnectorError, state: str) -> str:
    with ctx.db.transaction() as session:
        attempts = session.get(lease.model, lease.row_id).attempts
        when, _ = next_try(attempts, exc, ctx.settings.retry_backoff_seconds)
        lease.release(session, state=state, detail=exc.user_message, next_attempt_at=when)
    return state


def _finish(ctx: AppContext, lease: RowLease, state: str, *, result: dict | None = None, detail: str = "") -> str:
    values: dict[str, Any] = {"state": state, "finished_at": utcnow(), "next_attempt_at": None, "detail": detail}
    if result is not None:
        values["result"] = result
    with ctx.db.transaction() as session:
        if not lease.release(session, **values):
            return "busy"
    return state
