"""Background work: Celery tasks over Redis when ``REDIS_URL`` is set, an in-process loop otherwise.

Tasks are thin: they take ids, reload the row and call the plain functions in ``connector.sync``
and ``connector.pipeline`` (which tests call directly). Queue messages are only hints: the
sweeper (``connector.dispatch``) finds every due order in the database, so a lost message only
delays an order.
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery
from celery.signals import setup_logging, worker_process_init

from connector.alerts import check_alerts
from connector.context import AppContext
from connector.db import forget_connections_after_fork
from connector.dispatch import (
    dispatch_due_followups,
    dispatch_due_orders,
    handle_dispatched_order,
    mark_followup_handled,
)
from connector.followup import run_followup
from connector.logs import configure_logging, wants_json_logs
from connector.metrics import share_counts_through
from connector.pipeline import process_order_safely
from connector.settings import Settings, get_settings
from connector.sync import pull_channel_connection, sync_once

log = logging.getLogger(__name__)

_context: AppContext | None = None
_context_lock = threading.Lock()


def worker_context() -> AppContext:
    """The worker process's context, built on first use (after fork, never before)."""
    global _context
    with _context_lock:
        if _context is None:
            _context = AppContext.from_settings()
            share_counts_through(_context.settings.redis_url)  # /metrics sums every worker's calls
        return _context


@worker_process_init.connect
def _own_connections_after_fork(**_kwargs) -> None:
    global _context
    forget_connections_after_fork()
    share_counts_through(None)  # the parent's Redis connection is not this process's
    _context = None


if wants_json_logs():
    @setup_logging.connect
    def _json_logs(loglevel=None, **_kwargs) -> None:
        """Celery's worker and beat log through our JSON formatter instead of setting up their own."""
        configure_logging(loglevel)


def make_celery(settings: Settings) -> Celery:
    app = Celery("connector", broker=settings.redis_url or "memory://")
    app.conf.update(
        task_serializer="json", accept_content=["json"], task_ignore_result=True,
        task_acks_late=True,  # a task is acknowledged after it ran: a dead worker's task is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Above the longest task (a big pull), so Redis does not redeliver a task still running.
        broker_transport_options={"visibility_timeout": 3600},
        broker_connection_retry_on_startup=True,
        # A periodic message no worker started within its own interval is stale (the next one is on its
        # way): it expires instead of piling up in front of the orders while workers are busy or down.
        beat_schedule={
            "sync-all": {"task": "connector.sync_all_connections", "schedule": float(settings.sync_interval_seconds),
                         "options": {"expires": float(settings.sync_interval_seconds)}},
            "sweep": {"task": "connector.sweep_due_orders", "schedule": float(settings.sweep_interval_seconds),
                      "options": {"expires": float(settings.sweep_interval_seconds)}},
            # Alerts: the queue grew, e-invoices rejected; e-mailed at most once per kind per hour.
            "alerts": {"task": "connector.check_alerts", "schedule": float(settings.sweep_interval_seconds),
                       "options": {"expires": float(settings.sweep_interval_seconds)}},
            "prune": {"task": "connector.prune_expired", "schedule": float(settings.prune_interval_seconds),
                      "options": {"expires": float(settings.prune_interval_seconds)}},
            "mirror-subscriptions": {"task": "connector.check_mirror_subscriptions",
                                     "schedule": float(settings.mirror_check_interval_seconds),
                                     "options": {"expires": float(settings.mirror_check_interval_seconds)}},
            "mirror": {"task": "connector.run_mirror_work", "schedule": float(settings.mirror_work_interval_seconds),
                       "options": {"expires": float(settings.mirror_work_interval_seconds)}},
            "stock": {"task": "connector.sweep_stock", "schedule": float(settings.stock_interval_seconds),
                      "options": {"expires": float(settings.stock_interval_seconds)}},
        },
    )
    return app


celery_app = make_celery(get_settings())


@celery_app.task(name="connector.pull_channel_connection")
def pull_channel_connection_task(channel_connection_id: int) -> dict:
    """Pull one channel connection, then sweep at once so what it stored is handed out."""
    ctx = worker_context()
    summary = pull_channel_connection(ctx, channel_connection_id)
    if summary.new or summary.updated:
        sweep_due_orders_task.apply_async(expires=float(ctx.settings.sweep_interval_seconds))
    return {"pulled": summary.pulled, "error": summary.error, "busy": summary.busy}


@celery_app.task(name="connector.process_order")
def process_order_task(order_id: int) -> str:
    ctx = worker_context()
    return handle_dispatched_order(ctx, order_id, lambda oid: process_order_safely(ctx, oid))


@celery_app.task(name="connector.follow_up_invoice")
def follow_up_invoice_task(invoice_id: int) -> str:
    """What is due after an invoice: its e-invoice status, its delivery, its payment."""
    ctx = worker_context()
    try:
        return run_followup(ctx, invoice_id)
    finally:
        mark_followup_handled(ctx, invoice_id)


@celery_app.task(name="connector.handle_webhook_delivery")
def handle_webhook_delivery_task(webhook_delivery_id: int) -> str:
    """Fetch, store and process the order a recorded webhook delivery points at."""
    from connector.webhooks import handle_webhook_delivery

    return handle_webhook_delivery(worker_context(), webhook_delivery_id)


@celery_app.task(name="connector.sweep_due_orders")
def sweep_due_orders_task() -> int:
    """Enqueue the due orders (new, retry time reached, in-flight past its lease), fairly across
    sellers and within each seller's ERP rate-limit window (see connector/dispatch.py)."""
    ctx = worker_context()
    handed = dispatch_due_orders(ctx, process_order_task.delay)
    from connector.webhooks import requeue_deferred_deliveries

    requeue_deferred_deliveries(ctx)  # deliveries the broker refused while it was down
    # After the orders: follow-ups take only the room invoices leave in each seller's window.
    return handed + dispatch_due_followups(ctx, follow_up_invoice_task.delay)


@celery_app.task(name="connector.check_alerts")
def check_alerts_task() -> dict:
    """Raise what the database shows and e-mail the pending alerts (connector/alerts.py)."""
    return check_alerts(worker_context())


@celery_app.task(name="connector.sweep_stock")
def sweep_stock_task() -> dict:
    """Publish the ERP's stock: pending items, then the periodic full comparison (connector/stock.py).
    Low priority: a run waits while orders are due or the ERP's window is busy."""
    from connector.stock import sweep_stock

    return sweep_stock(worker_context())


@celery_app.task(name="connector.prune_expired")
def prune_expired_task() -> dict:
    """Forget old webhook deliveries and used or expired OAuth states (connector/housekeeping.py)."""
    from connector.housekeeping import prune_expired

    return prune_expired(worker_context()).as_dict()


@celery_app.task(name="connector.process_mirror_events")
def process_mirror_events_task(erp_connection_id: int) -> dict:
    """Re-read the records the ERP's webhooks named and update the mirror (connector/mirror_events.py)."""
    from connector.mirror_events import process_mirror_events

    return process_mirror_events(worker_context(), erp_connection_id)


@celery_app.task(name="connector.check_mirror_subscriptions")
def check_mirror_subscriptions_task() -> int:
    """Check the ERP's webhook subscriptions; subscribe again those the ERP dropped (connector/mirror.py)."""
    from connector.mirror import check_all_subscriptions

    return len(check_all_subscriptions(worker_context()))


@celery_app.task(name="connector.run_mirror_work")
def run_mirror_work_task() -> dict:
    """Pending mirror events, then the contacts import and catalog backstop from spare window room."""
    from connector.mirror_events import run_mirror_work

    return run_mirror_work(worker_context())


@celery_app.task(name="connector.sync_all_connections")
def sync_all_connections_task() -> int:
    from sqlalchemy import select

    from connector.models import ChannelConnection

    ctx = worker_context()
    with ctx.db.session() as session:
        ids = list(session.scalars(select(ChannelConnection.id).where(ChannelConnection.enabled.is_(True))))
    for connection_id in ids:  # stale once the next round is sent, like the round itself
        pull_channel_connection_task.apply_async((connection_id,), expires=float(ctx.settings.sync_interval_seconds))
    return len(ids)


def run_embedded_worker(ctx: AppContext, *, interval: float, stop: threading.Event | None = None,
                        iterations: int | None = None) -> None:
    """The embedded default: pull and process in this process every ``interval`` seconds."""
    stop = stop or threading.Event()
    done = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            summary = sync_once(ctx)
            log.info("sync: pulled %s, processed %s, error queue %s", summary.pulled, summary.processed,
                     summary.error_queue)
            from connector.mirror import check_all_subscriptions
            from connector.mirror_events import run_mirror_work

            check_all_subscriptions(ctx)  # the ERP mirror: subscriptions, then spare-room reads
            run_mirror_work(ctx)
        except Exception:  # noqa: BLE001 - the loop must survive anything and try again
            log.exception("embedded sync failed")
        done += 1
        if iterations is not None and done >= iterations:
            return
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
