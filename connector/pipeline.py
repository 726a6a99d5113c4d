"""Store → decide → match → invoice: one order as far as it can go now.

Storing pulled orders, the auto-invoicing rules and SKU matching live here; invoicing itself, with
its exactly-once guards, is :mod:`connector.invoicing`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, defer, joinedload
from sqlalchemy.orm.exc import StaleDataError

from connector import circuit
from connector.canonical import Order as CanonicalOrder
from connector.canonical import OrderStatus, PulledOrder
from connector.context import AppContext
from connector.dispatch import commit_releasing, due_order_ids
from connector.errors import (
    ConfigurationError,
    ConnectorError,
    InvalidPayload,
    RateLimitDeferred,
    TransientError,
)
from connector.invoicing import (
    canonical_of,
    claim_and_invoice,
    erp_of,
    reconcile_order,
    retry_time,
    wait_for_erp,
)
from connector.mirror import webhooks_healthy
from connector.models import (
    ActivityEvent,
    ChannelConnection,
    ERPConnection,
    Order,
    OrderLine,
    utcnow,
)
from connector.order_search import search_text_of
from connector.reasons import N_, code_columns, joined, reason, retrying
from connector.refunds import note_refunds
from connector.rules import decide_auto_invoicing, effective_settings
from connector.states import ALLOWED, SETTLED_STATES, OrderState, transition
from mapping.catalog import catalog_age, fetch_catalog, replace_catalog
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
                                      message="Orden recibida del canal.", message_msgid=N_("Orden recibida del canal.")))
            outcome = "new"
    if outcome == "updated" and order.raw == pulled.raw:
        return "unchanged"
    order.raw = pulled.raw
    try:
        canonical = adapter.parse_order(pulled)
    except InvalidPayload as exc:
        order.canonical = None
        if order.state not in SETTLED_STATES:
            transition(session, order, S.ERROR, reason("No se pudo leer la orden del canal: %(cause)s",
                                                       cause=exc.user_message))
        return outcome
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:  # parser bug: never crash
        order.canonical = None
        # The library's words (pydantic's "Input should be…", a KeyError's bare key) stay in the log: the
        # seller reads what happened and what to do.
        log.warning("order %s of connection %s: parser failed: %r", pulled.external_id, connection.id, exc)
        if order.state not in SETTLED_STATES:
            transition(session, order, S.ERROR, reason(
                "No se pudo leer la orden del canal: llegó con datos que no entendemos. Se intentará de nuevo "
                "cuando la orden cambie en el canal; si sigue así, avisa a soporte con el número de la orden."))
        return outcome
    _copy_canonical(order, canonical)
    note_refunds(session, order, canonical, actor=f"sync:{connection.kind}")
    if order.state not in SETTLED_STATES and order.state != S.RECEIVED:
        transition(session, order, S.RECEIVED, reason("La orden cambió en el canal; se evalúa de nuevo."))
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
    order.search_text = search_text_of(order.external_id, canonical)
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
    if age is not None and mirror_kept_fresh(ctx, session, erp.id):
        return False  # the ERP's webhooks keep it fresh; the full re-read is the spare-room backstop
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


_FRESHNESS_SECONDS = 5.0  # how long one process trusts its answer to "are the webhooks healthy?"


def mirror_kept_fresh(ctx: AppContext, session: Session, erp_connection_id: int) -> bool:
    """The ERP's webhooks keep the catalog fresh (:func:`connector.mirror.webhooks_healthy`), asked at
    most every few seconds per process: it is on every order's path."""
    now = time.monotonic()
    freshness = ctx.__dict__.setdefault("_mirror_freshness", {})  # per context: one database each
    cached = freshness.get(erp_connection_id)
    if cached is not None and now - cached[0] < _FRESHNESS_SECONDS:
        return cached[1]
    healthy = webhooks_healthy(ctx, erp_connection_id, session)
    freshness[erp_connection_id] = (now, healthy)
    return healthy


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
    erp = erp_of(session, order)
    if erp is None:
        transition(session, order, S.ERROR, reason("La cuenta no tiene un ERP conectado."), actor=actor)
        return False
    try:
        canonical = canonical_of(order)
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
        transition(session, order, S.ERROR, joined(m.reason for m in misses), actor=actor)
        return False
    order.next_attempt_at = None
    transition(session, order, S.READY, reason("Productos encontrados en el ERP; lista para facturar."), actor=actor)
    # Invoicing in this same transaction builds its lines from these (connector.invoicing.matches_of):
    # the catalog rows just read are not read again.
    session.info.setdefault("line_matches", {})[order.id] = results
    return True


# -- one order, end to end ----------------------------------------------------------------------


# What every pass over an order reads, in the query that loads it: its channel connection, its
# account's ERP connection and its lines (a query each otherwise, on every order's path) — and not
# what it never reads: the marketplace's raw payload and the search text (loaded if ever touched).
# Built once, with a bound id: Session.get with options builds and keys a new query on every call.
_TO_PROCESS = (select(Order).where(Order.id == bindparam("id"))
               .options(joinedload(Order.channel_connection), joinedload(Order.erp_connection),
                        joinedload(Order.lines), defer(Order.raw), defer(Order.search_text)))


def process_order(ctx: AppContext, order_id: int, *, manual: bool = False, actor: str = "system",
                  refreshes: CatalogRefreshes | None = None) -> str:
    """Take one order as far as it can go now. ``manual`` (a person pressed "Facturar") skips the
    auto-invoicing rules. Never raises for a bad order: the order records why it stopped."""
    refreshes = refreshes or CatalogRefreshes()
    with ctx.db.session() as session:
        order = session.execute(_TO_PROCESS, {"id": order_id}).unique().scalar_one_or_none()
        if order is None:
            return "gone"
        if order.state in SETTLED_STATES:
            state = order.state
            session.rollback()  # end this transaction before another one starts (SQLite: one writer)
            return reconcile_order(ctx, order_id) if state == S.INVOICING else state
        if order.state not in (S.READY, S.WAITING_ERP) or manual:
            try:
                ready = prepare_order(ctx, session, order, manual=manual, actor=actor, refreshes=refreshes)
                if not ready:
                    commit_releasing(session, order)  # a ready order is claimed in this same transaction (below)
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
        erp = erp_of(session, order)
        until = circuit.open_until(erp)
        if until is not None:  # the ERP is down: wait without spending a request or a retry
            wait_for_erp(session, order, until, erp.circuit_reason or "mantenimiento", actor)
            commit_releasing(session, order)
            return order.state
        rate_limit = ctx.erp_adapter(erp).rate_limit
        deferral = rate_limit.deferral()
        if deferral is not None:  # the seller's ERP window is spent: come back when it ends
            rate_limit.note_backlog()  # and the mirror's bulk reads stay out of it
            order.next_attempt_at = utcnow() + timedelta(seconds=deferral)
            why = retrying(RateLimitDeferred(deferral).user_message)
            if manual:  # the person who pressed "Facturar" sees why nothing happened yet
                transition(session, order, OrderState(order.state), why, actor=actor)
            else:  # quietly: the reason, without an activity entry for every window a backlog waits
                order.state_reason = str(why)
                order.state_reason_msgid, order.state_reason_params = code_columns(why)
            commit_releasing(session, order)
            return order.state
        try:
            return claim_and_invoice(ctx, session, order, erp, actor)
        except StaleDataError:
            # Another worker claimed the order first, or our lease ran out while invoicing and a
            # reconciler took it over: it settles it from the ERP's records.
            session.rollback()
            log.warning("order %s: claimed by another worker", order_id)
            return "busy"


def _defer(ctx: AppContext, order_id: int, exc: ConnectorError, actor: str) -> str:
    """The ERP could not be read before invoicing (catalog): wait for it, counting an outage."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        erp_id = erp_of(session, order).id
        session.commit()  # the breaker writes in its own transaction (SQLite: one writer at a time)
        until = circuit.record_failure(ctx, erp_id, exc) if circuit.is_outage(exc) else None
        if until is not None:
            wait_for_erp(session, order, until, exc, actor)
            session.commit()
            return order.state
        order.next_attempt_at = retry_time(order, exc, ctx.settings.retry_backoff_seconds)
        transition(session, order, OrderState(order.state), retrying(exc.user_message), actor=actor)
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
    except (OperationalError, InterfaceError):
        # The database, not the order (a dropped connection, a lock timeout): nothing for a person to
        # fix in the error queue. The order stays due and the next sweep tries it again.
        log.warning("order %s: database unavailable, left for the next sweep", order_id, exc_info=True)
        return "db_unavailable"
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
            transition(session, order, S.ERROR, reason("Error interno al procesar la orden (%(kind)s); revisa y "
                                                       "vuelve a facturar.", kind=type(exc).__name__))
            session.commit()
        return order.state
