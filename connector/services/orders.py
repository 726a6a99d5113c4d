"""Orders and the error queue: list and find them, the "Facturar" button, the steps after the invoice a
person asks for, the invoice PDF, and the orders an ERP outage holds."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from connector.canonical import OrderStatus
from connector.context import AppContext
from connector.errors import ConfigurationError, ConnectorError
from connector.followup import request_write, resend_rejected, run_due_followups, run_followup
from connector.models import ChannelConnection, ERPConnection, Order
from connector.order_search import OrderFilters, count_orders_matching, orders_query
from connector.pipeline import CatalogRefreshes, process_order, store_pulled_order
from connector.refunds import credit_notes_by_order
from connector.rules import effective_settings
from connector.services.accounts import MAX_ROW_ID, NotFoundLocally, find_account, is_row_id
from connector.states import ERROR_QUEUE_STATES, SETTLED_STATES, OrderState

log = logging.getLogger(__name__)


def list_orders(ctx: AppContext, account_ref=None, *, states: list[str] | None = None, limit: int = 200,
                channel_connection_id: int | None = None, created_from: datetime | None = None,
                created_to: datetime | None = None, text: str | None = None, offset: int = 0) -> list[Order]:
    """The account's orders, newest first. Filters: states, one channel connection, marketplace creation
    time in ``[created_from, created_to)``, and ``text`` found — accents and case aside — in the order or
    pack number, buyer, document, e-mail, a line's SKU or title, or the invoice number."""
    filters = OrderFilters(tuple(states or ()), channel_connection_id, created_from, created_to, text or "")
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        query = orders_query(account.id, filters)
        offset, limit = min(max(0, offset), MAX_ROW_ID), min(max(0, limit), MAX_ROW_ID)
        orders = list(session.scalars(query.order_by(Order.id.desc()).offset(offset).limit(limit)))
        for order in orders:  # load what callers print, before the session closes
            _ = order.invoice, order.lines, order.channel_connection
            if order.invoice is not None:
                _ = order.invoice.writes
        return orders


def count_orders(ctx: AppContext, account_ref=None, *, states: list[str] | None = None,
                 channel_connection_id: int | None = None, created_from: datetime | None = None,
                 created_to: datetime | None = None, text: str | None = None) -> int:
    """How many orders :func:`list_orders` would list with the same filters and no limit."""
    filters = OrderFilters(tuple(states or ()), channel_connection_id, created_from, created_to, text or "")
    with ctx.db.session() as session:
        return count_orders_matching(session, find_account(session, account_ref).id, filters)


def error_queue(ctx: AppContext, account_ref=None) -> list[Order]:
    return list_orders(ctx, account_ref, states=[s.value for s in ERROR_QUEUE_STATES])


def credit_notes_of(ctx: AppContext, order_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The refunds and credit notes of these orders (callers got the orders from this account)."""
    with ctx.db.session() as session:
        return credit_notes_by_order(session, order_ids)


def get_order(ctx: AppContext, order_id: int, account_ref=None) -> Order:
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        order = session.get(Order, order_id) if is_row_id(order_id) else None
        if order is None or order.account_id != account.id:
            raise NotFoundLocally(f"No existe la orden {order_id} en esta cuenta.")
        _ = order.invoice, order.lines, order.activity, order.channel_connection
        if order.invoice is not None:
            _ = order.invoice.writes
        return order


def invoice_orders(ctx: AppContext, order_ids: list[int], *, account_ref=None, actor: str = "cli") -> dict[int, Order]:
    """The "Facturar" button: invoice these orders now, whatever the auto-invoicing rules say."""
    refreshes = CatalogRefreshes()
    results = {}
    for order_id in order_ids:
        order = get_order(ctx, order_id, account_ref)
        if order.state == OrderState.REJECTED:  # the e-invoice was rejected and the cause fixed: send it again
            resend_rejected(ctx, order_id, actor=actor)
        elif order.state not in SETTLED_STATES:
            # Read the order again first: one cancelled since the last pull is not invoiced by a click.
            cancelled = _reread_from_channel(ctx, order_id) == OrderStatus.CANCELLED
            process_order(ctx, order_id, manual=not cancelled, actor=actor, refreshes=refreshes)
        results[order_id] = get_order(ctx, order_id, account_ref)
    return results


def _reread_from_channel(ctx: AppContext, order_id: int) -> str | None:
    """Fetch one order from its channel and store what changed; returns its (normalised) status. When
    the channel cannot be read now, the stored order is used as it is (the click still works)."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        connection = order.channel_connection
        try:
            adapter = ctx.channel_adapter(connection)
        except ConnectorError:
            return order.status
        try:
            store_pulled_order(session, connection, adapter, adapter.fetch_order(order.external_id))
            session.commit()
        except ConnectorError as exc:
            session.rollback()
            log.info("order %s: could not re-read it from the channel before invoicing: %s", order_id, exc)
        finally:
            adapter.close()
        return session.get(Order, order_id).status


FOLLOWUP_KINDS = {"stamp": "emitir la factura electrónica", "payment": "registrar el pago",
                  "delivery": "enviar la factura al comprador"}


def request_followups(ctx: AppContext, order_ids: list[int], kind: str, *, account_ref=None,
                      actor: str = "cli") -> dict[int, Order]:
    """A person asks for a step after the invoice now ("Expedir", "Registrar pago", "Enviar al
    comprador"): it runs exactly once like the automatic ones, and never twice over a done one."""
    if kind not in FOLLOWUP_KINDS:
        raise ConfigurationError(f"Paso desconocido {kind!r}.")
    results = {}
    for order_id in order_ids:
        order = get_order(ctx, order_id, account_ref)
        if order.invoice is None:
            raise ConfigurationError(f"La orden {order_id} aún no tiene factura: no se puede {FOLLOWUP_KINDS[kind]}.")
        if kind == "payment":
            _require_payment_account(ctx, order)
        if request_write(ctx, order_id, kind, actor=actor) is None:
            raise ConfigurationError(f"La orden {order_id} no necesita {FOLLOWUP_KINDS[kind]} (ya está hecho o en curso).")
        run_followup(ctx, order.invoice.id, actor=actor)
        results[order_id] = get_order(ctx, order_id, account_ref)
    return results


def _require_payment_account(ctx: AppContext, order: Order) -> None:
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, order.invoice.erp_connection_id)
        channel = session.get(ChannelConnection, order.channel_connection_id)
        settings = effective_settings(erp.settings, channel.settings_overrides)
    if not settings.payment_account_id:
        raise ConfigurationError("Para registrar el pago elige primero la cuenta bancaria o caja donde entra el dinero.")


def invoice_pdf_url(ctx: AppContext, order_id: int, account_ref=None) -> str:
    """A fresh link to the order's invoice PDF (the ERP's links are short-lived)."""
    order = get_order(ctx, order_id, account_ref)
    if order.invoice is None:
        raise ConfigurationError(f"La orden {order_id} aún no tiene factura.")
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, order.invoice.erp_connection_id)
    url = ctx.erp_adapter(erp).invoice_pdf_url(order.invoice.erp_id)
    if not url or not url.startswith(("https://", "http://")):
        raise ConfigurationError("El ERP todavía no tiene el PDF de esta factura; inténtalo en unos minutos.")
    with ctx.db.transaction() as session:
        session.get(Order, order_id).invoice.pdf_url = url
    return url


def run_followups_now(ctx: AppContext, account_ref=None) -> dict[str, int]:
    """Everything due after the invoices of the account (e-invoice status, deliveries, payments)."""
    with ctx.db.session() as session:
        account_id = find_account(session, account_ref).id
    return run_due_followups(ctx, account_id)


def retry_error_queue(ctx: AppContext, account_ref=None, *, actor: str = "cli") -> dict[int, Order]:
    """Send every order of the error queue through the pipeline again (after a fix)."""
    ids = [o.id for o in error_queue(ctx, account_ref)]
    return invoice_orders(ctx, ids, account_ref=account_ref, actor=actor)


def orders_held_by_outage(ctx: AppContext, account_ref=None) -> list[Order]:
    """Orders an ERP outage holds: parked while the ERP is down (``waiting_erp``), or ready to invoice
    with their last attempt failed by a 5xx, 429 or maintenance and waiting for ``next_attempt_at``."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        held = (Order.state == OrderState.WAITING_ERP.value) | (
            (Order.state == OrderState.READY.value) & Order.next_attempt_at.is_not(None))
        orders = list(session.scalars(select(Order).where(Order.account_id == account.id, held).order_by(Order.id)))
        for order in orders:
            _ = order.invoice, order.lines, order.channel_connection
        return orders


def retry_orders_held_by_outage(ctx: AppContext, account_ref=None, *, actor: str = "cli") -> dict[int, Order]:
    """The ERP is back: invoice now every order an outage held, without waiting for its retry time."""
    ids = [o.id for o in orders_held_by_outage(ctx, account_ref)]
    return invoice_orders(ctx, ids, account_ref=account_ref, actor=actor)


def count_orders_by_state(ctx: AppContext, account_ref=None) -> dict[str, int]:
    """How many of the account's orders are in each state."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        rows = session.execute(select(Order.state, func.count()).where(Order.account_id == account.id)
                               .group_by(Order.state))
        return {state: count for state, count in rows}
