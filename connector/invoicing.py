"""Invoicing one order exactly once, and settling the orders whose outcome was left uncertain.

Alegra has no idempotency key, so exactly once rests on five guards:

1. **The row is the claim.** ``ready → invoicing`` is a conditional UPDATE; only the process whose
   UPDATE changed the row goes on (PostgreSQL re-checks the condition after a concurrent writer
   commits; SQLite serialises writers).
2. **A live claim never expires.** The owner renews it while it works (:func:`keep_claim`); only a
   dead process's claim runs out (``claim_lease_seconds``) and is taken over by a reconciler.
3. **Fencing.** The attempt is recorded in a transaction that also checks the claim is still this
   process's; one that lost it sends nothing.
4. **The attempt is written before the ERP call** (committed), with the order's marker. A process
   that dies mid-call leaves an attempt behind, and nobody re-sends blindly.
5. **Ambiguous outcomes are reconciled**: after a timeout/reset/5xx/empty answer the order stays
   ``invoicing``; later the ERP is searched for the marker. Found → recorded; not found → resent.
   ``invoices.order_id`` is unique as the last guard.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector import circuit
from connector.alerts import note_error
from connector.canonical import Order as CanonicalOrder
from connector.contacts import resolve_contact
from connector.context import AppContext
from connector.errors import (
    ConfigurationError,
    ConnectorError,
    InvalidPayload,
    TransientError,
)
from connector.fiscal import fiscal_profile_of, local_zone
from connector.followup import apply_erp_view, mark_rejected, plan_after_invoice
from connector.invoice_builder import build_contact, build_invoice, invoice_marker
from connector.leases import LeaseKeeper
from connector.models import ActivityEvent, ERPConnection, Invoice, InvoiceAttempt, Order, utcnow
from connector.money_explained import explain_invoice
from connector.outcomes import ORDER_STATE_FOR, Outcome, next_try, outcome_of, told_wait
from connector.reasons import N_, Reason, reason, restored, retrying
from connector.rules import effective_settings
from connector.states import OrderState, transition
from connector.stock_pending import mark_order_items
from erp.base import InvoiceResult, LegalStatus
from mapping.catalog import get_cached_item
from mapping.resolver import LineMatch

log = logging.getLogger(__name__)
S = OrderState

def canonical_of(order: Order) -> CanonicalOrder:
    if order.canonical is None:
        kept = restored(order.state_reason, order.state_reason_msgid, order.state_reason_params)
        raise InvalidPayload(kept or reason("La orden no se pudo leer del canal."))
    return CanonicalOrder.model_validate({**order.canonical, "raw": {}})


def erp_of(session: Session, order: Order) -> ERPConnection | None:
    return session.scalar(select(ERPConnection).where(ERPConnection.account_id == order.account_id))


# -- invoicing -----------------------------------------------------------------------------------


def claim_for_invoicing(ctx: AppContext, order_id: int, actor: str) -> str | None:
    """Atomically move a due ``ready`` (or ``waiting_erp``) order to ``invoicing``. The returned token
    proves ownership."""
    token = uuid.uuid4().hex
    now = utcnow()
    with ctx.db.transaction() as session:
        current = session.scalar(select(Order.state).where(Order.id == order_id))
        if current not in (S.READY, S.WAITING_ERP):
            return None
        result = session.execute(
            update(Order)
            .where(Order.id == order_id, Order.state == current,
                   or_(Order.next_attempt_at.is_(None), Order.next_attempt_at <= now))
            # next_attempt_at is cleared: a stale retry time on an in-flight order would make it look due
            # for reconciliation, and a reconciler would take over a live claim.
            .values(state=S.INVOICING.value, claim_token=token, claimed_at=now, next_attempt_at=None,
                    state_reason="Facturando en el ERP.", state_reason_msgid=N_("Facturando en el ERP."),
                    state_reason_params=None, updated_at=now, version=Order.version + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return None
        session.add(ActivityEvent(order_id=order_id, actor=actor, from_state=current,
                                  to_state=S.INVOICING.value, message="Facturando en el ERP.",
                                  message_msgid=N_("Facturando en el ERP.")))
    return token


def invoice_claimed_order(ctx: AppContext, order_id: int, token: str, actor: str) -> str:
    """Create the invoice of an order this process claimed. Returns the order's new state."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        if order is None or order.claim_token != token or order.state != S.INVOICING:
            return order.state if order else "gone"
        erp = erp_of(session, order)
        adapter = ctx.erp_adapter(erp)
        try:
            canonical = canonical_of(order)
            settings = effective_settings(erp.settings, order.channel_connection.settings_overrides)
            matches = _matches_from_rows(session, erp, order)
            shipping = _shipping_match(session, erp, settings.shipping_item_id)
            profile = fiscal_profile_of(erp)
            contact = build_contact(canonical, settings, profile)
            session.commit()  # release the database before talking to the ERP
            contact_id = resolve_contact(ctx, erp.id, adapter, contact)
            marker = invoice_marker(order.channel_connection_id, order.external_id)
            draft = build_invoice(canonical, matches, settings, contact_id=contact_id, marker=marker,
                                  shipping=shipping, profile=profile, contact=contact)
            explanation = explain_invoice(canonical, draft, matches, shipping,
                                          invoice_shipping=settings.invoice_shipping)
        except ConnectorError as exc:  # nothing was sent: retry later, or a person must act
            if outcome_of(exc) in (Outcome.RETRY, Outcome.AMBIGUOUS):
                return _release_for_retry(ctx, session, order, erp.id, exc, actor)
            transition(session, order, ORDER_STATE_FOR[outcome_of(exc)], exc.user_message, actor=actor)
            note_error(session, order.account_id, exc, erp_name=erp.name)
            session.commit()
            return order.state
        attempt = InvoiceAttempt(order_id=order.id, marker=marker, contact_id=contact_id,
                                 issue_date=draft.issue_date.isoformat(),
                                 erp_id_before=newest_recorded_erp_id(session, erp.id),
                                 explanation=explanation.to_json())
        session.add(attempt)
        if not _still_claimed(session, order.id, token):
            # A reconciler took the order over while we prepared (our claim looked dead): it decides now.
            session.rollback()
            return "busy"
        session.commit()  # the attempt exists before the ERP hears about it

        try:
            result = adapter.create_invoice(draft)
        except ConnectorError as exc:
            outcome = outcome_of(exc)
            if outcome is Outcome.AMBIGUOUS:
                until = circuit.record_failure(ctx, erp.id, exc)
                attempt.outcome, attempt.detail, attempt.finished_at = "ambiguous", exc.detail or str(exc), utcnow()
                order.next_attempt_at = max(utcnow() + timedelta(seconds=ctx.settings.reconcile_delay_seconds),
                                            until or utcnow())
                transition(session, order, S.INVOICING,
                           f"{exc.user_message} Se buscará la factura en el ERP antes de reintentar.", actor=actor)
                session.commit()
                return order.state
            if outcome is Outcome.RETRY:  # provably not created (e.g. 429, connection refused)
                attempt.outcome, attempt.detail, attempt.finished_at = "not_sent", exc.detail or str(exc), utcnow()
                return _release_for_retry(ctx, session, order, erp.id, exc, actor)
            attempt.outcome, attempt.detail, attempt.finished_at = "rejected", exc.user_message, utcnow()
            transition(session, order, ORDER_STATE_FOR[outcome], exc.user_message, actor=actor)
            note_error(session, order.account_id, exc, erp_name=erp.name)
            session.commit()
            return order.state
        attempt.outcome, attempt.finished_at = "created", utcnow()
        record_invoice(session, order, erp, result, marker, actor=actor, recovered=False)
        session.commit()
        if erp.circuit_failures or erp.circuit_open_until:
            circuit.record_success(ctx, erp.id)
        return order.state


def newest_recorded_erp_id(session: Session, erp_connection_id: int) -> str | None:
    """The ERP id of the invoice of this ERP connection recorded last (committed, so created in the ERP
    before anything this transaction goes on to send): the boundary an ambiguous outcome is settled
    against (``find_invoice_by_marker``'s ``older_than``)."""
    return session.scalar(select(Invoice.erp_id).where(Invoice.erp_connection_id == erp_connection_id)
                          .order_by(Invoice.id.desc()).limit(1))


def _still_claimed(session: Session, order_id: int, token: str) -> bool:
    """Fencing, in the transaction that records the attempt: renew the claim only if it is still ours.
    Without it a process that lost its claim could still send an invoice the new owner sends too."""
    return session.execute(
        update(Order).where(Order.id == order_id, Order.claim_token == token, Order.state == S.INVOICING.value)
        .values(claimed_at=utcnow(), updated_at=Order.updated_at)
        .execution_options(synchronize_session=False)).rowcount == 1


def record_invoice(session: Session, order: Order, erp: ERPConnection, result: InvoiceResult, marker: str, *,
                   actor: str, recovered: bool) -> None:
    invoice = None
    try:
        with session.begin_nested():
            invoice = Invoice(order_id=order.id, erp_connection_id=erp.id, erp_id=result.erp_id,
                              number=result.number, status=result.status, total=result.total,
                              stamp_status=result.stamp_status, marker=marker, recovered=recovered,
                              writes=[])  # a new invoice has no writes yet: nothing to load back
            # What the ERP says of it goes into the INSERT itself (CPU: no UPDATE right after it).
            apply_erp_view(invoice, result)
            session.add(invoice)
            session.flush()
            plan_after_invoice(session, order, erp, invoice, result)
            mark_order_items(session, order, erp.id)  # the ERP's stock of its items went down: publish it
    except IntegrityError:  # already recorded by whoever got there first; the ERP has one invoice
        log.warning("order %s: invoice already recorded", order.id)
        invoice = None
    order.claim_token = None
    order.next_attempt_at = None
    number = result.number or result.erp_id
    said = (reason("Factura %(number)s creada (encontrada en el ERP tras una respuesta incierta).", number=number)
            if recovered else reason("Factura %(number)s creada.", number=number))
    transition(session, order, S.INVOICED, said, actor=actor)
    if invoice is not None and result.legal_status == LegalStatus.REJECTED:
        # The ERP answered with the authority's verdict at once (no pending step to follow up).
        mark_rejected(session, order, invoice, "La autoridad tributaria", actor=actor)


def _release_for_retry(ctx: AppContext, session: Session, order: Order, erp_id: int, exc: ConnectorError,
                       actor: str) -> str:
    """Nothing was created: give the order back, to wait for the ERP (outage) or for its retry time.

    Called with no transaction open in ``session`` (the breaker writes in its own)."""
    order.claim_token = None
    if circuit.is_outage(exc):
        until = circuit.record_failure(ctx, erp_id, exc)
        if until is not None:
            wait_for_erp(session, order, until, exc, actor)
            session.commit()
            return order.state
    order.next_attempt_at = retry_time(order, exc, ctx.settings.retry_backoff_seconds)
    transition(session, order, S.READY, retrying(exc.user_message), actor=actor)
    session.commit()
    return order.state


def retry_time(order: Order, exc: ConnectorError, backoff: float) -> datetime:
    """When to try the order again after a transient error (:func:`connector.outcomes.next_try`)."""
    when, counts = next_try(order.attempts + 1, exc, backoff)
    order.attempts += counts
    return when


def wait_for_erp(session: Session, order: Order, until, exc_or_reason, actor: str) -> None:
    cause = exc_or_reason.user_message if isinstance(exc_or_reason, ConnectorError) else exc_or_reason
    if not isinstance(cause, Reason):  # a plain sentence loses its final stop inside the parentheses
        cause = str(cause).rstrip(".")
    order.next_attempt_at = until
    erp = erp_of(session, order)
    # The hour as the seller reads it: in the time zone of the ERP account's country.
    local = until.astimezone(local_zone(fiscal_profile_of(erp)) if erp else None).strftime("%H:%M")
    transition(session, order, S.WAITING_ERP,
               reason("El ERP no está disponible (%(cause)s). Se reanudará sola hacia las %(time)s.",
                      cause=cause, time=local), actor=actor)


def _matches_from_rows(session: Session, erp: ERPConnection, order: Order) -> list[LineMatch]:
    matches = []
    for row in order.lines:
        if row.erp_item_id is None:
            raise InvalidPayload(f"La línea «{row.title}» no tiene producto del ERP asignado.")
        item = get_cached_item(session, erp.id, row.erp_item_id)
        tax_ids = tuple(str(t) for t in (item.tax_ids if item else ()))
        rate = Decimal(item.tax_rate) if item else Decimal("0")
        matches.append(LineMatch(row.erp_item_id, row.erp_item_name or "", row.match_source or "", tax_ids, rate))
    return matches


def _shipping_match(session: Session, erp: ERPConnection, shipping_item_id: str | None) -> LineMatch | None:
    if not shipping_item_id:
        return None
    item = get_cached_item(session, erp.id, shipping_item_id)
    if item is None:
        raise ConfigurationError(f"El producto de envío {shipping_item_id} no existe en el catálogo del ERP.")
    return LineMatch(item.erp_id, item.name, "shipping", tuple(str(t) for t in item.tax_ids), Decimal(item.tax_rate))


def keep_claim(ctx: AppContext, order_id: int, token: str) -> LeaseKeeper:
    """Renews an order's claim while this process works on it.

    The sweeper takes over a claim older than ``claim_lease_seconds``: that is how the order of a
    process that died is settled. A live process must therefore never look dead, however long the
    ERP makes it wait (rate-limit windows, slow answers, retries), or a reconciler could search the
    ERP before this process's POST lands and send a second invoice. So while the work runs, a
    thread refreshes ``claimed_at`` every third of the lease; a killed process stops refreshing.
    """

    def renew() -> bool:
        with ctx.db.transaction() as session:
            return _still_claimed(session, order_id, token)

    return LeaseKeeper(renew, ctx.settings.claim_lease_seconds / 3, f"order-{order_id}")


# -- reconciling ambiguous outcomes --------------------------------------------------------------


def reconcile_order(ctx: AppContext, order_id: int, actor: str = "reconcile") -> str:
    """Settle an order left ``invoicing`` by an ambiguous outcome or a dead process."""
    now = utcnow()
    lease = now - timedelta(seconds=ctx.settings.claim_lease_seconds)
    token = uuid.uuid4().hex
    with ctx.db.transaction() as session:
        result = session.execute(
            update(Order)
            .where(Order.id == order_id, Order.state == S.INVOICING.value,
                   or_(Order.next_attempt_at <= now, Order.claimed_at <= lease))
            .values(claim_token=token, claimed_at=now, next_attempt_at=None, version=Order.version + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return "busy"
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        attempt = session.scalar(select(InvoiceAttempt).where(InvoiceAttempt.order_id == order_id)
                                 .order_by(InvoiceAttempt.id.desc()).limit(1))
        erp = erp_of(session, order)
        if attempt is None or attempt.outcome in ("not_sent", "rejected", "not_found"):
            order.claim_token = None
            transition(session, order, S.READY, reason("No llegó a enviarse ninguna factura; se reintenta."),
                       actor=actor)
            session.commit()
            return order.state
        session.commit()  # never hold a transaction while asking the ERP
        try:
            with keep_claim(ctx, order_id, token):
                found = ctx.erp_adapter(erp).find_invoice_by_marker(
                    attempt.marker, contact_id=attempt.contact_id, around=date.fromisoformat(attempt.issue_date),
                    older_than=attempt.erp_id_before)
        except TransientError as exc:
            until = circuit.record_failure(ctx, erp.id, exc) if circuit.is_outage(exc) else None
            told = told_wait(exc)
            wait = told if told is not None else max(ctx.settings.retry_backoff_seconds,
                                                     ctx.settings.reconcile_delay_seconds)
            order.next_attempt_at = max(utcnow() + timedelta(seconds=wait), until or utcnow())
            transition(session, order, S.INVOICING,
                       reason("No se pudo verificar en el ERP: %(cause)s", cause=exc.user_message), actor=actor)
            session.commit()
            return order.state
        if erp.circuit_failures or erp.circuit_open_until:
            circuit.record_success(ctx, erp.id)
        if found is not None:
            attempt.outcome, attempt.finished_at = "created", utcnow()
            record_invoice(session, order, erp, found, attempt.marker, actor=actor, recovered=True)
        else:
            attempt.outcome, attempt.finished_at = "not_found", utcnow()
            order.claim_token = None
            transition(session, order, S.READY,
                       reason("El ERP no tiene la factura de esta orden; se envía de nuevo."), actor=actor)
        session.commit()
        return order.state
