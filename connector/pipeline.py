"""Store → decide → match → invoice, exactly once.

Exactly once, in three guards:

1. **The row is the claim.** ``ready → invoicing`` is a conditional UPDATE; only the process whose
   UPDATE changed the row goes on (PostgreSQL re-checks the condition after a concurrent writer
   commits; SQLite serialises writers).
2. **The attempt is written before the ERP call** (committed), with the order's marker. A process
   that dies mid-call leaves an attempt behind, and nobody re-sends blindly.
3. **Ambiguous outcomes are reconciled**: after a timeout/reset/5xx/empty answer the order stays
   ``invoicing``; later the ERP is searched for the marker. Found → recorded; not found → resent.
   ``invoices.order_id`` is unique as the last guard.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from connector import circuit
from connector.canonical import Order as CanonicalOrder
from connector.canonical import OrderStatus, PulledOrder
from connector.contacts import resolve_contact
from connector.context import AppContext
from connector.dispatch import due_order_ids
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
from connector.invoice_builder import COLOMBIA, build_contact, build_invoice, invoice_marker
from connector.models import (
    ActivityEvent,
    ChannelConnection,
    ERPConnection,
    Invoice,
    InvoiceAttempt,
    Order,
    OrderLine,
    utcnow,
)
from connector.rules import decide_auto_invoicing, effective_settings
from connector.states import ALLOWED, SETTLED_STATES, OrderState, transition
from erp.base import InvoiceResult
from mapping.catalog import catalog_age, fetch_catalog, get_cached_item, replace_catalog
from mapping.resolver import LineMatch, LineMiss, record_mismatch, resolve_line_sku, sku_key

log = logging.getLogger(__name__)
S = OrderState


# -- storing pulled orders -----------------------------------------------------------------------


def store_pulled_order(session: Session, connection: ChannelConnection, adapter, pulled: PulledOrder) -> str:
    """Insert or update one pulled order. Returns "new", "updated" or "unchanged".

    An invoiced (or in-flight) order only gets its raw documents and status refreshed; anything
    else goes back to ``received`` so the rules see its new state. A payload the parser rejects is
    stored anyway and lands in the error queue with the parser's reason.
    """
    order = session.scalar(select(Order).where(Order.channel_connection_id == connection.id,
                                               Order.external_id == pulled.external_id))
    outcome = "updated"
    if order is None:
        order = Order(channel_connection_id=connection.id, account_id=connection.account_id,
                      external_id=pulled.external_id, state=S.RECEIVED.value, raw={})
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
        except IntegrityError:  # another process stored it a moment ago: update theirs
            order = session.scalar(select(Order).where(Order.channel_connection_id == connection.id,
                                                       Order.external_id == pulled.external_id))
        else:
            session.add(ActivityEvent(order_id=order.id, actor=f"sync:{connection.kind}", to_state=S.RECEIVED.value,
                                      message="Orden recibida del canal."))
            outcome = "new"
    if outcome == "updated" and order.raw == pulled.raw:
        return "unchanged"
    order.raw = pulled.raw
    try:
        canonical = adapter.parse_order(pulled)
    except InvalidPayload as exc:
        order.canonical = None
        if order.state not in SETTLED_STATES:
            transition(session, order, S.ERROR, f"No se pudo leer la orden del canal: {exc.user_message}")
        return outcome
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:  # parser bug: never crash
        order.canonical = None
        if order.state not in SETTLED_STATES:
            transition(session, order, S.ERROR, f"No se pudo leer la orden del canal: {exc}")
        return outcome
    _copy_canonical(order, canonical)
    if order.state not in SETTLED_STATES and order.state != S.RECEIVED:
        transition(session, order, S.RECEIVED, "La orden cambió en el canal; se evalúa de nuevo.")
    return outcome


def _copy_canonical(order: Order, canonical: CanonicalOrder) -> None:
    order.canonical = canonical.model_dump(mode="json", exclude={"raw"})
    order.status = canonical.status.value
    order.raw_status = canonical.raw_status[:60]
    order.is_fulfillment = canonical.is_fulfillment
    order.currency = canonical.currency
    order.total_paid = canonical.total_paid
    order.shipping_cost = canonical.shipping_cost
    order.buyer_name = (canonical.buyer.name or "")[:300] or None
    order.buyer_document = canonical.buyer.identification.number if canonical.buyer.identification else None
    order.remote_created_at = canonical.created_at
    order.remote_updated_at = canonical.updated_at
    if order.state in SETTLED_STATES:
        return  # the invoiced lines stay as they were invoiced
    order.lines.clear()
    for position, line in enumerate(canonical.lines):
        order.lines.append(OrderLine(position=position, sku_key=sku_key(line), sku=line.sku, title=line.title[:500],
                                     variation_id=line.variation_id, quantity=line.quantity,
                                     unit_price=line.unit_price))


# -- deciding and matching -----------------------------------------------------------------------


@dataclass
class CatalogRefreshes:
    """Remembers which ERP catalogs were refreshed during one run, so a miss refreshes at most once."""

    done: set[int] = field(default_factory=set)


def ensure_catalog(ctx: AppContext, session: Session, erp: ERPConnection, refreshes: CatalogRefreshes,
                   *, after_miss: bool = False) -> bool:
    """Refresh the cached catalog when missing or old (or, after a miss, when not brand new)."""
    if erp.id in refreshes.done:
        return False
    age = catalog_age(erp)
    limit = ctx.settings.catalog_min_age_seconds if after_miss else ctx.settings.catalog_max_age_seconds
    if age is not None and age < timedelta(seconds=limit):
        return False
    session.commit()  # nothing pending yet; never hold a transaction while reading the ERP
    items = fetch_catalog(ctx.erp_adapter(erp))
    with ctx.db.transaction() as writer:
        replace_catalog(writer, writer.get(ERPConnection, erp.id), items)
    session.expire(erp)
    refreshes.done.add(erp.id)
    return True


def _canonical(order: Order) -> CanonicalOrder:
    if order.canonical is None:
        raise InvalidPayload(order.state_reason or "La orden no se pudo leer del canal.")
    return CanonicalOrder.model_validate({**order.canonical, "raw": {}})


def match_lines(ctx: AppContext, session: Session, order: Order, canonical: CanonicalOrder, erp: ERPConnection,
                match_by, refreshes: CatalogRefreshes) -> list[LineMatch] | list[LineMiss]:
    """All lines matched, or the misses (mismatches recorded). Refreshes a stale catalog once on a miss."""
    def attempt():
        results = [resolve_line_sku(session, erp_connection_id=erp.id, channel_connection_id=order.channel_connection_id,
                                    line=line, match_by=match_by) for line in canonical.lines]
        return results

    results = attempt()
    if any(isinstance(r, LineMiss) for r in results) and ensure_catalog(ctx, session, erp, refreshes, after_miss=True):
        results = attempt()
    for row, result in zip(order.lines, results, strict=True):
        if isinstance(result, LineMatch):
            row.erp_item_id, row.erp_item_name, row.match_source = result.erp_item_id, result.erp_item_name, result.source
        else:
            row.erp_item_id = row.erp_item_name = row.match_source = None
    misses = [r for r in results if isinstance(r, LineMiss)]
    if misses:
        for line, result in zip(canonical.lines, results, strict=True):
            if isinstance(result, LineMiss):
                with session.begin_nested():
                    record_mismatch(session, order.channel_connection_id, line)
        return misses
    return results  # type: ignore[return-value]


def prepare_order(ctx: AppContext, session: Session, order: Order, *, manual: bool, actor: str,
                  refreshes: CatalogRefreshes) -> bool:
    """Rules and matching. Moves the order to skipped/waiting_rule/error/ready; True when ready."""
    connection = order.channel_connection
    erp = _erp_of(session, order)
    if erp is None:
        transition(session, order, S.ERROR, "La cuenta no tiene un ERP conectado.", actor=actor)
        return False
    try:
        canonical = _canonical(order)
        settings = effective_settings(erp.settings, connection.settings_overrides)
    except (InvalidPayload, ConfigurationError) as exc:
        transition(session, order, S.ERROR, exc.user_message, actor=actor)
        return False
    if not manual:
        decision = decide_auto_invoicing(settings, channel_kind=connection.kind, channel_connection_id=connection.id,
                                         status=OrderStatus(canonical.status), is_fulfillment=canonical.is_fulfillment)
        if decision.action != "invoice":
            transition(session, order, S.SKIPPED if decision.action == "skip" else S.WAITING_RULE, decision.reason,
                       actor=actor)
            return False
    ensure_catalog(ctx, session, erp, refreshes)
    results = match_lines(ctx, session, order, canonical, erp, settings.match_by, refreshes)
    misses = [r for r in results if isinstance(r, LineMiss)]
    if misses:
        transition(session, order, S.ERROR, " ".join(m.reason for m in misses), actor=actor)
        return False
    order.next_attempt_at = None
    transition(session, order, S.READY, "Productos encontrados en el ERP; lista para facturar.", actor=actor)
    return True


def _erp_of(session: Session, order: Order) -> ERPConnection | None:
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
                    state_reason="Facturando en el ERP.", updated_at=now, version=Order.version + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return None
        session.add(ActivityEvent(order_id=order_id, actor=actor, from_state=current,
                                  to_state=S.INVOICING.value, message="Facturando en el ERP."))
    return token


def invoice_claimed_order(ctx: AppContext, order_id: int, token: str, actor: str) -> str:
    """Create the invoice of an order this process claimed. Returns the order's new state."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        if order is None or order.claim_token != token or order.state != S.INVOICING:
            return order.state if order else "gone"
        erp = _erp_of(session, order)
        adapter = ctx.erp_adapter(erp)
        try:
            canonical = _canonical(order)
            settings = effective_settings(erp.settings, order.channel_connection.settings_overrides)
            matches = _matches_from_rows(session, erp, order)
            shipping = _shipping_match(session, erp, settings.shipping_item_id)
            contact = build_contact(canonical, settings)
            session.commit()  # release the database before talking to the ERP
            contact_id = resolve_contact(ctx, erp.id, adapter, contact)
            marker = invoice_marker(order.channel_connection_id, order.external_id)
            draft = build_invoice(canonical, matches, settings, contact_id=contact_id, marker=marker,
                                  shipping=shipping)
        except TransientError as exc:
            return _release_for_retry(ctx, session, order, erp.id, exc, actor)
        except (InvalidPayload, ConfigurationError) as exc:
            transition(session, order, S.ERROR, exc.user_message, actor=actor)
            session.commit()
            return order.state
        except PermanentRejection as exc:
            transition(session, order, S.FAILED, exc.user_message, actor=actor)
            session.commit()
            return order.state
        attempt = InvoiceAttempt(order_id=order.id, marker=marker, contact_id=contact_id,
                                 issue_date=draft.issue_date.isoformat())
        session.add(attempt)
        if not _still_claimed(session, order.id, token):
            # A reconciler took the order over while we prepared (our claim looked dead): it decides now.
            session.rollback()
            return "busy"
        session.commit()  # the attempt exists before the ERP hears about it

        try:
            result = adapter.create_invoice(draft)
        except AmbiguousOutcome as exc:
            until = circuit.record_failure(ctx, erp.id, exc)
            attempt.outcome, attempt.detail, attempt.finished_at = "ambiguous", exc.detail or str(exc), utcnow()
            order.next_attempt_at = max(utcnow() + timedelta(seconds=ctx.settings.reconcile_delay_seconds),
                                        until or utcnow())
            transition(session, order, S.INVOICING,
                       f"{exc.user_message} Se buscará la factura en el ERP antes de reintentar.", actor=actor)
            session.commit()
            return order.state
        except TransientError as exc:  # provably not created (e.g. 429, connection refused)
            attempt.outcome, attempt.detail, attempt.finished_at = "not_sent", exc.detail or str(exc), utcnow()
            return _release_for_retry(ctx, session, order, erp.id, exc, actor)
        except (PermanentRejection, ConfigurationError) as exc:
            attempt.outcome, attempt.detail, attempt.finished_at = "rejected", exc.user_message, utcnow()
            target = S.ERROR if isinstance(exc, ConfigurationError) else S.FAILED
            transition(session, order, target, exc.user_message, actor=actor)
            session.commit()
            return order.state
        attempt.outcome, attempt.finished_at = "created", utcnow()
        record_invoice(session, order, erp, result, marker, actor=actor, recovered=False)
        session.commit()
        if erp.circuit_failures or erp.circuit_open_until:
            circuit.record_success(ctx, erp.id)
        return order.state


def _still_claimed(session: Session, order_id: int, token: str) -> bool:
    """Fencing, in the transaction that records the attempt: renew the claim only if it is still ours.
    Without it a process that lost its claim could still send an invoice the new owner sends too."""
    return session.execute(
        update(Order).where(Order.id == order_id, Order.claim_token == token, Order.state == S.INVOICING.value)
        .values(claimed_at=utcnow(), updated_at=Order.updated_at)
        .execution_options(synchronize_session=False)).rowcount == 1


def record_invoice(session: Session, order: Order, erp: ERPConnection, result: InvoiceResult, marker: str, *,
                   actor: str, recovered: bool) -> None:
    try:
        with session.begin_nested():
            session.add(Invoice(order_id=order.id, erp_connection_id=erp.id, erp_id=result.erp_id,
                                number=result.number, status=result.status, total=result.total,
                                stamp_status=result.stamp_status, marker=marker, recovered=recovered))
    except IntegrityError:  # already recorded by whoever got there first; the ERP has one invoice
        log.warning("order %s: invoice already recorded", order.id)
    order.claim_token = None
    order.next_attempt_at = None
    how = " (encontrada en el ERP tras una respuesta incierta)" if recovered else ""
    transition(session, order, S.INVOICED, f"Factura {result.number or result.erp_id} creada{how}.", actor=actor)


def _release_for_retry(ctx: AppContext, session: Session, order: Order, erp_id: int, exc: ConnectorError,
                       actor: str) -> str:
    """Nothing was created: give the order back, to wait for the ERP (outage) or for its retry time.

    Called with no transaction open in ``session`` (the breaker writes in its own)."""
    order.claim_token = None
    if circuit.is_outage(exc):
        until = circuit.record_failure(ctx, erp_id, exc)
        if until is not None:
            _wait_for_erp(session, order, until, exc, actor)
            session.commit()
            return order.state
    order.next_attempt_at = _retry_time(order, exc)
    transition(session, order, S.READY, f"{exc.user_message} Se reintentará automáticamente.", actor=actor)
    session.commit()
    return order.state


def _retry_time(order: Order, exc: ConnectorError) -> datetime:
    """When to try again after a transient error. A spent rate-limit window or work another worker
    holds is not a failed attempt: the order comes back when told. Anything else backs off
    exponentially."""
    if isinstance(exc, RateLimited | Contended) and exc.retry_after is not None:
        return utcnow() + timedelta(seconds=min(max(exc.retry_after, 0.0), 3600.0))
    order.attempts += 1
    return utcnow() + timedelta(seconds=min(3600, 30 * 2 ** min(order.attempts - 1, 7)))


def _wait_for_erp(session: Session, order: Order, until, exc_or_reason, actor: str) -> None:
    reason = exc_or_reason.user_message if isinstance(exc_or_reason, ConnectorError) else str(exc_or_reason)
    order.next_attempt_at = until
    local = until.astimezone(COLOMBIA).strftime("%H:%M")
    transition(session, order, S.WAITING_ERP,
               f"El ERP no está disponible ({reason.rstrip('.')}). Se reanudará sola hacia las {local}.", actor=actor)


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


class ClaimKeeper:
    """Renews an order's claim while this process works on it.

    The sweeper takes over a claim older than ``claim_lease_seconds``: that is how the order of a
    process that died is settled. A live process must therefore never look dead, however long the
    ERP makes it wait (rate-limit windows, slow answers, retries), or a reconciler could search the
    ERP before this process's POST lands and send a second invoice. So while the work runs, a
    thread refreshes ``claimed_at`` every third of the lease; a killed process stops refreshing.
    """

    def __init__(self, ctx: AppContext, order_id: int, token: str):
        self.ctx, self.order_id, self.token = ctx, order_id, token
        self.interval = max(0.5, ctx.settings.claim_lease_seconds / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"claim-{order_id}", daemon=True)

    def __enter__(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.ctx.db.transaction() as session:
                    renewed = _still_claimed(session, self.order_id, self.token)
            except Exception:  # noqa: BLE001 - a failed renewal is retried at the next tick
                log.warning("order %s: could not renew the claim", self.order_id, exc_info=True)
                continue
            if not renewed:
                return  # settled or taken over: nothing left to keep


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
        erp = _erp_of(session, order)
        if attempt is None or attempt.outcome in ("not_sent", "rejected", "not_found"):
            order.claim_token = None
            transition(session, order, S.READY, "No llegó a enviarse ninguna factura; se reintenta.", actor=actor)
            session.commit()
            return order.state
        session.commit()  # never hold a transaction while asking the ERP
        try:
            with ClaimKeeper(ctx, order_id, token):
                found = ctx.erp_adapter(erp).find_invoice_by_marker(
                    attempt.marker, contact_id=attempt.contact_id, around=date.fromisoformat(attempt.issue_date))
        except TransientError as exc:
            until = circuit.record_failure(ctx, erp.id, exc) if circuit.is_outage(exc) else None
            order.next_attempt_at = max(utcnow() + timedelta(seconds=max(30, ctx.settings.reconcile_delay_seconds)),
                                        until or utcnow())
            transition(session, order, S.INVOICING, f"No se pudo verificar en el ERP: {exc.user_message}",
                       actor=actor)
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
            transition(session, order, S.READY, "El ERP no tiene la factura de esta orden; se envía de nuevo.",
                       actor=actor)
        session.commit()
        return order.state


# -- one order, end to end ----------------------------------------------------------------------


def process_order(ctx: AppContext, order_id: int, *, manual: bool = False, actor: str = "system",
                  refreshes: CatalogRefreshes | None = None) -> str:
    """Take one order as far as it can go now. ``manual`` (a person pressed "Facturar") skips the
    auto-invoicing rules. Never raises for a bad order: the order records why it stopped."""
    refreshes = refreshes or CatalogRefreshes()
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        if order is None:
            return "gone"
        if order.state in (S.INVOICING, S.INVOICED):
            state = order.state
            session.rollback()  # end this transaction before another one starts (SQLite: one writer)
            return reconcile_order(ctx, order_id) if state == S.INVOICING else state
        if order.state not in (S.READY, S.WAITING_ERP) or manual:
            try:
                ready = prepare_order(ctx, session, order, manual=manual, actor=actor, refreshes=refreshes)
                session.commit()
            except StaleDataError:  # another process moved this order meanwhile: it is theirs now
                session.rollback()
                return "busy"
            except TransientError as exc:  # the catalog could not be read: try again later
                session.rollback()
                return _defer(ctx, order_id, exc, actor)
            except ConfigurationError as exc:
                session.rollback()
                order = session.get(Order, order_id)
                transition(session, order, S.ERROR, exc.user_message, actor=actor)
                session.commit()
                return order.state
            if not ready:
                return order.state
        erp = _erp_of(session, order)
        until = circuit.open_until(erp)
        if until is not None:  # the ERP is down: wait without spending a request or a retry
            _wait_for_erp(session, order, until, erp.circuit_reason or "mantenimiento", actor)
            session.commit()
            return order.state
        deferral = ctx.erp_adapter(erp).rate_limit.deferral()
        if deferral is not None:  # the seller's ERP window is spent: come back when it ends, quietly
            order.next_attempt_at = utcnow() + timedelta(seconds=deferral)
            session.commit()
            return order.state
        session.rollback()
    token = claim_for_invoicing(ctx, order_id, actor)
    if token is None:
        with ctx.db.session() as session:
            order = session.get(Order, order_id)
            return order.state if order else "gone"
    try:
        with ClaimKeeper(ctx, order_id, token):
            return invoice_claimed_order(ctx, order_id, token, actor)
    except StaleDataError:
        # Our lease ran out and a reconciler took the order over; it settles it from the ERP's records.
        log.warning("order %s: claim taken over while invoicing", order_id)
        return "busy"


def _defer(ctx: AppContext, order_id: int, exc: ConnectorError, actor: str) -> str:
    """The ERP could not be read before invoicing (catalog): wait for it, counting an outage."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        erp_id = _erp_of(session, order).id
        session.commit()  # the breaker writes in its own transaction (SQLite: one writer at a time)
        until = circuit.record_failure(ctx, erp_id, exc) if circuit.is_outage(exc) else None
        if until is not None:
            _wait_for_erp(session, order, until, exc, actor)
            session.commit()
            return order.state
        order.next_attempt_at = _retry_time(order, exc)
        transition(session, order, OrderState(order.state), f"{exc.user_message} Se reintentará automáticamente.",
                   actor=actor)
        session.commit()
        return order.state


def process_due_orders(ctx: AppContext, account_id: int | None = None) -> dict[str, int]:
    """Process every due order once; returns how many ended in each state."""
    counts: dict[str, int] = {}
    refreshes = CatalogRefreshes()
    for order_id in due_order_ids(ctx, account_id):
        state = process_order_safely(ctx, order_id, refreshes=refreshes)
        counts[state] = counts.get(state, 0) + 1
    return counts


def process_order_safely(ctx: AppContext, order_id: int, *, refreshes: CatalogRefreshes | None = None) -> str:
    """:func:`process_order` for the loops and tasks: an unexpected error parks the order with the
    error named (unless an invoice is in flight) instead of stopping the loop or failing the task
    forever."""
    try:
        return process_order(ctx, order_id, refreshes=refreshes)
    except StaleDataError:
        return "busy"
    except Exception as exc:  # noqa: BLE001 - one bad order must never stop the others
        log.exception("order %s: unexpected error", order_id)
        return _mark_crashed(ctx, order_id, exc)


def _mark_crashed(ctx: AppContext, order_id: int, exc: Exception) -> str:
    """Park an order an unexpected error stopped, with the error named, unless an invoice is in flight."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        if order is None or order.state in SETTLED_STATES:
            return order.state if order else "gone"
        if S.ERROR in ALLOWED[OrderState(order.state)]:
            transition(session, order, S.ERROR, f"Error interno al procesar la orden ({type(exc).__name__}); "
                                                f"revisa y vuelve a facturar.")
            session.commit()
        return order.state
