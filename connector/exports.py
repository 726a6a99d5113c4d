"""CSV exports for the accountant: orders, invoices and credit notes of a date range.

The panel's download and ``connector export`` both use :func:`export_csv`. Days are the seller's days
(``tz``); ``--from``/``--to`` are both included. Written with the ``csv`` module (quoting right) and
**safe against formula injection**: a text cell that a spreadsheet would run as a formula (starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — a buyer's name can be anything) is
prefixed with an apostrophe, as OWASP recommends. Amounts are written as plain numbers (a negative
amount is a number, not a formula, and stays one).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import func, select

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.models import ChannelConnection, Invoice, Order, Refund, RemoteWrite
from connector.reasons import N_
from connector.services import find_account

KINDS = ("orders", "invoices", "credit-notes")
# Marketplace sales all fall in this range; a day outside it is a typo (and would overflow a datetime).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InvalidExport(ConfigurationError):
    """The export cannot be made as asked (kind, dates); the message says what to change."""


def parse_range(raw_from: str | None, raw_to: str | None) -> tuple[date, date]:
    """Both days of a range from ``AAAA-MM-DD`` text, or :class:`InvalidExport` in the seller's words."""
    days = []
    for raw, which in ((raw_from, "inicial"), (raw_to, "final")):
        text = (raw or "").strip()
        if not text:
            raise InvalidExport(f"Falta la fecha {which} (AAAA-MM-DD).")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidExport(f"La fecha {which} «{text[:40]}» no es válida (usa AAAA-MM-DD).") from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidExport(f"La fecha {which} «{text}» está fuera del rango admitido "
                                f"({FIRST_DAY.isoformat()} a {LAST_DAY.isoformat()}).")
        days.append(day)
    if days[0] > days[1]:
        raise InvalidExport(f"La fecha inicial ({days[0].isoformat()}) es posterior a la final "
                            f"({days[1].isoformat()}).")
    return days[0], days[1]


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(ctx: AppContext, account_ref, kind: str, start: date, end: date, out: TextIO, *, tz: tzinfo,
               translate: Callable[[str], str] = lambda text: text) -> int:
    """Write the CSV of ``kind`` for days ``start``..``end`` to ``out``; returns the number of rows."""
    if kind not in KINDS:
        raise InvalidExport(f"No hay exportación «{kind[:40]}»: elige órdenes, facturas o notas crédito.")
    since = datetime.combine(start, time.min, tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tz)
    headers, rows = {"orders": _orders, "invoices": _invoices, "credit-notes": _credit_notes}[kind](
        ctx, account_ref, since, until, tz)
    writer = csv.writer(out)
    writer.writerow([translate(h) for h in headers])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        count += 1
    return count


def _local(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _orders(ctx, account_ref, since, until, tz) -> tuple[list[str], Iterator[list[Any]]]:
    headers = ["Fecha", "Canal", "Orden", "Estado", "Estado en el canal", "Comprador", "Documento", N_("Moneda"),
               "Total pagado", "Envío", "Factura", "Motivo"]

    def rows():
        with ctx.db.session() as session:
            account = find_account(session, account_ref)
            created = func.coalesce(Order.remote_created_at, Order.created_at)
            query = (select(Order, ChannelConnection.name, Invoice.number)
                     .join(ChannelConnection, ChannelConnection.id == Order.channel_connection_id)
                     .outerjoin(Invoice, Invoice.order_id == Order.id)
                     .where(Order.account_id == account.id, created >= since, created < until).order_by(created))
            for order, channel, number in session.execute(query).yield_per(500):
                yield [_local(order.remote_created_at or order.created_at, tz), channel, order.external_id,
                       order.state, order.raw_status, order.buyer_name, order.buyer_document, order.currency,
                       order.total_paid, order.shipping_cost, number, order.state_reason]

    return headers, rows()


def _invoices(ctx, account_ref, since, until, tz) -> tuple[list[str], Iterator[list[Any]]]:
    headers = ["Fecha", "Número", N_("Id en el ERP"), "Canal", "Orden", "Comprador", "Documento", N_("Moneda"), "Total",
               "Estado", "Factura electrónica", "CUFE"]

    def rows():
        with ctx.db.session() as session:
            account = find_account(session, account_ref)
            query = (select(Invoice, Order, ChannelConnection.name).join(Order, Order.id == Invoice.order_id)
                     .join(ChannelConnection, ChannelConnection.id == Order.channel_connection_id)
                     .where(Order.account_id == account.id, Invoice.created_at >= since, Invoice.created_at < until)
                     .order_by(Invoice.created_at))
            for invoice, order, channel in session.execute(query).yield_per(500):
                yield [_local(invoice.created_at, tz), invoice.number, invoice.erp_id, channel, order.external_id,
                       order.buyer_name, order.buyer_document, order.currency, invoice.total, invoice.status,
                       invoice.legal_status, invoice.cufe]

    return headers, rows()


def _credit_notes(ctx, account_ref, since, until, tz) -> tuple[list[str], Iterator[list[Any]]]:
    headers = [N_("Fecha del reembolso"), "Canal", "Orden", "Factura", "Reembolso", N_("Valor reembolsado"), "Nota crédito",
               N_("Valor de la nota"), N_("Tipo"), "Decisión", "Estado de la nota"]

    def rows():
        with ctx.db.session() as session:
            account = find_account(session, account_ref)
            when = func.coalesce(Refund.refunded_at, Refund.created_at)
            query = (select(Refund, Order, ChannelConnection.name, Invoice.number)
                     .join(Order, Order.id == Refund.order_id)
                     .join(ChannelConnection, ChannelConnection.id == Order.channel_connection_id)
                     .outerjoin(Invoice, Invoice.order_id == Order.id)
                     .where(Refund.account_id == account.id, when >= since, when < until).order_by(when))
            found = session.execute(query).all()
            writes = {w.refund_id: w for w in session.scalars(
                select(RemoteWrite).where(RemoteWrite.kind == "credit_note",
                                          RemoteWrite.refund_id.in_([r.id for r, *_ in found]))
                .order_by(RemoteWrite.generation))}  # the newest generation wins
            for refund, order, channel, number in found:
                write = writes.get(refund.id)
                result = write.result if write is not None else {}
                amount = result.get("amount")
                yield [_local(refund.refunded_at or refund.created_at, tz), channel, order.external_id, number,
                       refund.external_id, refund.amount, result.get("number"),
                       Decimal(amount) if amount else None, result.get("type") or refund.note_type, refund.state,
                       write.state if write is not None else ""]

    return headers, rows()
