"""The in-process scenarios of ``benchmarks.goals``: reads per ambiguous outcome, catalog requests in
steady state, and paid → invoiced latency through the marketplaces' webhooks.

Each builds its own world — a :class:`sandbox.server.Sandbox` served on loopback threads, a fresh
SQLite database, one seller with the demo's rules — and measures the connector as it is, through its
public functions only (``process_order``, ``ensure_catalog``'s path, the webhook endpoint and the
embedded scheduler), so the same scenario runs on the code of any commit. Figures come from the
sandbox's own request counter and from the moment the Alegra sandbox stored each invoice.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

AMBIGUOUS_MARKER_READS = "GET /invoices"


@contextmanager
def _world(*, limit: int = 0, window: float = 60.0, rate_per_minute: int = 6000, extra_settings: dict | None = None,
           ml_sales=None, mirror: bool = True):
    """A started sandbox (its Mercado Libre store selling ``ml_sales``) and a connector context on a
    fresh SQLite file (both torn down after). ``mirror``: as a production seller with the ERP mirror, the
    connector's webhook endpoint is served on loopback and ``public_url`` points at it (so connecting
    subscribes the ERP's webhooks; :func:`_connect` then finishes the contacts import)."""
    from cryptography.fernet import Fernet

    from benchmarks.host import make_settings
    from connector.context import AppContext
    from sandbox.knobs import Knobs
    from sandbox.server import Sandbox

    box = Sandbox(order_count=0, alegra_knobs=Knobs(rate_limit_per_minute=limit, rate_window_seconds=window,
                                                     stamp_answer_delay=0.0))
    if ml_sales is not None:  # before start(): the served app keeps the state it was made with
        from sandbox.mercadolibre import MercadoLibreState
        from sandbox.server import ML_CLIENT_ID, ML_CLIENT_SECRET, ML_REFRESH_TOKEN, ML_USER_ID

        box.ml_state = MercadoLibreState.seeded(ml_sales, user_id=ML_USER_ID, client_id=ML_CLIENT_ID,
                                                client_secret=ML_CLIENT_SECRET, refresh_token=ML_REFRESH_TOKEN)
    box.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-goals-"))
    settings = make_settings(dict(data_dir=str(workdir), database_url=f"sqlite:///{workdir / 'goals.sqlite3'}",
                                  mode="sandbox", secret_keys=Fernet.generate_key().decode(),
                                  erp_rate_limit_per_minute=rate_per_minute, log_level="WARNING",
                                  **(extra_settings or {})))
    ctx = AppContext.from_settings(settings)
    ctx.db.migrate()
    try:
        if mirror:
            with served_webhooks(ctx) as url:
                ctx.settings.public_url = url
                yield box, ctx
        else:
            yield box, ctx
    finally:
        ctx.close()
        box.stop()


def _connect(ctx, box, channel: str) -> dict[str, int]:
    """An account with the sandbox's Alegra user, one channel and the demo's rules (+ shipping item)."""
    from benchmarks.host import RULES
    from connector import services
    from sandbox import server

    account = services.create_account(ctx, f"Goals {channel} {time.monotonic_ns()}")
    erp = services.connect_erp(ctx, account.id, "alegra", {"email": server.ALEGRA_EMAIL, "token": server.ALEGRA_TOKEN,
                                                           "country": "CO"}, base_url=box.alegra_url)
    if channel == "shopify":
        connection = services.connect_channel(ctx, account.id, "shopify", {
            "shop": server.SHOPIFY_SHOP, "access_token": server.SHOPIFY_ACCESS_TOKEN,
            "webhook_secret": server.SHOPIFY_WEBHOOK_SECRET}, base_url=box.shopify_url)
    else:
        connection = services.connect_channel(ctx, account.id, "mercadolibre", {
            "client_id": server.ML_CLIENT_ID, "client_secret": server.ML_CLIENT_SECRET,
            "refresh_token": server.ML_REFRESH_TOKEN}, base_url=box.ml_url)
    shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
    services.update_settings(ctx, account.id, RULES + [f"shipping_item_id={shipping.erp_id}"])
    if ctx.settings.public_url:  # the mirror: contacts imported, webhooks subscribed and listed
        from benchmarks.host import mirror_ready

        mirror_ready(ctx, erp.id)
        box.alegra_state.webhooks.wait_idle(30)
    return {"account_id": account.id, "erp_connection_id": erp.id, "channel_connection_id": connection.id}


def _sales(count: int, *, seed: int, buyers: str, now: bool = False):
    from benchmarks.host import seller_sales
    from sandbox.catalog import BOGOTA

    sales = seller_sales(count, seed, "invoiceable", buyers)
    if now:
        sales = [replace(s, created_at=datetime.now(BOGOTA)) for s in sales]
    return sales


def _order_ids(ctx, channel_connection_id: int) -> list[int]:
    from sqlalchemy import select

    from connector.models import Order

    with ctx.db.session() as session:
        return list(session.scalars(select(Order.id).where(Order.channel_connection_id == channel_connection_id)
                                    .order_by(Order.id)))


def _state_of(ctx, order_id: int) -> str:
    from connector.models import Order

    with ctx.db.session() as session:
        return session.get(Order, order_id).state


def _markers_max(box) -> int:
    from benchmarks.host import _MARKER

    with box.alegra_state.lock:
        markers = Counter(m for inv in box.alegra_state.invoices
                          for m in set(_MARKER.findall(str(inv.get("observations") or ""))))
    return max(markers.values(), default=0)


# -- reads per ambiguous outcome -------------------------------------------------------------------


def _seed_other_invoices(box, count: int, day: str) -> None:
    """``count`` earlier invoices of the final consumer on ``day`` (another shop's, a counter sale...):
    the volume a marker search has to look through."""
    from sandbox.alegra_invoices import store_invoice
    from sandbox.catalog import FINAL_CONSUMER_ID

    state = box.alegra_state
    with state.lock:
        client = next(c for c in state.contacts.values()
                      if (c.get("identificationObject") or {}).get("number") == FINAL_CONSUMER_ID)
        item = next(i for i in state.items.values() if i["type"] == "product")
        for n in range(count):
            store_invoice(state, {"date": day, "dueDate": day, "client": {"id": client["id"]}, "status": "draft",
                                  "items": [{"id": item["id"], "price": 1000, "quantity": 1}],
                                  "observations": f"Venta de mostrador {n}"}, box.alegra_knobs)


def run_ambiguity(*, others: int = 300, warmup: int = 5, committed: int = 10, not_committed: int = 10,
                  seed: int = 11, mirror: bool = True) -> dict[str, Any]:
    """Final-consumer orders whose invoice POST loses its answer, half after Alegra committed it and half
    before, with ``others`` invoices of the same contact that day: ERP reads to settle each one."""
    from connector.pipeline import process_order
    from connector.sync import pull_channel_connection
    from sandbox.catalog import BOGOTA

    total = warmup + committed + not_committed
    with _world(extra_settings={"reconcile_delay_seconds": 0, "circuit_threshold": 10**6}, mirror=mirror,
                ml_sales=_sales(total, seed=seed, buyers="final")) as (box, ctx):
        ids = _connect(ctx, box, "mercadolibre")
        _seed_other_invoices(box, others, datetime.now(BOGOTA).date().isoformat())
        pull_channel_connection(ctx, ids["channel_connection_id"])
        orders = _order_ids(ctx, ids["channel_connection_id"])
        first, lost_after, lost_before = (orders[:warmup], orders[warmup:warmup + committed],
                                          orders[warmup + committed:total])
        for order_id in first:  # the connector has invoiced this contact before (steady state)
            process_order(ctx, order_id)
        knobs = box.alegra_knobs
        for rate, batch in (("reset_after_commit_rate", lost_after), ("reset_before_commit_rate", lost_before)):
            knobs.update({rate: 1.0})
            for order_id in batch:
                process_order(ctx, order_id)
            knobs.update({rate: 0.0})
        ambiguous = [o for o in lost_after + lost_before if _state_of(ctx, o) == "invoicing"]
        before = box.alegra_state.count(AMBIGUOUS_MARKER_READS)
        time.sleep(0.05)
        settled = Counter(process_order(ctx, order_id) for order_id in ambiguous)
        reads = box.alegra_state.count(AMBIGUOUS_MARKER_READS) - before
        for order_id in lost_before:  # provably not created: invoiced now, once
            process_order(ctx, order_id)
        adapters = [a for _, a in getattr(ctx, "_erp_adapters", {}).values()]
        search = getattr(adapters[0], "marker_search", None) if adapters else None
        return {"others_same_contact": others, "ambiguous": len(ambiguous), "settled": dict(settled),
                "marker_reads": reads, "reads_per_ambiguous": round(reads / len(ambiguous), 2) if ambiguous else None,
                "full_scans": getattr(search, "full_scans", None),
                "end_states": dict(Counter(_state_of(ctx, o) for o in orders)),
                "max_invoices_per_marker": _markers_max(box)}


# -- catalog requests in steady state ----------------------------------------------------------------


def _grow_catalog(box, items: int) -> int:
    """Copies of a simple item until the Alegra sandbox holds ``items`` items."""
    import copy

    state = box.alegra_state
    with state.lock:
        model = next(i for i in state.items.values() if i["type"] == "product")
        next_id = max(state.items) + 1
        while len(state.items) < items:
            clone = copy.deepcopy(model)
            clone.update(id=next_id, name=f"Artículo de relleno {next_id}", reference=f"RELLENO-{next_id}",
                         customFields=[])
            state.items[next_id] = clone
            next_id += 1
        return len(state.items)


def run_catalog(*, items: int = 3000, seed: int = 13, mirror: bool = True) -> dict[str, Any]:
    """ERP catalog reads an hour of steady invoicing costs: the catalog is made as old as the connector
    lets it get (``catalog_max_age_seconds``; an hour by default) and one order is processed."""
    from sqlalchemy import update

    from connector.models import ERPConnection, utcnow
    from connector.pipeline import process_order
    from connector.sync import pull_channel_connection

    with _world(ml_sales=_sales(2, seed=seed, buyers="final"), mirror=mirror) as (box, ctx):
        size = _grow_catalog(box, items)
        ids = _connect(ctx, box, "mercadolibre")
        pull_channel_connection(ctx, ids["channel_connection_id"])
        first, second = _order_ids(ctx, ids["channel_connection_id"])[:2]
        process_order(ctx, first)  # catalog read at connection time; nothing stale yet
        max_age = int(getattr(ctx.settings, "catalog_max_age_seconds", 3600) or 3600)
        with ctx.db.transaction() as session:
            session.execute(update(ERPConnection).where(ERPConnection.id == ids["erp_connection_id"])
                            .values(catalog_refreshed_at=utcnow() - timedelta(seconds=max_age + 1)))
        before = Counter(box.alegra_state.requests)
        process_order(ctx, second)
        diff = Counter(box.alegra_state.requests)
        diff.subtract(before)
        reads = sum(n for key, n in diff.items() if key.startswith("GET /items"))
        per_hour = reads * 3600 / max_age
        return {"catalog_items": size, "catalog_max_age_s": max_age, "item_reads_after_max_age": reads,
                "catalog_requests_per_hour": round(per_hour, 1)}


# -- latency: paid -> invoice created ------------------------------------------------------------------


class _InvoiceClock:
    """When the Alegra sandbox stored each invoice, by the marker in its observations (the sandbox runs
    in this process: its ``store_invoice`` is wrapped for the run)."""

    def __init__(self):
        import sandbox.alegra as alegra_module

        self._module = alegra_module
        self._original = alegra_module.store_invoice
        self.stored: dict[str, float] = {}

        def timed(state, body, knobs):
            invoice = self._original(state, body, knobs)
            self.stored.setdefault(str(body.get("observations") or ""), time.monotonic())
            return invoice

        alegra_module.store_invoice = timed

    def when(self, marker: str) -> float | None:
        return next((t for text, t in list(self.stored.items()) if marker in text), None)

    def close(self) -> None:
        self._module.store_invoice = self._original


@contextmanager
def served_webhooks(ctx):
    """The connector's webhook endpoint (the admin UI's blueprint) on a loopback port."""
    from flask import Flask
    from werkzeug.serving import WSGIRequestHandler, make_server

    from admin_ui.webhooks import register_webhooks

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    app = Flask("bench-webhooks")
    register_webhooks(app, ctx)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="bench-webhooks")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    if len(values) == 1:
        return {"p50": round(values[0], 3), "p95": round(values[0], 3), "p99": round(values[0], 3),
                "max": round(values[0], 3)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p95": round(cuts[94], 3), "p99": round(cuts[98], 3),
            "max": round(max(values), 3)}


def run_latency(*, room_sales: int = 30, room_interval: float = 2.0, backlog_sales: int = 100,
                limit: int = 15, window: float = 6.0, buyers: str = "new", seed: int = 17,
                timeout: float = 600.0, mirror: bool = True) -> dict[str, Any]:
    """Sales paid in the Shopify sandbox, delivered at once as signed webhooks to the connector's endpoint
    with the embedded scheduler running (the embedded default, SQLite): seconds from the sale being
    paid to the Alegra sandbox storing its invoice — one sale every ``room_interval`` s (the window has
    room), then ``backlog_sales`` at once."""
    from connector.demo_channels import subscribe_sandbox_webhooks
    from connector.models import ChannelConnection
    from connector.scheduler import EmbeddedScheduler, embedded_jobs
    from connector.webhooks import background_work

    per_minute = max(1, round(limit * 60 / window))
    clock = _InvoiceClock()
    try:
        with _world(limit=limit, window=window, rate_per_minute=per_minute, mirror=mirror) as (box, ctx):
            ids = _connect(ctx, box, "shopify")
            with ctx.db.session() as session:
                connection = session.get(ChannelConnection, ids["channel_connection_id"])
                session.expunge(connection)
            scheduler = EmbeddedScheduler(ctx, embedded_jobs(ctx.settings)).start()
            try:
                with contextlib.nullcontext(ctx.settings.public_url) as url:  # served by _world
                    subscribe_sandbox_webhooks(ctx, box, [connection], url)
                    time.sleep(window)  # setup spent part of a window: start on a fresh one
                    room = _deliver(box, clock, ids, _sales(room_sales, seed=seed, buyers=buyers, now=True),
                                    interval=room_interval, timeout=timeout)
                    time.sleep(window)
                    backlog = _deliver(box, clock, ids,
                                       _sales(backlog_sales, seed=seed + 1, buyers=buyers, now=True)[:backlog_sales],
                                       interval=0.0, timeout=timeout, first_number=10_000)
            finally:
                scheduler.stop()
                background_work.wait_idle(timeout=60)
            return {"buyers": buyers, "limit": limit, "window_s": window, "with_room": room, "backlog": backlog,
                    "webhook_outcomes": _delivery_outcomes(ctx), "max_invoices_per_marker": _markers_max(box)}
    finally:
        clock.close()


def _delivery_outcomes(ctx) -> dict[str, int]:
    """How the connector recorded the deliveries (``deferred``: its hand-off was full)."""
    from sqlalchemy import func, select

    from connector.models import WebhookDelivery

    with ctx.db.session() as session:
        return {str(outcome): n for outcome, n in session.execute(
            select(WebhookDelivery.outcome, func.count()).group_by(WebhookDelivery.outcome)).all()}


def _deliver(box, clock: _InvoiceClock, ids: dict[str, int], sales, *, interval: float, timeout: float,
             first_number: int = 0) -> dict[str, Any]:
    """Add each sale to the Shopify sandbox (it delivers the signed webhook at once), then wait for the
    invoices; seconds from each sale to its invoice."""
    paid: dict[str, float] = {}
    answers = Counter()
    for n, sale in enumerate(sales):
        sale = replace(sale, number=first_number + n)
        started = time.monotonic()
        order_id = box.shopify_state.add_sale(sale)
        delivery = box.shopify_state.sender.last()
        answers[str((delivery.answer or {}).get("status") if isinstance(delivery.answer, dict) else delivery.status)] += 1
        paid[f"[CX-{ids['channel_connection_id']}-{order_id}]"] = started
        if interval:
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(clock.when(m) is None for m in paid):
        time.sleep(0.1)
    latencies = sorted(clock.when(m) - t for m, t in paid.items() if clock.when(m) is not None)
    return {"sales": len(paid), "invoiced": len(latencies), "webhook_answers": dict(answers),
            "seconds": _percentiles(latencies)}
