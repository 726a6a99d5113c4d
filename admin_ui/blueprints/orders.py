"""Orders: the list with filters, one order's detail (lines, ERP items, invoice, trail) and "Facturar"."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import abort, flash, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.i18n import display_zone, said
from admin_ui.i18n import gettext as _
from connector import bulk_actions, services
from connector.errors import ConnectorError
from connector.followup_view import invoice_after_view
from connector.item_creation import create_item_for_line, propose_item
from connector.money_explained import SOURCE_TEXT, WHY_TEXT
from connector.money_view import order_money
from connector.refunds import STATE_LABELS as REFUND_STATE_LABELS
from connector.states import SETTLED_STATES, STATE_LABELS, OrderState

bp = signed_in_blueprint("orders", __name__, url_prefix="/orders")

PAGE_SIZE = 50
MAX_PAGE = 100_000  # 5 million orders deep; beyond it a page number is a typo (or a probe)
# Marketplace sales are all in this range; a date outside it is a typo and would overflow a datetime.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=display_zone())


def _parse_day(raw: str, errors: list[str]) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors.append(_("La fecha «%(value)s» no es válida (usa AAAA-MM-DD).", value=raw))
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errors.append(_("La fecha «%(value)s» está fuera del rango admitido (%(first)s a %(last)s).", value=raw,
                        first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat()))
        return None
    return day


@bp.get("")
def index():
    account = security.account_id()
    channels = services.list_channel_connections(ctx(), account)
    args = request.args
    filters = {"channel": args.get("channel", ""), "state": args.get("state", ""), "from": args.get("from", ""),
               "to": args.get("to", ""), "q": args.get("q", "").strip()}
    errors: list[str] = []
    channel_id = int(filters["channel"]) if filters["channel"].isdigit() else None
    if channel_id is not None and channel_id not in {c.id for c in channels}:
        errors.append(_("Ese canal no es de tu cuenta."))
        channel_id = -1  # nothing of another account is listed
    state = filters["state"] if filters["state"] in OrderState._value2member_map_ else None
    day_from, day_to = _parse_day(filters["from"], errors), _parse_day(filters["to"], errors)
    if day_from and day_to and day_from > day_to:
        errors.append(_("La fecha «Desde» (%(start)s) es posterior a «Hasta» (%(end)s): no hay días entre ellas. "
                        "Se muestran las órdenes sin ese rango; cambia una de las dos fechas.",
                        start=filters["from"], end=filters["to"]))
        day_from = day_to = None
    raw_page = args.get("page", "1")
    page = min(MAX_PAGE, max(1, int(raw_page))) if raw_page.isdigit() and len(raw_page) < 12 else 1
    query = dict(states=[state] if state else None, channel_connection_id=channel_id,
                 created_from=_local_midnight(day_from) if day_from else None,
                 created_to=_local_midnight(day_to + timedelta(days=1)) if day_to else None,
                 text=filters["q"] or None)
    orders = services.list_orders(ctx(), account, **query, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    has_next = len(orders) > PAGE_SIZE
    total = services.count_orders(ctx(), account, **query) if page > 1 or has_next or not orders else len(orders)
    last_page = max(1, -(-total // PAGE_SIZE))
    beyond = page > 1 and not orders and total > 0
    return render_template("orders/list.html", orders=orders[:PAGE_SIZE], channels=channels, filters=filters,
                           errors=errors, page=page, has_next=has_next, states=list(OrderState), total=total,
                           last_page=last_page, beyond=beyond)


@bp.post("/bulk")
def bulk():
    """"Facturar seleccionadas" / "Reintentar": the picked orders, one result per order on a page."""
    action = request.form.get("action", "")
    raw = request.form.getlist("order_id")
    ids = [int(v) for v in raw if v.strip().isdigit() and len(v.strip()) < 12]
    back = security.safe_next(request.form.get("next"), url_for("orders.index"))
    if action not in bulk_actions.ACTIONS or not ids:
        flash(_("Elige al menos una orden y una acción."), "error")
        return redirect(back)
    ignored = len(raw) - len(ids)
    too_many = max(0, len(set(ids)) - bulk_actions.MAX_BULK_ORDERS)
    outcomes = bulk_actions.run_bulk(ctx(), security.account_id(), ids, action, actor=security.actor())
    return render_template("orders/bulk_result.html", outcomes=outcomes, action=action, back=back,
                           ignored=ignored, too_many=too_many,
                           invoiced=sum(o.state == OrderState.INVOICED for o in outcomes))


# What a person may ask for after the invoice, by the invoice's situation ("Reenviar", "Expedir"...).
FOLLOWUP_ACTIONS = {"resend": "Reenviar la factura electrónica", "stamp": "Expedir factura electrónica",
                    "payment": "Registrar el pago", "delivery": "Enviar al comprador"}


def _followup_actions(order, after: dict) -> list[tuple[str, str]]:
    if order.invoice is None:
        return []
    if order.state == OrderState.REJECTED:
        return [("resend", FOLLOWUP_ACTIONS["resend"])]
    actions = []
    if after["legal_status"] == "not_electronic" and order.invoice.status == "draft":
        actions.append("stamp")
    if after["payment"] is None and after["payment_status"] in (None, "failed", "uncertain", "skipped"):
        actions.append("payment")
    if after["delivery"] is None or after["delivery"]["status"] in ("failed", "uncertain", "skipped"):
        actions.append("delivery")
    return [(kind, FOLLOWUP_ACTIONS[kind]) for kind in actions]


@bp.get("/<int:order_id>")
def detail(order_id: int):
    order = services.get_order(ctx(), order_id, security.account_id())
    after = invoice_after_view(order.invoice) if order.invoice is not None else None
    return render_template("orders/detail.html", order=order, can_invoice=order.state not in SETTLED_STATES,
                           after=after, actions=_followup_actions(order, after or {}),
                           credit_notes=services.credit_notes_of(ctx(), [order.id])[order.id],
                           refund_states=REFUND_STATE_LABELS, money=order_money(ctx(), order.id, security.account_id()),
                           MONEY_WHY_TEXT=WHY_TEXT, MONEY_SOURCE_TEXT=SOURCE_TEXT)


@bp.post("/<int:order_id>/followup/<kind>")
def followup(order_id: int, kind: str):
    """"Reenviar" a rejected e-invoice after a fix, or ask for a step after the invoice now."""
    if kind not in FOLLOWUP_ACTIONS:
        abort(404)
    back = security.safe_next(request.form.get("next"), url_for("orders.detail", order_id=order_id))
    try:
        if kind == "resend":
            order = services.invoice_orders(ctx(), [order_id], account_ref=security.account_id(),
                                            actor=security.actor())[order_id]
        else:
            order = services.request_followups(ctx(), [order_id], kind, account_ref=security.account_id(),
                                               actor=security.actor())[order_id]
    except services.NotFoundLocally:
        raise
    except ConnectorError as exc:
        flash(exc.user_message, "error")
        return redirect(back)
    last = said(order.activity[-1]) if order.activity else ""  # in the reader's language
    flash(last or _("Hecho."), "error" if order.state == OrderState.REJECTED else "success")
    return redirect(back)


@bp.get("/<int:order_id>/invoice.pdf")
def invoice_pdf(order_id: int):
    """The invoice's PDF: a fresh (short-lived) link from the ERP, asked for when the person clicks."""
    try:
        url = services.invoice_pdf_url(ctx(), order_id, security.account_id())
    except services.NotFoundLocally:
        raise
    except ConnectorError as exc:
        flash(exc.user_message, "error")
        return redirect(url_for("orders.detail", order_id=order_id))
    return redirect(url)


def picked_items(form) -> dict[str, str]:
    """``item[<sku key>]`` fields of a "Facturar" form: the ERP item picked for each unmatched SKU."""
    picks = {}
    for key, values in form.lists():
        chosen = [v.strip() for v in values if v.strip()]  # without JavaScript a typed id follows the hidden one
        if key.startswith("item[") and key.endswith("]") and chosen:
            picks[key[5:-1]] = chosen[-1]
    return picks


@bp.post("/<int:order_id>/invoice")
def invoice(order_id: int):
    """The "Facturar" button: remember the picked items (if any) and invoice this order now."""
    back = security.safe_next(request.form.get("next"), url_for("orders.detail", order_id=order_id))
    try:
        order, others = services.invoice_with_picked_items(ctx(), security.account_id(), order_id,
                                                           picked_items(request.form), actor=security.actor())
    except services.NotFoundLocally:
        raise
    except ConnectorError as exc:
        flash(exc.user_message, "error")
        return redirect(back)
    if order.state == OrderState.INVOICED:
        number = order.invoice.number if order.invoice else ""
        flash(_("Orden %(order)s facturada: factura %(number)s.", order=order.external_id, number=number), "success")
    else:
        flash(_("La orden %(order)s no se pudo facturar: %(reason)s", order=order.external_id,
                reason=said(order)), "error")
    flash_others(others)
    return redirect(back)


@bp.route("/<int:order_id>/create-item", methods=["GET", "POST"])
def create_item(order_id: int):
    """"Crear en el ERP": a form prefilled from the marketplace line; on confirmation the product is
    created (once), mapped, and the orders the SKU held are invoiced."""
    sku = (request.values.get("sku") or "").strip()
    order = services.get_order(ctx(), order_id, security.account_id())
    try:
        proposal = propose_item(ctx(), security.account_id(), order_id, sku)
    except services.NotFoundLocally:
        raise
    except ConnectorError as exc:
        flash(exc.user_message, "error")
        return redirect(url_for("orders.detail", order_id=order_id))
    form = {"name": proposal.name, "code": proposal.code, "price": str(proposal.price), "tax_id": proposal.tax_id}
    error = None
    if request.method == "POST":
        form = {key: request.form.get(key, "") for key in form}
        try:
            created = create_item_for_line(ctx(), security.account_id(), order_id, sku, actor=security.actor(), **form)
        except services.NotFoundLocally:
            raise
        except ConnectorError as exc:
            error = exc.user_message
        else:
            invoiced = sum(1 for state in created.invoiced.values() if state == OrderState.INVOICED)
            how = _("ya existía en el ERP con ese código y se usó") if created.found_existing else _("creado en el ERP")
            flash(_("Producto «%(name)s» %(how)s; %(count)s órdenes facturadas.", name=created.item.name, how=how,
                    count=invoiced), "success")
            return redirect(url_for("orders.detail", order_id=order_id))
    return render_template("orders/create_item.html", proposal=proposal, form=form, error=error,
                           order_external_id=order.external_id)


def flash_others(others) -> None:
    """The other orders a fix moved: which were invoiced too, and where the rest stand."""
    invoiced = [o for o in others if o.state == OrderState.INVOICED]
    if invoiced:
        flash(_("También se facturaron: %(orders)s.", orders=", ".join(f"#{o.external_id}" for o in invoiced)),
              "success")
    rest = [o for o in others if o.state != OrderState.INVOICED]
    if rest:
        flash(_("También se procesaron, sin factura todavía: %(orders)s.", orders=", ".join(
            f"#{o.external_id} ({_(STATE_LABELS.get(OrderState(o.state), o.state))}: {o.reason})" for o in rest)),
            "warning")
