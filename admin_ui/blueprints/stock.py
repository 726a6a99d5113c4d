"""A stock page per channel: the seller's stock settings (publish on/off, warehouse, safety buffer,
prices from a price list), the last push and the last comparison, the differences found and every
listing that cannot be published with its reason. Views only call the stock services."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, redirect_without_erp, signed_in_blueprint
from admin_ui.i18n import gettext as _
from connector import services
from connector.errors import ConnectorError
from connector.reasons import N_
from connector.stock_services import stock_page, stock_run, update_stock_settings

bp = signed_in_blueprint("stock", __name__, url_prefix="/stock")

STATE_LABELS = {"planned": N_("Por publicar"), "done": N_("Publicado"), "failed": "Con error", "skipped": N_("No se publica"),
                "uncertain": "Sin confirmar", "ambiguous": N_("Por confirmar"), "busy": "En curso", "pending": "Pendiente"}


def _page_or_404(channel_id: int):
    try:
        return stock_page(ctx(), security.account_id(), channel_id)
    except ConnectorError:
        abort(404)


def _choices() -> tuple[dict, str | None]:
    """The ERP's warehouses and price lists (two reads, not every list the settings page needs)."""
    try:
        adapter = ctx().erp_adapter(services.find_erp_connection(ctx(), security.account_id()))
        as_dicts = lambda items: [{"id": c.id, "name": c.name} for c in items]  # noqa: E731
        return {"warehouses": as_dicts(adapter.list_warehouses()),
                "price_lists": as_dicts(adapter.list_price_lists())}, None
    except ConnectorError as exc:
        return {"warehouses": [], "price_lists": []}, exc.user_message


@bp.get("/<int:channel_id>")
def page(channel_id: int):
    if (gone := redirect_without_erp()) is not None:
        return gone
    return _render(_page_or_404(channel_id))


def _render(view, *, error: str | None = None, status: int = 200, values: dict | None = None):
    choices, choices_error = _choices()
    return render_template("stock/page.html", view=view, values=values or view.settings.model_dump(mode="json"),
                           choices=choices, choices_error=choices_error, error=error,
                           state_labels=STATE_LABELS, channels=services.list_channel_connections(
                               ctx(), security.account_id())), status


@bp.post("/<int:channel_id>/settings")
def save_settings(channel_id: int):
    view = _page_or_404(channel_id)
    form = request.form
    values = {"enabled": "enabled" in form, "warehouse_id": form.get("warehouse_id", ""),
              "buffer": form.get("buffer", "0").strip() or "0", "sync_prices": "sync_prices" in form,
              "price_list_id": form.get("price_list_id", ""), "prices_include_tax": "prices_include_tax" in form}
    try:
        version = int(form.get("settings_version", ""))
    except ValueError:
        version = -1
    try:
        update_stock_settings(ctx(), security.account_id(), channel_id, values=values, expected_version=version)
    except ConnectorError as exc:
        return _render(view, error=exc.user_message, status=400, values=values)
    flash(_("Ajustes de stock guardados."), "success")
    return redirect(url_for("stock.page", channel_id=channel_id))


@bp.post("/<int:channel_id>/run")
def run(channel_id: int):
    _page_or_404(channel_id)
    dry_run = request.form.get("action") != "push"
    try:
        report = stock_run(ctx(), security.account_id(), channel_id, dry_run=dry_run, trigger="panel")[0]
    except ConnectorError as exc:
        flash(exc.user_message, "error")
        return redirect(url_for("stock.page", channel_id=channel_id))
    if report.deferred:
        flash(report.deferred, "warning")
    elif dry_run:
        flash(_("Comparación lista: %(count)s diferencias.", count=len(report.differences)), "info")
    else:
        flash(_("Stock publicado: %(written)s publicaciones actualizadas, %(failed)s con error.",
                written=report.written, failed=report.failed), "success" if not report.failed else "warning")
    return redirect(url_for("stock.page", channel_id=channel_id))
