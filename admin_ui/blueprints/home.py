"""The start page: what needs attention, and the steps a new seller has left."""

from __future__ import annotations

from flask import current_app, render_template

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from channels.registry import CHANNELS, channel_class
from connector import services
from connector.errors import ConnectorError
from connector.states import ERROR_QUEUE_STATES, OrderState
from connector.sync_jobs import sync_status
from erp.registry import ERPS, erp_class

bp = signed_in_blueprint("home", __name__)


@bp.get("/")
def index():
    account = security.account_id()
    erp = services.find_erp_connection(ctx(), account)
    channels = services.list_channel_connections(ctx(), account)
    counts = services.count_orders_by_state(ctx(), account)
    auto_enabled = None
    if erp is not None:
        try:
            auto_enabled = services.show_settings(ctx(), account).enabled
        except ConnectorError:
            auto_enabled = None
    statuses = sync_status(ctx(), account, recent=1)
    last_runs = [s.last_run for s in statuses if s.last_run is not None]
    held = len(services.orders_held_by_outage(ctx(), account))
    return render_template(
        "home.html", erp=erp, channels=channels, counts=counts, auto_enabled=auto_enabled,
        error_queue=sum(counts.get(s.value, 0) for s in ERROR_QUEUE_STATES),
        invoiced=counts.get(OrderState.INVOICED.value, 0), total=sum(counts.values()), held=held,
        mismatches=len(services.list_mismatches(ctx(), account)),
        last_run=max(last_runs, key=lambda r: r.started_at) if last_runs else None,
        job=current_app.extensions["sync_jobs"].latest(account),
        # One registered ERP (channel): its own form, in one click; several: the connections page to choose.
        only_erp=erp_class(next(iter(ERPS))) if len(ERPS) == 1 else None,
        only_channel=channel_class(next(iter(CHANNELS))) if len(CHANNELS) == 1 else None,
    )
