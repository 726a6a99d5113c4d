"""The error queue, the orders an ERP outage holds, SKU mismatches, and the catalog search behind the
item pickers."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.i18n import gettext as _
from admin_ui.i18n import ngettext
from connector import services
from connector.errors import ConnectorError
from connector.states import OrderState
from erp.registry import erp_class

bp = signed_in_blueprint("errors", __name__)


def _channel_names() -> dict[int, str]:
    return {c.id: c.name for c in services.list_channel_connections(ctx(), security.account_id())}


@bp.get("/errors")
def queue():
    account = security.account_id()
    queue = services.error_queue(ctx(), account)
    # Rejected e-invoices are apart from the orders that could not be invoiced: another fix, another button.
    rejected = [o for o in queue if o.state == OrderState.REJECTED]
    return render_template("errors/queue.html", orders=[o for o in queue if o.state != OrderState.REJECTED],
                           rejected=rejected,
                           held=services.orders_held_by_outage(ctx(), account), channel_names=_channel_names(),
                           has_erp=services.find_erp_connection(ctx(), account) is not None)


def _flash_results(results: dict, none_message: str) -> None:
    if not results:
        flash(none_message, "success")
        return
    invoiced = sum(o.state == OrderState.INVOICED for o in results.values())
    waiting = len(results) - invoiced
    if waiting:
        flash(ngettext("%(num)s orden facturada; %(waiting)s siguen pendientes (mira su motivo).",
                       "%(num)s órdenes facturadas; %(waiting)s siguen pendientes (mira su motivo).",
                       invoiced, waiting=waiting), "warning")
    else:
        flash(ngettext("%(num)s orden facturada.", "%(num)s órdenes facturadas.", invoiced), "success")


@bp.post("/errors/retry")
def retry_queue():
    try:
        results = services.retry_error_queue(ctx(), security.account_id(), actor=security.actor())
    except ConnectorError as exc:
        flash(exc.user_message, "error")
    else:
        _flash_results(results, _("La cola de errores está vacía."))
    return redirect(url_for("errors.queue"))


@bp.post("/errors/retry-held")
def retry_held():
    try:
        results = services.retry_orders_held_by_outage(ctx(), security.account_id(), actor=security.actor())
    except ConnectorError as exc:
        flash(exc.user_message, "error")
    else:
        _flash_results(results, _("No hay órdenes esperando al ERP."))
    return redirect(url_for("errors.queue"))


@bp.get("/mismatches")
def mismatches():
    account = security.account_id()
    return render_template("errors/mismatches.html", mismatches=services.list_mismatches(ctx(), account),
                           channel_names=_channel_names(),
                           has_erp=services.find_erp_connection(ctx(), account) is not None)


@bp.post("/mismatches/map")
def map_mismatch():
    """Map one marketplace SKU to an ERP item; by default invoice every order it was blocking."""
    sku = request.form.get("sku_key", "").strip()
    item_id = next((v.strip() for v in reversed(request.form.getlist("item_id")) if v.strip()), "")
    channel = request.form.get("channel", "").strip()
    if not item_id:
        erp = services.find_erp_connection(ctx(), security.account_id())
        flash(_("Elige el producto de %(erp)s para el SKU %(sku)s.", sku=sku,
                erp=erp_class(erp.kind).display_name if erp else _("el ERP")), "error")
        return redirect(url_for("errors.mismatches"))
    try:
        mapping, results = services.map_sku(ctx(), security.account_id(), sku, item_id, channel_ref=channel or None,
                                            actor=security.actor(), invoice="invoice" in request.form)
    except services.NotFoundLocally:
        raise
    except ConnectorError as exc:
        flash(exc.user_message, "error")
        return redirect(url_for("errors.mismatches"))
    flash(_("SKU %(sku)s asignado a «%(item)s».", sku=sku, item=mapping.erp_item_name or mapping.erp_item_id),
          "success")
    if results:
        _flash_results(results, "")
    return redirect(url_for("errors.mismatches"))


@bp.get("/catalog/search")
def catalog_search():
    """The pickers' type-ahead: ERP items by reference, barcode, name or id (JSON)."""
    if services.find_erp_connection(ctx(), security.account_id()) is None:
        return jsonify({"error": _("Primero conecta tu ERP.")}), 409
    text = request.args.get("q", "").strip()
    if len(text) < 2:
        return jsonify({"items": []})
    items = services.search_catalog(ctx(), security.account_id(), text[:100])
    return jsonify({"items": [{"id": i.erp_id, "name": i.name, "reference": i.reference, "barcodes": i.barcodes,
                               "kind": i.kind, "active": i.active} for i in items]})
