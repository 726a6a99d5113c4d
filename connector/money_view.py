"""What the order page shows of an order's money: the explanation stored with its last invoice
attempt, or, when there is none yet (an order in the error queue, an invoice made before explanations
were kept), the one today's settings and catalog would give — labelled as such."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from connector.context import AppContext
from connector.errors import ConnectorError
from connector.invoice_builder import build_invoice
from connector.invoicing import _matches_from_rows, _shipping_match, canonical_of, erp_of
from connector.models import InvoiceAttempt, Order
from connector.money_explained import MoneyExplanation, explain_invoice
from connector.rules import effective_settings
from connector.services import get_order


@dataclass(frozen=True)
class OrderMoney:
    explanation: MoneyExplanation | None
    stored: bool  # True: the explanation of the invoice sent; False: what today's settings would give
    unavailable_reason: str = ""  # why there is no explanation (in the seller's words)
    erp_total: Decimal | None = None  # what the ERP says the invoice totals, once invoiced


def order_money(ctx: AppContext, order_id: int, account_ref=None) -> OrderMoney:
    """The money explanation of one order of ``account_ref`` (NotFoundLocally when it is not there)."""
    order = get_order(ctx, order_id, account_ref)
    erp_total = order.invoice.total if order.invoice is not None else None
    with ctx.db.session() as session:
        stored = session.scalar(
            select(InvoiceAttempt.explanation).where(InvoiceAttempt.order_id == order.id,
                                                     InvoiceAttempt.explanation.is_not(None))
            .order_by(InvoiceAttempt.id.desc()).limit(1))
        if stored:
            return OrderMoney(MoneyExplanation.from_json(stored), True, erp_total=erp_total)
        row = session.get(Order, order.id)
        try:
            return OrderMoney(_preview(session, row), False, erp_total=erp_total)
        except ConnectorError as exc:
            return OrderMoney(None, False, exc.user_message, erp_total)


def _preview(session, order: Order) -> MoneyExplanation:
    erp = erp_of(session, order)
    if erp is None:
        raise ConnectorError("Conecta el ERP para ver cómo quedaría la factura.")
    canonical = canonical_of(order)
    settings = effective_settings(erp.settings, order.channel_connection.settings_overrides)
    matches = _matches_from_rows(session, erp, order)
    shipping = _shipping_match(session, erp, settings.shipping_item_id)
    draft = build_invoice(canonical, matches, settings, contact_id="", marker="", shipping=shipping)
    return explain_invoice(canonical, draft, matches, shipping, invoice_shipping=settings.invoice_shipping)
