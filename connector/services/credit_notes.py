"""Refunds and their credit notes: list them, count those waiting, approve or decline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.followup import run_followup
from connector.models import Refund
from connector.refunds import STATE_LABELS as REFUND_STATE_LABELS
from connector.refunds import approve as approve_refund
from connector.refunds import credit_notes_by_order
from connector.refunds import decline as decline_refund
from connector.services.accounts import MAX_ROW_ID, NotFoundLocally, find_account


def list_refunds(ctx: AppContext, account_ref=None, *, states: list[str] | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
    """The account's refunds with their credit notes, newest first ("Notas crédito por aprobar" is
    ``states=["waiting_approval"]``)."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        query = select(Refund).where(Refund.account_id == account.id)
        if states:
            query = query.where(Refund.state.in_(states))
        rows = []
        for refund in session.scalars(query.order_by(Refund.id.desc()).limit(limit)):
            order = refund.order
            view = next(n for n in credit_notes_by_order(session, [order.id])[order.id] if n["id"] == refund.id)
            rows.append({**view, "order_id": order.id, "external_id": order.external_id,
                         "channel": order.channel_connection.kind, "buyer": order.buyer_name,
                         "invoice": order.invoice.number if order.invoice else None, "reason": refund.reason,
                         "currency": order.currency})
        return rows


def count_refunds_waiting(ctx: AppContext, account_ref=None) -> int:
    """Refunds whose credit note waits for a person's approval."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        return session.scalar(select(func.count()).select_from(Refund).where(
            Refund.account_id == account.id, Refund.state == "waiting_approval")) or 0


def decide_refunds(ctx: AppContext, refund_ids: list[int], *, approve: bool, account_ref=None,
                   actor: str = "cli") -> list[dict[str, Any]]:
    """Approve (the credit note is created in the ERP, once) or decline refunds waiting for approval."""
    invoices = set()
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        for refund_id in refund_ids:
            refund = session.get(Refund, refund_id) if 0 < refund_id <= MAX_ROW_ID else None
            if refund is None or refund.account_id != account.id:
                raise NotFoundLocally(f"No existe el reembolso {refund_id} en esta cuenta.")
            if refund.state == "before_invoice":
                raise ConfigurationError(f"La orden del reembolso {refund_id} no tiene factura: no hay nada que "
                                         "acreditar.")
            if refund.state not in ("waiting_approval", "declined", "off") or (not approve and refund.state != "waiting_approval"):
                state = REFUND_STATE_LABELS.get(refund.state, refund.state).lower()
                raise ConfigurationError(f"El reembolso {refund_id} ya no está por aprobar ({state}).")
            order = refund.order
            invoice = order.invoice
            if invoice is None:
                raise ConfigurationError(f"La orden {order.id} no tiene factura: no hay nada que acreditar.")
            if approve:
                approve_refund(session, order, invoice, refund, actor=actor)
                invoices.add(invoice.id)
            else:
                decline_refund(session, order, refund, actor=actor)
    for invoice_id in invoices:
        run_followup(ctx, invoice_id, actor=actor)
    return [r for r in list_refunds(ctx, account_ref) if r["id"] in set(refund_ids)]
