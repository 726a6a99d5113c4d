"""The dashboard: money invoiced per channel per day and week, orders by state, the age of the error
queue and the ERP's rate window, as server-drawn SVG; and the CSV downloads for the accountant."""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Response, flash, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.i18n import display_zone, format_money
from admin_ui.i18n import gettext as _
from admin_ui.svg_charts import BarRow, legend, stacked_bars
from connector.dashboard import build_dashboard
from connector.exports import KINDS, InvalidExport, export_csv, parse_range
from connector.reasons import N_
from connector.states import STATE_LABELS, OrderState

bp = signed_in_blueprint("dashboard", __name__, url_prefix="/dashboard")

EXPORT_LABELS = {"orders": "Órdenes", "invoices": N_("Facturas"), "credit-notes": "Notas crédito"}


def _zone() -> ZoneInfo:
    return display_zone()  # DISPLAY_TIMEZONE, else the zone of the country of the account's ERP


def _short_day(day) -> str:
    return f"{day.day:02d}/{day.month:02d}"


@bp.get("")
def index():
    board = build_dashboard(ctx(), security.account_id(), tz=_zone())
    money = lambda value: format_money(value, board.currency)  # noqa: E731
    names = [s.name for s in board.per_day.series]
    per_day = stacked_bars(
        [BarRow(_short_day(day), [s.amounts[i] for s in board.per_day.series])
         for i, day in enumerate(board.per_day.periods)],
        names, title=_("Facturado por día"), format_value=money)
    week_names = [s.name for s in board.per_week.series]
    per_week = stacked_bars(
        [BarRow(_short_day(day), [s.amounts[i] for s in board.per_week.series])
         for i, day in enumerate(board.per_week.periods)],
        week_names, title=_("Facturado por semana"), format_value=money)
    states = [(s, board.by_state.get(s.value, 0)) for s in OrderState if board.by_state.get(s.value)]
    by_state = stacked_bars([BarRow(_(STATE_LABELS[s]), [count]) for s, count in states], [_("Órdenes")],
                            title=_("Órdenes por estado"), format_value=str)
    today = board.generated_at.astimezone(_zone()).date()
    return render_template(
        "dashboard/index.html", board=board, per_day=per_day, per_week=per_week, by_state=by_state,
        day_legend=legend(names), week_legend=legend(week_names), has_money=any(board.per_week.totals),
        queue_age=board.error_queue.age(board.generated_at), export_kinds=[(k, EXPORT_LABELS[k]) for k in KINDS],
        default_from=(today - timedelta(days=today.day - 1)).isoformat(), default_to=today.isoformat())


@bp.get("/export")
def export():
    """The CSV of orders, invoices or credit notes of a range of days (both included)."""
    kind = request.args.get("kind", "")
    try:
        start, end = parse_range(request.args.get("from"), request.args.get("to"))
        buffer = io.StringIO()
        export_csv(ctx(), security.account_id(), kind, start, end, buffer, tz=_zone(), translate=_)
    except InvalidExport as exc:
        flash(_(exc.user_message), "error")
        return redirect(url_for("dashboard.index") + "#export")
    name = f"{kind}-{start.isoformat()}-{end.isoformat()}.csv"
    # A byte-order mark so spreadsheet programs read the accents as UTF-8.
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
