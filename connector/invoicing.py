"""Invoicing one order exactly once, and settling the orders whose outcome was left uncertain.

Alegra has no idempotency key, so exactly once rests on five guards:

1. **The row is the claim.** ``ready → invoicing`` is a versioned UPDATE of the row the worker read
   (``orders.version``): only the process whose UPDATE matched goes on; a concurrent claim or a
   reconciler's take-over changed the version and makes it fail (PostgreSQL re-checks the condition
   after a concurrent writer commits; SQLite serialises writers).
2. **A live claim never expires.** The owner renews it while it works (:func:`keep_claim`); only a
   dead process's claim runs out (``claim_lease_seconds``) and is taken over by a reconciler.
3. **Fencing.** The attempt is recorded in the claim's own transaction, or — when the buyer had to be
   created in the ERP first, with the claim committed meanwhile — in a transaction that checks the claim
   is still this process's. One that lost it sends nothing.
4. **The attempt is written before the ERP call** (committed), with the order's marker. A process
   that dies mid-call leaves an attempt behind, and nobody re-sends blindly.
5. **Ambiguous outcomes are reconciled**: after a timeout/reset/5xx/empty answer the order stays
   ``invoicing``; later the ERP is searched for the marker. Found → recorded; not found → resent.
   ``invoices.order_id`` is unique as the last guard.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, or_, select, update
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
from connector.models import ActivityEvent, ERPConnection, ERPContact, Invoice, InvoiceAttempt, Order, utcnow
from connector.money_explained import explain_invoice
from connector.outcomes import ORDER_STATE_FOR, Outcome, next_try, outcome_of, told_wait
from connector.reasons import N_, Reason, reason, restored, retrying
from connector.rules import effective_settings
from connector.states import OrderState, transition
from connector.stock_pending import PUBLISHES_STOCK, mark_order_items
from erp.base import ContactDraft, ERPAdapter, InvoiceDraft, InvoiceResult, LegalStatus
from mapping.catalog import cached_items, get_cached_item
from mapping.resolver import LineMatch

log = logging.getLogger(__name__)
S = OrderState
_UNREAD = object()  # an argument the caller did not read (None is a value: no invoice recorded yet)

def canonical_of(order: Order) -> CanonicalOrder:
    if order.canonical is None:
        kept = restored(order.state_reason, order.state_reason_msgid, order.state_reason_params)
        raise InvalidPayload(kept or reason("La orden no se pudo leer del canal."))
    return CanonicalOrder.model_validate({**order.canonical, "raw": {}})


def erp_of(session: Session, order: Order) -> ERPConnection | None:
    """The order's ERP connection, read once per session: an order's path asks for it at every step,
    and a query by account cannot be answered from the identity map."""
    known = session.info.setdefault("erp_by_account", {})
    erp = known.get(order.account_id)
    if erp is None or erp not in session:
        if "erp_connection" in order.__dict__:  # loaded with the order (connector.pipeline.process_order)
            erp = order.__dict__["erp_connection"]
        else:
            erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == order.account_id))
        known[order.account_id] = erp
    return erp


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


@dataclass
class _Prepared:
    """What an invoice is made of, read from the claimed order before anything is sent."""

    adapter: ERPAdapter
    canonical: CanonicalOrder
    settings: object
    contact: ContactDraft
    matches: list[LineMatch]
    shipping: LineMatch | None
    profile: object


def claim_and_invoice(ctx: AppContext, session: Session, order: Order, erp: ERPConnection, actor: str) -> str:
    """Claim ``order`` and create its invoice, starting inside ``session``'s open transaction (where the
    caller loaded and prepared it): the path every due order takes.

    The claim, the invoice's inputs and — when the buyer is already known locally, as nearly every
    buyer is with the contacts mirror — the attempt are written in that one transaction, so the guards
    of this module hold with two commits per invoice instead of five: the claim is the ORM's versioned
    UPDATE of the order (a concurrent claim makes the commit fail: "busy"), and the attempt cannot be
    recorded without it (fencing by construction). A buyer the ERP must create first commits the claim
    and goes on without a transaction open while the ERP creates it."""
    now = utcnow()
    if order.state not in (S.READY, S.WAITING_ERP) or (order.next_attempt_at is not None and order.next_attempt_at > now):
        session.commit()  # what preparing the order found is kept; the claim is for when it is due
        return order.state
    token = uuid.uuid4().hex
    order.claim_token, order.claimed_at, order.next_attempt_at = token, now, None
    transition(session, order, S.INVOICING, reason("Facturando en el ERP."), actor=actor)
    # The reads below do not depend on what this transaction changed: it is all flushed once, at the
    # commit (one unit of work instead of two; a lost claim still fails that commit).
    try:
        with session.no_autoflush:
            prepared = _prepare(ctx, session, order, erp)
            contact_id, newest_erp_id, publishes = known_contact_and_newest_invoice(
                session, erp, prepared.contact.identification_number)
    except ConnectorError as exc:
        session.commit()  # the claim, then what a failure before sending does
        return _failed_before_sending(ctx, session, order, erp, exc, actor)
    if contact_id is None:
        session.commit()  # the claim: the ERP is asked for the buyer without a transaction open
        with keep_claim(ctx, order.id, token):
            return _invoice_prepared(ctx, session, order, erp, token, prepared, actor)
    try:
        draft, attempt = _draft_and_attempt(session, order, erp, prepared, contact_id, newest_erp_id)
    except ConnectorError as exc:
        session.commit()
        return _failed_before_sending(ctx, session, order, erp, exc, actor)
    session.commit()  # claim and attempt together, before the ERP hears about the invoice
    with keep_claim(ctx, order.id, token):
        return _send_and_record(ctx, session, order, erp, prepared.adapter, draft, attempt, actor,
                                publishes_stock=publishes)


def _prepare(ctx: AppContext, session: Session, order: Order, erp: ERPConnection) -> _Prepared:
    canonical = canonical_of(order)
    settings = effective_settings(erp.settings, order.channel_connection.settings_overrides)
    profile = fiscal_profile_of(erp)
    matches, shipping = matches_of(session, erp, order, settings.shipping_item_id,
                                   matched=session.info.get("line_matches", {}).pop(order.id, None))
    return _Prepared(adapter=ctx.erp_adapter(erp), canonical=canonical, settings=settings,
                     contact=build_contact(canonical, settings, profile), matches=matches, shipping=shipping,
                     profile=profile)


def _invoice_prepared(ctx: AppContext, session: Session, order: Order, erp: ERPConnection, token: str,
                      prepared: _Prepared, actor: str) -> str:
    """The claim is committed; find or create the buyer, record the attempt (fenced), send, record."""
    try:
        contact_id = resolve_contact(ctx, erp.id, prepared.adapter, prepared.contact)
        draft, attempt = _draft_and_attempt(session, order, erp, prepared, contact_id)
    except ConnectorError as exc:  # nothing was sent, and no transaction is open (the draft is built first)
        return _failed_before_sending(ctx, session, order, erp, exc, actor)
    if not _still_claimed(session, order.id, token):
        # A reconciler took the order over while we prepared (our claim looked dead): it decides now.
        session.rollback()
        return "busy"
    session.commit()  # the attempt exists before the ERP hears about it
    return _send_and_record(ctx, session, order, erp, prepared.adapter, draft, attempt, actor)


def _draft_and_attempt(session: Session, order: Order, erp: ERPConnection, prepared: _Prepared,
                       contact_id: str, newest_erp_id: str | None = _UNREAD) -> tuple[InvoiceDraft, InvoiceAttempt]:
    """The invoice and its attempt (added to ``session``). ``newest_erp_id`` is the boundary read in this
    same transaction, when the caller already has it."""
    # Built before the first query: a draft the ERP would refuse fails with no transaction open.
    marker = invoice_marker(order.channel_connection_id, order.external_id)
    settings = prepared.settings
    draft = build_invoice(prepared.canonical, prepared.matches, settings, contact_id=contact_id, marker=marker,
                          shipping=prepared.shipping, profile=prepared.profile, contact=prepared.contact)
    explanation = explain_invoice(prepared.canonical, draft, prepared.matches, prepared.shipping,
                                  invoice_shipping=settings.invoice_shipping)
    attempt = InvoiceAttempt(order_id=order.id, marker=marker, contact_id=contact_id,
                             issue_date=draft.issue_date.isoformat(),
                             erp_id_before=(newest_recorded_erp_id(session, erp.id) if newest_erp_id is _UNREAD
                                            else newest_erp_id),
                             explanation=explanation.to_json())
    session.add(attempt)
    return draft, attempt


def _failed_before_sending(ctx: AppContext, session: Session, order: Order, erp: ERPConnection,
                           exc: ConnectorError, actor: str) -> str:
    """Nothing was sent (no transaction open): retry later, or a person must act."""
    if outcome_of(exc) in (Outcome.RETRY, Outcome.AMBIGUOUS):
        return _release_for_retry(ctx, session, order, erp.id, exc, actor)
    transition(session, order, ORDER_STATE_FOR[outcome_of(exc)], exc.user_message, actor=actor)
    note_error(session, order.account_id, exc, erp_name=erp.name)
    session.commit()
    return order.state


def _send_and_record(ctx: AppContext, session: Session, order: Order, erp: ERPConnection, adapter: ERPAdapter,
                     draft: InvoiceDraft, attempt: InvoiceAttempt, actor: str, *,
                     publishes_stock: bool | None = None) -> str:
    """The attempt is committed: send the invoice and record what the ERP answered (``publishes_stock``:
    read with the claim, when it was)."""
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
    record_invoice(session, order, erp, result, attempt.marker, actor=actor, recovered=False, guarded=False,
                   publishes_stock=publishes_stock)
    try:
        session.commit()
    except IntegrityError:
        # Rare: the order's versioned UPDATE went through, so nobody took the order over, yet its invoice
        # row clashed (a repair recorded it meanwhile). Recorded again, guarded: "already recorded" is
        # told from any other clash there, which still fails.
        session.rollback()
        attempt.outcome, attempt.finished_at = "created", utcnow()
        record_invoice(session, order, erp, result, attempt.marker, actor=actor, recovered=False)
        session.commit()
    if erp.circuit_failures or erp.circuit_open_until:
        circuit.record_success(ctx, erp.id)
    return order.state


# Read on every invoice's path: built once, with bound parameters (:erp, :number).
_KNOWN_CONTACT = select(ERPContact.erp_contact_id).where(ERPContact.erp_connection_id == bindparam("erp"),
                                                         ERPContact.identification_number == bindparam("number"))
_NEWEST_RECORDED = (select(Invoice.erp_id).where(Invoice.erp_connection_id == bindparam("erp"))
                    .order_by(Invoice.id.desc()).limit(1))
_CONTACT_AND_NEWEST = select(_KNOWN_CONTACT.scalar_subquery(), _NEWEST_RECORDED.scalar_subquery(), PUBLISHES_STOCK)


def known_contact_and_newest_invoice(session: Session, erp: ERPConnection,
                                     number: str) -> tuple[str | None, str | None, bool]:
    """The buyer's ERP contact id when the local mirror already has it (no ERP call),
    :func:`newest_recorded_erp_id` and whether a channel of the account publishes the ERP's stock
    (:data:`connector.stock_pending.PUBLISHES_STOCK`), in one round trip: all are read right before a
    known buyer's attempt is recorded. (The last is used when the invoice is recorded a moment later:
    a channel switched on meanwhile is caught by the stock run's full comparison.)"""
    contact_id, newest, publishes = session.execute(
        _CONTACT_AND_NEWEST, {"erp": erp.id, "number": number, "account": erp.account_id}).one()
    return contact_id, newest, bool(publishes)


def newest_recorded_erp_id(session: Session, erp_connection_id: int) -> str | None:
    """The ERP id of the invoice of this ERP connection recorded last (committed, so created in the ERP
    before anything this transaction goes on to send): the boundary an ambiguous outcome is settled
    against (``find_invoice_by_marker``'s ``older_than``)."""
    return session.scalar(_NEWEST_RECORDED, {"erp": erp_connection_id})


def _still_claimed(session: Session, order_id: int, token: str) -> bool:
    """Fencing, in the transaction that records the attempt: renew the claim only if it is still ours.
    Without it a process that lost its claim could still send an invoice the new owner sends too."""
    return session.execute(
        update(Order).where(Order.id == order_id, Order.claim_token == token, Order.state == S.INVOICING.value)
        .values(claimed_at=utcnow(), updated_at=Order.updated_at)
        .execution_options(synchronize_session=False)).rowcount == 1


def record_invoice(session: Session, order: Order, erp: ERPConnection, result: InvoiceResult, marker: str, *,
                   actor: str, recovered: bool, guarded: bool = True, publishes_stock: bool | None = None) -> None:
    """The invoice the ERP created, what must follow it, and the order invoiced (in ``session``; the
    caller commits).

    ``guarded``: the invoice is inserted inside a savepoint, so an invoice already recorded by whoever
    got there first (``invoices.order_id`` is unique) is only noted and the rest goes on — what the
    reconcilers need, which may record several orders in one transaction. Unguarded (the invoicing
    path, on every invoice) everything is flushed once, at the caller's commit — the order's versioned
    UPDATE before the invoice's INSERT, so whoever recorded it first has taken the order over and the
    commit fails as "busy" — and the caller records again, guarded, on a clash (:func:`_send_and_record`):
    a savepoint and two flushes less per invoice. ``publishes_stock``: whether a channel publishes the
    ERP's stock, when the caller read it already (:func:`known_contact_and_newest_invoice`)."""
    if guarded:
        invoice = None
        try:
            with session.begin_nested():
                invoice = _add_invoice(session, order, erp, result, marker, recovered)
                session.flush()  # a clash is raised here, inside the savepoint
        except IntegrityError:  # already recorded by whoever got there first; the ERP has one invoice
            if session.scalar(select(Invoice.id).where(Invoice.order_id == order.id)) is None:
                raise  # another clash (no invoice row): the order must not be called invoiced without one
            log.warning("order %s: invoice already recorded", order.id)
            invoice = None
    else:
        invoice = _add_invoice(session, order, erp, result, marker, recovered)
    if invoice is not None:
        # Outside the savepoint: a clash here is not "already recorded" and must not pass for it (the
        # transaction fails, and the order is settled from the ERP's records like any lost answer).
        with session.no_autoflush:  # a read of settings: what this transaction wrote is flushed once, later
            # The ERP's stock of its items went down: publish it.
            mark_order_items(session, order, erp.id, publishes=publishes_stock)
    order.claim_token = None
    order.next_attempt_at = None
    order.dispatched_at = None  # done: its queue message is released here (connector.dispatch.handle_dispatched_order)
    number = result.number or result.erp_id
    said = (reason("Factura %(number)s creada (encontrada en el ERP tras una respuesta incierta).", number=number)
            if recovered else reason("Factura %(number)s creada.", number=number))
    transition(session, order, S.INVOICED, said, actor=actor)
    if invoice is not None and result.legal_status == LegalStatus.REJECTED:
        # The ERP answered with the authority's verdict at once (no pending step to follow up).
        mark_rejected(session, order, invoice, "La autoridad tributaria", actor=actor)


def _add_invoice(session: Session, order: Order, erp: ERPConnection, result: InvoiceResult, marker: str,
                 recovered: bool) -> Invoice:
    invoice = Invoice(order_id=order.id, erp_connection_id=erp.id, erp_id=result.erp_id,
                      number=result.number, status=result.status, total=result.total,
                      stamp_status=result.stamp_status, marker=marker, recovered=recovered,
                      writes=[])  # a new invoice has no writes yet: nothing to load back
    # What the ERP says of it, and when it is next due, go into the INSERT itself: no UPDATE after it.
    apply_erp_view(invoice, result)
    session.add(invoice)
    plan_after_invoice(session, order, erp, invoice, result)
    return invoice


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


def matches_of(session: Session, erp: ERPConnection, order: Order, shipping_item_id: str | None, *,
               matched: list[LineMatch] | None = None) -> tuple[list[LineMatch], LineMatch | None]:
    """The ERP item of every line and the shipping product, read from the cached catalog in one query.
    ``matched``: what matching the lines found a moment ago in this transaction (the catalog rows are
    not read again; only the shipping product, when there is one)."""
    rows = list(order.lines)
    for row in rows:
        if row.erp_item_id is None:
            raise InvalidPayload(f"La línea «{row.title}» no tiene producto del ERP asignado.")
    if matched is not None and [m.erp_item_id for m in matched] == [row.erp_item_id for row in rows]:
        if not shipping_item_id:
            return list(matched), None
        return list(matched), _shipping_line(get_cached_item(session, erp.id, shipping_item_id), shipping_item_id)
    wanted = {row.erp_item_id for row in rows} | ({shipping_item_id} if shipping_item_id else set())
    items = cached_items(session, erp.id, wanted)
    matches = []
    for row in rows:
        item = items.get(row.erp_item_id)
        tax_ids = tuple(str(t) for t in (item.tax_ids if item else ()))
        rate = Decimal(item.tax_rate) if item else Decimal("0")
        matches.append(LineMatch(row.erp_item_id, row.erp_item_name or "", row.match_source or "", tax_ids, rate))
    if not shipping_item_id:
        return matches, None
    return matches, _shipping_line(items.get(shipping_item_id), shipping_item_id)


def _matches_from_rows(session: Session, erp: ERPConnection, order: Order) -> list[LineMatch]:
    return matches_of(session, erp, order, None)[0]


def _shipping_match(session: Session, erp: ERPConnection, shipping_item_id: str | None) -> LineMatch | None:
    if not shipping_item_id:
        return None
    return _shipping_line(get_cached_item(session, erp.id, shipping_item_id), shipping_item_id)


def _shipping_line(item, shipping_item_id: str) -> LineMatch:
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
