"""Orders a fix unblocks go on at once, and the person who made the fix is told which.

An order waits in the error queue for a cause found *before any request to the ERP* — a line no
ERP product matches, a buyer without the e-mail an e-invoice needs, shipping to invoice without a
shipping product, settings that do not parse. When the seller fixes the cause (a setting, a SKU
mapping, a product that now exists in the catalog), those orders should not wait for a "Reintentar"
or for the next sync: :func:`release_unblocked` finds the held orders the fix frees, by checking
each one again *locally* (:func:`local_blockers`, the same checks the pipeline makes, against the
cached catalog, no ERP read), and sends them back through the pipeline; :func:`process_now` takes
them as far as they can go (the pipeline keeps respecting the ERP's rate window and outages).

Orders the ERP itself refused, or whose buyer could not be created in the ERP, are not released
here: nothing local says whether they would pass, and releasing them on every save or sync would
send the ERP the same request again and again. "Reintentar" is for those.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.context import AppContext
from connector.errors import ConnectorError
from connector.invoice_builder import LOCAL_INVOICE_REASONS, build_contact
from connector.invoicing import canonical_of
from connector.models import ChannelConnection, ERPConnection, Order
from connector.pipeline import CatalogRefreshes, process_order_safely
from connector.rules import InvoicingSettings, effective_settings
from connector.states import OrderState, transition
from mapping.catalog import get_cached_item
from mapping.resolver import LineMiss, resolve_line_sku

S = OrderState
# How many released orders one click or command takes through the pipeline before answering; the
# rest are due and the scheduler (or the next ``sync --once``) takes them in the same minute.
PROCESS_NOW_LIMIT = 100


@dataclass(frozen=True)
class MovedOrder:
    """An order a fix moved: its row id, marketplace number and the state it reached."""

    id: int
    external_id: str
    state: str
    reason: str


def local_blockers(session: Session, order: Order, erp: ERPConnection, settings: InvoicingSettings) -> list[str]:
    """Why ``order`` could not be invoiced now, judged without the ERP (empty: nothing local stops it)."""
    try:
        canonical = canonical_of(order)
    except ConnectorError as exc:
        return [exc.user_message]
    blockers = []
    for line in canonical.lines:
        result = resolve_line_sku(session, erp_connection_id=erp.id, channel_connection_id=order.channel_connection_id,
                                  line=line, match_by=settings.match_by)
        if isinstance(result, LineMiss):
            blockers.append(result.reason)
    try:
        build_contact(canonical, settings)
    except ConnectorError as exc:
        blockers.append(exc.user_message)
    if canonical.shipping_cost > 0 and settings.invoice_shipping:
        if not settings.shipping_item_id or get_cached_item(session, erp.id, settings.shipping_item_id) is None:
            blockers.append("Falta el producto que factura el envío.")
    return blockers


# The reasons the local checks write (matching: mapping/resolver.py; settings: connector/rules.py;
# the buyer and shipping: connector/invoice_builder.py). Stored reasons are text today; when they keep a
# code, this becomes a set of codes.
_LOCAL_REASON_STARTS = ("El SKU «", "La línea «", "La configuración de facturación no es válida",
                        *LOCAL_INVOICE_REASONS)


def _held_before_the_erp(order: Order) -> bool:
    """Whether the order's error came from a check made before any request to the ERP (an error the
    ERP gave, even on the way in — credentials, the catalog — is not released: only a person's
    "Reintentar" sends it again)."""
    return order.state_reason.startswith(_LOCAL_REASON_STARTS)


def release_unblocked(session: Session, account_id: int, *, channel_connection_id: int | None = None,
                      actor: str = "system", why: str = "") -> list[int]:
    """Move back to the pipeline every held order of the account (or of one channel connection) that
    nothing local stops any more. Returns their ids (oldest first); the caller commits."""
    erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account_id))
    if erp is None:
        return []
    query = select(Order).where(Order.account_id == account_id, Order.state == S.ERROR.value)
    if channel_connection_id is not None:
        query = query.where(Order.channel_connection_id == channel_connection_id)
    settings_of: dict[int, InvoicingSettings | None] = {}
    released = []
    for order in session.scalars(query.order_by(Order.id)):
        if order.channel_connection_id not in settings_of:
            connection = session.get(ChannelConnection, order.channel_connection_id)
            try:
                settings_of[order.channel_connection_id] = effective_settings(erp.settings,
                                                                              connection.settings_overrides)
            except ConnectorError:
                settings_of[order.channel_connection_id] = None
        settings = settings_of[order.channel_connection_id]
        if settings is None or not _held_before_the_erp(order):
            continue
        if local_blockers(session, order, erp, settings):
            continue
        order.next_attempt_at = None
        transition(session, order, S.RECEIVED, why or "Lo que retenía la orden ya está resuelto; se procesa de nuevo.",
                   actor=actor)
        released.append(order.id)
    return released


def process_now(ctx: AppContext, order_ids: list[int], *, limit: int = PROCESS_NOW_LIMIT) -> list[MovedOrder]:
    """Take up to ``limit`` orders through the pipeline now (the ERP window and outages respected:
    an order the window cannot take yet waits, due, with the reason). Returns where each one got."""
    refreshes = CatalogRefreshes()
    for order_id in order_ids[:limit]:
        process_order_safely(ctx, order_id, refreshes=refreshes)
    return describe(ctx, order_ids)


def describe(ctx: AppContext, order_ids: list[int]) -> list[MovedOrder]:
    if not order_ids:
        return []
    with ctx.db.session() as session:
        rows = session.scalars(select(Order).where(Order.id.in_(order_ids)).order_by(Order.id))
        return [MovedOrder(o.id, o.external_id, o.state, o.state_reason) for o in rows]


def release_fixed_everywhere(ctx: AppContext, account_id: int | None = None) -> list[int]:
    """:func:`release_unblocked` for one account or all of them (``sync --once`` before it processes
    due orders: a fix made elsewhere — a mapping, a product created in the ERP and now in the cached
    catalog — lets its held orders through in the same run)."""
    with ctx.db.session() as session:
        query = select(Order.account_id).distinct().where(Order.state == S.ERROR.value)
        if account_id is not None:
            query = query.where(Order.account_id == account_id)
        accounts = list(session.scalars(query))
    released: list[int] = []
    for account in accounts:
        with ctx.db.transaction() as session:
            released += release_unblocked(session, account, actor="sync")
    return released
