"""Throughput and memory benchmark of the connector against the loopback sandbox.

Two modes:

* **throughput** (default): for each seller (its own Alegra user, its own Mercado Libre account, one
  :class:`sandbox.server.Sandbox` each) a backlog of ``--orders`` marketplace orders is pulled, then
  invoiced by ``--workers`` threads or processes while the sandbox enforces Alegra's per-user limit
  (``--limit`` requests per ``--window-seconds``). The connector is configured with the same rate
  (``erp_rate_limit_per_minute = limit * 60 / window``). Reported: invoiced orders per minute and ERP
  requests per minute as a ratio of the limit, ERP calls per invoiced order split by kind, 429s,
  connector CPU time per order and peak memory.
* **pull-only** (``--pull-only``): how much memory the connector needs to pull a large backlog from
  the Mercado Libre sandbox, measured at a small and a large size in fresh processes, to tell whether
  the peak stays flat.

The sandboxes run in their own process, so the CPU time and memory measured are the connector's
only. Every figure comes from a measurement of this run: the sandbox's request ``Counter``, the
connector's :class:`~connector.ratelimit.SharedRateLimit` counters, a recording HTTP transport on
the connector's ERP adapters, ``time.process_time`` and ``resource.getrusage``.

Examples::

    .venv/bin/python -m benchmarks.throughput --orders 300 --limit 15 --window-seconds 6
    .venv/bin/python -m benchmarks.throughput --sellers 3 --orders 150 --workers 3 --dispatch per-seller
    .venv/bin/python -m benchmarks.throughput --pull-only --orders 100000 --json-out pull.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import queue
import re
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("benchmarks.throughput")

# The auto-invoicing rules of the demo (tests/conftest.py DEMO_RULES), plus the shipping item.
RULES = ["enabled=true", "order_states=pending,shipped,completed", "invoice_status=open", "stamp=true",
         "match_by=barcode", "apply_taxes=true", "default_email=facturas@tienda.co"]
INVOICEABLE = ("matched", "variant", "shipping", "no_document")
ML_USER_ID_BASE = 187_000_000
LOOKUP_SEGMENTS = {"items", "warehouses", "price-lists", "taxes", "number-templates", "company"}
CATEGORIES = ("invoice_post", "contacts", "lookups", "reconcile", "other")
_MARKER = re.compile(r"\[CX-\d+-[^\]]+\]")


# -- measuring helpers ---------------------------------------------------------------------------


def rss_mb() -> float:
    """Current resident set size of this process, in MB (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """``ru_maxrss`` of this process in MB (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def category(method: str, path: str) -> str:
    """What an Alegra request is for, from its method and path (``/api/v1`` prefix optional)."""
    if path.startswith("/api/v1"):
        path = path[len("/api/v1"):]
    segment = path.strip("/").split("/")[0] if path.strip("/") else ""
    if segment == "invoices":
        if method == "POST" and path.rstrip("/") == "/invoices":
            return "invoice_post"
        return "reconcile" if method == "GET" else "other"
    if segment == "contacts":
        return "contacts"
    if segment in LOOKUP_SEGMENTS:
        return "lookups"
    return "other"


def by_category(counter: dict[str, int]) -> dict[str, int]:
    """A sandbox request Counter (``"POST /invoices"`` keys) summed by :func:`category`."""
    totals = dict.fromkeys(CATEGORIES, 0)
    for key, count in counter.items():
        method, _, path = key.partition(" ")
        totals[category(method, path)] += count
    return totals


def counter_diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}


class RecordingTransport(httpx.BaseTransport):
    """Wraps the real transport of the connector's adapters and notes every request it sends.

    ``records`` (when ``keep=True``): ``(sent, done, port, method, category, status, remaining)``.
    ``counts`` always: ``(port, category, status)`` -> n. Shared by several adapters, so ``close``
    leaves the pool open; :meth:`shutdown` closes it.
    """

    def __init__(self, *, keep: bool = True, classify: Callable[[str, str], str] | None = None):
        self.inner = httpx.HTTPTransport()
        self.keep = keep
        self.classify = classify or category
        self.records: list[tuple] = []
        self.counts: Counter = Counter()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.time()
        kind = self.classify(request.method, request.url.path)
        port = request.url.port
        self.sent += 1
        try:
            response = self.inner.handle_request(request)
        except Exception:
            self.counts[(port, kind, -1)] += 1
            if self.keep:
                self.records.append((sent, time.time(), port, request.method, kind, -1, None))
            raise
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        self.counts[(port, kind, response.status_code)] += 1
        if self.keep:
            self.records.append((sent, time.time(), port, request.method, kind, response.status_code,
                                 int(remaining) if remaining and remaining.isdigit() else None))
        return response

    def close(self) -> None:
        return None

    def shutdown(self) -> None:
        self.inner.close()


class RssSampler(threading.Thread):
    """Samples this process's RSS every ``interval`` seconds with a progress figure."""

    def __init__(self, progress: Callable[[], int], interval: float = 0.5):
        super().__init__(daemon=True, name="rss-sampler")
        self.progress = progress
        self.interval = interval
        self.samples: list[tuple[float, int, float]] = []
        self._halt = threading.Event()
        self._started_at = time.monotonic()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.samples.append((round(time.monotonic() - self._started_at, 2), self.progress(), round(rss_mb(), 1)))

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.samples.append((round(time.monotonic() - self._started_at, 2), self.progress(), round(rss_mb(), 1)))


# -- the sandbox host (its own process) ----------------------------------------------------------


def seller_sales(orders: int, seed: int, mix: str):
    """``orders`` sales of the sandbox's stream; ``invoiceable`` keeps only scenarios that get invoiced."""
    from sandbox.catalog import generate_sales

    if mix == "realistic":
        return generate_sales(orders, seed=seed)
    count = max(orders * 2, 10)
    while True:  # the stream is deterministic: a longer one starts with the same sales
        sales = [s for s in generate_sales(count, seed=seed) if s.scenario in INVOICEABLE]
        if len(sales) >= orders:
            return sales[:orders]
        count *= 2


def _sandbox_host(conn, sellers: list[dict]) -> None:
    """Serve one Sandbox per seller (own Alegra user, own ML account) until told to stop."""
    logging.basicConfig(level=logging.ERROR)
    from sandbox.knobs import Knobs
    from sandbox.mercadolibre import MercadoLibreState
    from sandbox.server import ML_CLIENT_ID, ML_CLIENT_SECRET, ML_REFRESH_TOKEN, Sandbox

    boxes = []
    try:
        for seller in sellers:
            box = Sandbox(order_count=0, seed=seller["seed"], alegra_knobs=Knobs(
                rate_limit_per_minute=seller["limit"], rate_window_seconds=seller["window"],
                latency_ms=seller["latency_ms"]))
            box.alegra_state.users = {seller["email"]: seller["token"]}
            box.ml_state = MercadoLibreState.seeded(
                seller_sales(seller["orders"], seller["seed"], seller["mix"]), user_id=seller["ml_user_id"],
                client_id=ML_CLIENT_ID, client_secret=ML_CLIENT_SECRET, refresh_token=ML_REFRESH_TOKEN)
            boxes.append(box.start())
        conn.send({"urls": [{"alegra": b.alegra_url, "ml": b.ml_url} for b in boxes]})
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send([_box_stats(b) for b in boxes])
            else:
                break
    finally:
        for box in boxes:
            box.stop()
        conn.close()


def _box_stats(box) -> dict:
    state = box.alegra_state
    with state.lock:
        markers = Counter(m for inv in state.invoices for m in set(_MARKER.findall(str(inv.get("observations") or ""))))
        return {"requests": dict(state.requests), "invoices": len(state.invoices), "contacts": len(state.contacts),
                "max_invoices_per_marker": max(markers.values(), default=0),
                "ml_orders": len(box.ml_state.orders)}


class SandboxHost:
    """The sandbox process seen from the benchmark: start, read the counters, stop."""

    def __init__(self, sellers: list[dict], *, start_timeout: float = 900):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_sandbox_host, args=(child, sellers), name="sandbox-host", daemon=True)
        self.process.start()
        if not self._conn.poll(start_timeout):
            self.process.kill()
            raise RuntimeError("the sandbox host did not start in time")
        self.urls: list[dict[str, str]] = self._conn.recv()["urls"]

    def stats(self) -> list[dict]:
        self._conn.send("stats")
        return self._conn.recv()

    def stop(self) -> None:
        try:
            self._conn.send("stop")
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


# -- connector side ------------------------------------------------------------------------------


def make_settings(kwargs: dict):
    from connector.settings import Settings

    return Settings(_env_file=None, **kwargs)


def connect_bench_seller(ctx, seller: dict, urls: dict[str, str], *, with_erp: bool = True) -> dict[str, int]:
    """An account with its own Alegra user and Mercado Libre account, and the demo's rules."""
    from connector import services
    from sandbox.server import ML_CLIENT_ID, ML_CLIENT_SECRET, ML_REFRESH_TOKEN

    account = services.create_account(ctx, f"Bench {seller['index']} {seller['run_id']}")
    ids = {"account_id": account.id}
    if with_erp:
        erp = services.connect_erp(ctx, account.id, "alegra", {"email": seller["email"], "token": seller["token"],
                                                               "country": "CO"}, base_url=urls["alegra"])
        ids["erp_connection_id"] = erp.id
    channel = services.connect_channel(ctx, account.id, "mercadolibre", {
        "client_id": ML_CLIENT_ID, "client_secret": ML_CLIENT_SECRET, "refresh_token": ML_REFRESH_TOKEN},
        base_url=urls["ml"])
    ids["channel_connection_id"] = channel.id
    if with_erp:
        shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
        services.update_settings(ctx, account.id, RULES + [f"shipping_item_id={shipping.erp_id}"])
    return ids


def erp_adapters(ctx, erp_connection_ids: list[int]) -> dict[int, Any]:
    """The context's cached adapter of each ERP connection (created here when missing)."""
    from connector.models import ERPConnection

    with ctx.db.session() as session:
        rows = [session.get(ERPConnection, i) for i in erp_connection_ids]
        return {row.id: ctx.erp_adapter(row) for row in rows}


def adapter_stats(adapters: dict[int, Any]) -> dict[str, dict]:
    return {str(erp_id): {"calls": a.calls, "rate_limit_waited_s": round(a.rate_limit.waited, 3),
                          "rate_limited_429": a.rate_limit.rate_limited} for erp_id, a in adapters.items()}


def invoice_loop(ctx, take: Callable[[], int | None]) -> Counter:
    """Process order ids until ``take`` returns None; like ``process_due_orders``, never stops on one order."""
    from sqlalchemy.orm.exc import StaleDataError

    from connector.pipeline import CatalogRefreshes, process_order

    refreshes = CatalogRefreshes()
    states: Counter = Counter()
    while (order_id := take()) is not None:
        try:
            states[process_order(ctx, order_id, refreshes=refreshes)] += 1
        except StaleDataError:
            states["busy"] += 1
        except Exception:  # noqa: BLE001 - counted and reported, the run goes on
            log.exception("order %s: unexpected error", order_id)
            states["crashed"] += 1
    return states


def _reporting_errors(target: Callable) -> Callable:
    """Run a child's body; a crash is sent back as ``{"_crash": traceback}`` instead of a silent hang."""

    def run(*args) -> None:
        results = args[-2]  # both children take (..., results, use_tracemalloc)
        try:
            target(*args)
        except BaseException:  # noqa: BLE001 - reported to the parent, which stops the run
            import traceback

            results.put({"_crash": traceback.format_exc()})
            raise

    return run


def process_worker_main(*args) -> None:
    _reporting_errors(_process_worker)(*args)


def pull_child_main(*args) -> None:
    _reporting_errors(_pull_child)(*args)


def collect(results, processes: list, count: int) -> list[dict]:
    """``count`` results from children; raises when one reports a crash or dies without answering."""
    collected: list[dict] = []
    while len(collected) < count:
        try:
            item = results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead and results.empty():
                raise RuntimeError(f"{dead[0].name} died (exit code {dead[0].exitcode})") from None
            continue
        if "_crash" in item:
            raise RuntimeError(f"a benchmark process failed:\n{item['_crash']}")
        collected.append(item)
    return collected


def _process_worker(settings_kwargs: dict, erp_connection_ids: list[int], tasks, dispatch: str,
                    max_sleep: float, results, use_tracemalloc: bool):
    """One invoicing worker process (spawned): its own context, HTTP pool and rate-limit state."""
    logging.basicConfig(level=logging.WARNING, format="%(processName)s %(levelname)s %(name)s: %(message)s")
    if use_tracemalloc:
        tracemalloc.start()
    from connector.context import AppContext

    recorder = RecordingTransport()
    ctx = AppContext.from_settings(make_settings(settings_kwargs), erp_transport=recorder)
    adapters = erp_adapters(ctx, erp_connection_ids)
    cpu0 = time.process_time()

    def take() -> int | None:
        return tasks.get()

    for adapter in adapters.values():  # sweeper: as a Celery worker, defer instead of sleeping long
        adapter.rate_limit.max_wait = max_sleep if dispatch == "sweeper" else None
    states = sweeper_worker_loop(ctx, take) if dispatch == "sweeper" else invoice_loop(ctx, take)
    cpu = time.process_time() - cpu0
    results.put({"states": dict(states), "cpu_s": cpu, "peak_rss_mb": peak_rss_mb(),
                 "tracemalloc_peak_mb": tracemalloc.get_traced_memory()[1] / 2**20 if use_tracemalloc else None,
                 "adapters": adapter_stats(adapters), "records": recorder.records})
    ctx.close()
    recorder.shutdown()


# -- the throughput benchmark --------------------------------------------------------------------


def prepare_database(args, workdir: Path) -> tuple[str, Callable[[], None]]:
    """The database URL to use and how to clean it up (a fresh PostgreSQL schema, or a SQLite file)."""
    if not args.database_url:
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    url = args.database_url
    if url.startswith("sqlite"):
        return url, lambda: None
    from sqlalchemy import create_engine, text

    engine_url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    engine = create_engine(engine_url)
    schema = f"bench_{secrets.token_hex(5)}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"

    def drop() -> None:
        if args.keep:
            return
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()

    return f"{url}{separator}options=-csearch_path%3D{schema}", drop


def seller_configs(args, *, orders: int, limit: int, window: float) -> list[dict]:
    run_id = secrets.token_hex(3)
    return [{"index": i, "run_id": run_id, "email": f"bench-{run_id}-{i}@tienda{i}.co",
             "token": f"bench-token-{secrets.token_hex(8)}", "ml_user_id": ML_USER_ID_BASE + i,
             "orders": orders, "seed": args.seed + i, "mix": args.mix, "limit": limit, "window": window,
             "latency_ms": args.latency_ms} for i in range(args.sellers)]


def connector_rate_per_minute(limit: int, window: float) -> int:
    return max(1, round(limit * 60 / window))


def run_throughput(args) -> dict:
    from sqlalchemy import func, select

    from connector.context import AppContext
    from connector.dispatch import due_order_ids
    from connector.models import Order
    from connector.sync import pull_channel_connection

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-throughput-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url, cleanup_db = prepare_database(args, workdir)
    from cryptography.fernet import Fernet

    per_minute = connector_rate_per_minute(args.limit, args.window_seconds)
    settings_kwargs = dict(data_dir=str(workdir), database_url=database_url, redis_url=args.redis_url,
                           mode="sandbox", secret_keys=Fernet.generate_key().decode(),
                           erp_rate_limit_per_minute=per_minute, log_level="WARNING",
                           dispatch_lease_seconds=10, rate_limit_max_sleep_seconds=args.max_sleep)
    sellers = seller_configs(args, orders=args.orders, limit=args.limit, window=args.window_seconds)
    result: dict[str, Any] = {"mode": "throughput", "config": {
        "sellers": args.sellers, "orders_per_seller": args.orders, "mix": args.mix, "workers": args.workers,
        "worker_kind": args.worker_kind, "dispatch": args.dispatch, "limit": args.limit,
        "window_seconds": args.window_seconds, "limit_per_minute": args.limit * 60 / args.window_seconds,
        "connector_rate_per_minute": per_minute, "latency_ms": args.latency_ms,
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "redis": bool(args.redis_url), "cpus": os.cpu_count(), "python": sys.version.split()[0]}}

    started = time.monotonic()
    host = SandboxHost(sellers)
    try:
        result["sandbox_start_s"] = round(time.monotonic() - started, 2)
        setup_ctx = AppContext.from_settings(make_settings(settings_kwargs))
        setup_ctx.db.migrate()
        t = time.monotonic()
        ids = [connect_bench_seller(setup_ctx, s, urls) for s, urls in zip(sellers, host.urls, strict=True)]
        setup_done_at = time.monotonic()
        result["setup_s"] = round(setup_done_at - t, 2)
        after_setup = host.stats()

        # Pull every seller's backlog (Mercado Libre only; no ERP call).
        cpu0, t = time.process_time(), time.monotonic()
        pulled = [pull_channel_connection(setup_ctx, i["channel_connection_id"]) for i in ids]
        result["pull"] = {"seconds": round(time.monotonic() - t, 2), "cpu_s": round(time.process_time() - cpu0, 3),
                          "orders": sum(p.pulled for p in pulled), "errors": [p.error for p in pulled if p.error]}
        setup_ctx.close()

        # A fresh server window for every seller before the clock starts (setup spent part of one).
        pause = max(0.0, args.window_seconds - (time.monotonic() - setup_done_at)) + 0.05
        time.sleep(pause)
        before = host.stats()
        order_ids = {i["account_id"]: due_order_ids(AppContext.from_settings(make_settings(settings_kwargs)),
                                                    i["account_id"], limit=10**9) for i in ids}
        run_ctx, recorder = None, None
        erp_ids = [i["erp_connection_id"] for i in ids]
        if args.worker_kind == "threads":
            recorder = RecordingTransport()
            run_ctx = AppContext.from_settings(make_settings(settings_kwargs), erp_transport=recorder)
            adapters = erp_adapters(run_ctx, erp_ids)  # built here, not raced by the threads
        if args.tracemalloc:
            tracemalloc.start()
        cpu0, wall0, t0 = time.process_time(), time.time(), time.monotonic()
        passes = []
        for _ in range(args.passes if args.dispatch != "sweeper" else 0):
            due = {a: lst for a, lst in order_ids.items() if lst}
            if not due:
                break
            if args.worker_kind == "threads":
                states, worker_stats = _run_threads(run_ctx, due, args)
            else:
                states, worker_stats = _run_processes(settings_kwargs, erp_ids, due, args)
            passes.append({"orders": sum(map(len, due.values())), "states": dict(states)})
            probe = AppContext.from_settings(make_settings(settings_kwargs))
            order_ids = {i["account_id"]: due_order_ids(probe, i["account_id"], limit=10**9) for i in ids}
            if worker_stats is not None:
                result.setdefault("worker_processes", []).extend(worker_stats)
        if args.dispatch == "sweeper":
            states, worker_stats = _run_sweeper(settings_kwargs, run_ctx, erp_ids, args)
            passes.append({"orders": sum(map(len, order_ids.values())), "states": dict(states)})
            if worker_stats is not None:
                result.setdefault("worker_processes", []).extend(worker_stats)
        elapsed = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        after = host.stats()

        if args.worker_kind == "threads":
            records = recorder.records
            adapter_figures = adapter_stats(adapters)
            peak = peak_rss_mb()
            traced = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
            run_ctx.close()
            recorder.shutdown()
        else:
            workers = result["worker_processes"]
            records = [r for w in workers for r in w.pop("records")]
            adapter_figures = {}
            for w in workers:
                for key, figures in w.pop("adapters").items():
                    total = adapter_figures.setdefault(key, Counter())
                    total.update(figures)
            adapter_figures = {k: dict(v) for k, v in adapter_figures.items()}
            cpu = sum(w["cpu_s"] for w in workers)
            peak = max(w["peak_rss_mb"] for w in workers)
            traced = max((w["tracemalloc_peak_mb"] or 0) for w in workers) if args.tracemalloc else None

        final_ctx = AppContext.from_settings(make_settings(settings_kwargs))
        with final_ctx.db.session() as session:
            end_states = dict(session.execute(select(Order.state, func.count()).group_by(Order.state)).all())
        final_ctx.db.dispose()
        result.update(summarise(args, sellers, host.urls, before, after, after_setup, records, adapter_figures,
                                elapsed=elapsed, wall0=wall0, cpu=cpu, peak=peak, traced=traced))
        result["passes"] = passes
        result["end_states"] = end_states
    finally:
        host.stop()
        cleanup_db()
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def _run_sweeper(settings_kwargs: dict, run_ctx, erp_ids: list[int], args) -> tuple[Counter, list[dict] | None]:
    """The production dispatch: a sweeper (:func:`connector.dispatch.dispatch_due_orders`, what beat's
    sweep task runs) fills one FIFO every ``--sweep-seconds``; workers take from it as Celery workers
    do (``mark_picked`` + ``process_order_safely``) and put an order aside rather than sleep on a
    spent window. Ends when no order is left in flight."""
    from connector.context import AppContext
    from connector.dispatch import dispatch_due_orders

    threads = args.worker_kind == "threads"
    if threads:
        fifo: Any = queue.Queue()
        for erp_id in erp_ids:  # as on a Celery worker: defer instead of sleeping long
            erp_adapters(run_ctx, [erp_id])[erp_id].rate_limit.max_wait = args.max_sleep
        sweeper_ctx = run_ctx
    else:
        mp = multiprocessing.get_context("spawn")
        fifo = mp.Queue()
        sweeper_ctx = AppContext.from_settings(make_settings(settings_kwargs))
    workers_done: Counter = Counter()
    lock = threading.Lock()

    def sweep() -> None:
        while True:
            dispatch_due_orders(sweeper_ctx, fifo.put)
            if _nothing_in_flight(sweeper_ctx):
                break
            time.sleep(args.sweep_seconds)
        for _ in range(args.workers):
            fifo.put(None)

    def thread_worker() -> None:
        states = sweeper_worker_loop(run_ctx, fifo.get)
        with lock:
            workers_done.update(states)

    sweeper = threading.Thread(target=sweep, name="sweeper")
    if threads:
        pool = [threading.Thread(target=thread_worker, name=f"invoicer-{n}") for n in range(args.workers)]
        for thread in [sweeper, *pool]:
            thread.start()
        for thread in [sweeper, *pool]:
            thread.join()
        return workers_done, None
    results = mp.Queue()
    processes = [mp.Process(target=process_worker_main, name=f"invoicer-{n}",
                            args=(settings_kwargs, erp_ids, fifo, "sweeper", args.max_sleep, results, args.tracemalloc))
                 for n in range(args.workers)]
    for process in processes:
        process.start()
    sweeper.start()
    stats = collect(results, processes, len(processes))
    sweeper.join()
    for process in processes:
        process.join()
    sweeper_ctx.close()
    for s in stats:
        workers_done.update(s["states"])
    return workers_done, stats


def _nothing_in_flight(ctx) -> bool:
    from sqlalchemy import func, select

    from connector.models import Order
    from connector.states import OrderState

    active = [OrderState.RECEIVED.value, OrderState.READY.value, OrderState.INVOICING.value,
              OrderState.WAITING_ERP.value]
    with ctx.db.session() as session:
        return not session.scalar(select(func.count()).select_from(Order).where(Order.state.in_(active)))


def sweeper_worker_loop(ctx, take: Callable[[], int | None]) -> Counter:
    """What a Celery worker does with each ``connector.process_order`` message."""
    from connector.dispatch import mark_picked
    from connector.pipeline import process_order_safely

    states: Counter = Counter()
    while (order_id := take()) is not None:
        mark_picked(ctx, order_id)
        states[process_order_safely(ctx, order_id)] += 1
    return states


def _dispatchers(due: dict[int, list[int]], workers: int, dispatch: str) -> list[list[int]]:
    """Which account queue each worker takes from: one shared FIFO, or each worker bound to a seller."""
    accounts = list(due)
    if dispatch == "queue":
        return [accounts] * workers
    return [[accounts[w % len(accounts)]] for w in range(workers)]


def _run_threads(ctx, due: dict[int, list[int]], args) -> tuple[Counter, None]:
    if args.dispatch == "queue":
        shared: queue.Queue = queue.Queue()
        for account in due:  # id order, as the sweeper enqueues them: one seller's backlog after another
            for order_id in due[account]:
                shared.put(order_id)
        queues = {a: shared for a in due}
    else:
        queues = {}
        for account, order_ids in due.items():
            queues[account] = queue.Queue()
            for order_id in order_ids:
                queues[account].put(order_id)
    totals: Counter = Counter()
    lock = threading.Lock()

    def worker(accounts: list[int]) -> None:
        q = queues[accounts[0]]

        def take() -> int | None:
            try:
                return q.get_nowait()
            except queue.Empty:
                return None

        states = invoice_loop(ctx, take)
        with lock:
            totals.update(states)

    threads = [threading.Thread(target=worker, args=(accounts,), name=f"invoicer-{n}")
               for n, accounts in enumerate(_dispatchers(due, args.workers, args.dispatch))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return totals, None


def _run_processes(settings_kwargs: dict, erp_ids: list[int], due: dict[int, list[int]], args):
    mp = multiprocessing.get_context("spawn")
    assignments = _dispatchers(due, args.workers, args.dispatch)
    if args.dispatch == "queue":
        shared = mp.Queue()
        queues = {a: shared for a in due}
        for account in due:
            for order_id in due[account]:
                shared.put(order_id)
    else:
        queues = {a: mp.Queue() for a in due}
        for account, order_ids in due.items():
            for order_id in order_ids:
                queues[account].put(order_id)
    for accounts in assignments:  # one end-of-work mark per worker on the queue it reads
        queues[accounts[0]].put(None)
    results = mp.Queue()
    processes = [mp.Process(target=process_worker_main, name=f"invoicer-{n}",
                            args=(settings_kwargs, erp_ids, queues[accounts[0]], args.dispatch, args.max_sleep,
                                  results, args.tracemalloc))
                 for n, accounts in enumerate(assignments)]
    for process in processes:
        process.start()
    stats = collect(results, processes, len(processes))
    for process in processes:
        process.join()
    totals: Counter = Counter()
    for s in stats:
        totals.update(s["states"])
    return totals, stats


def _steady_ratio(records: list[tuple], limit: int, window: float) -> float | None:
    """Accepted requests per second over complete server windows, as a ratio of limit/window.

    A server window starts with the answer whose ``X-Rate-Limit-Remaining`` is ``limit - 1``; the
    rate is measured from the second window's start to the last one's, so the first (possibly
    partial) and the last (cut short by the end of the backlog) do not count.
    """
    starts = sorted(r[0] for r in records if r[6] == limit - 1 and 200 <= r[5] < 300)
    if len(starts) < 4:
        return None
    first, last = starts[1], starts[-1]
    accepted = sum(1 for r in records if first <= r[0] < last and 200 <= r[5] < 300)
    return accepted / (last - first) / (limit / window)


def _window_figures(records: list[tuple], limit: int, window: float) -> dict | None:
    """How the server windows were used: their count, the mean time between the starts of
    complete windows (vs ``window``), and how long the connector took to spend each one."""
    starts = sorted(r[0] for r in records if r[6] == limit - 1 and 200 <= r[5] < 300)
    if len(starts) < 3:
        return None
    spent = sorted(r[1] for r in records if r[6] == 0 and 200 <= r[5] < 300)
    spans = [b - a for a, b in zip(starts[1:], starts[2:], strict=False)]
    bursts = []
    for a, b in zip(starts, starts[1:], strict=False):
        ends = [e for e in spent if a <= e < b]
        if ends:
            bursts.append(ends[0] - a)
    mean_span = sum(spans) / len(spans) if spans else None
    return {"windows": len(starts), "mean_span_s": round(mean_span, 3) if mean_span else None,
            "overshoot_s": round(mean_span - window, 3) if mean_span else None,
            "mean_time_to_spend_window_s": round(sum(bursts) / len(bursts), 3) if bursts else None}


def summarise(args, sellers, urls, before, after, after_setup, records, adapter_figures, *, elapsed, wall0, cpu,
              peak, traced) -> dict:
    limit, window = args.limit, args.window_seconds
    limit_per_minute = limit * 60 / window
    port_to_seller = {httpx.URL(u["alegra"]).port: s["index"] for s, u in zip(sellers, urls, strict=True)}
    per_seller = []
    totals = Counter()
    for seller, b, a in zip(sellers, before, after, strict=True):
        diff = counter_diff(a["requests"], b["requests"])
        kinds = by_category(diff)
        mine = [r for r in records if port_to_seller.get(r[2]) == seller["index"]]
        failed = Counter(r[4] for r in mine if not 200 <= r[5] < 300)
        retries = sum(failed.values())
        ok = {k: kinds[k] - failed.get(k, 0) for k in CATEGORIES}
        invoices = a["invoices"] - b["invoices"]
        requests = sum(diff.values())
        done = [r[1] for r in mine]
        seller_elapsed = (max(done) - wall0) if done else elapsed
        row = {
            "seller": seller["index"], "invoiced": invoices, "erp_requests": requests,
            "by_kind_ok": ok, "retries": retries, "http_429": sum(1 for r in mine if r[5] == 429),
            "sent_by_connector": len(mine), "elapsed_s": round(seller_elapsed, 2),
            "invoices_per_minute": round(invoices / seller_elapsed * 60, 2) if seller_elapsed else None,
            "steady_request_ratio": _ratio(_steady_ratio(mine, limit, window)),
            "windows": _window_figures(mine, limit, window),
            "setup_requests": sum(counter_diff(after_setup[seller["index"]]["requests"], {}).values()),
            "max_invoices_per_marker": a["max_invoices_per_marker"],
        }
        row["erp_requests_accepted"] = requests - row["http_429"]
        row["request_ratio"] = _ratio(row["erp_requests_accepted"] / seller_elapsed * 60 / limit_per_minute
                                      if seller_elapsed else None)
        row["invoice_ratio"] = _ratio(invoices / seller_elapsed * 60 / limit_per_minute if seller_elapsed else None)
        per_seller.append(row)
        totals.update({"invoiced": invoices, "requests": requests, "retries": retries, "http_429": row["http_429"],
                       "sent": len(mine), **{f"ok_{k}": v for k, v in ok.items()}})
    invoiced = totals["invoiced"]
    accepted = totals["requests"] - totals["http_429"]
    n = len(sellers)

    def per_order(value: float) -> float | None:
        return round(value / invoiced, 3) if invoiced else None

    steady = [r["steady_request_ratio"] for r in per_seller if r["steady_request_ratio"] is not None]
    return {
        "invoice_phase": {
            "elapsed_s": round(elapsed, 2), "invoiced": invoiced,
            "invoices_per_minute": round(invoiced / elapsed * 60, 2),
            "invoice_ratio_of_limit": _ratio(invoiced / elapsed * 60 / (n * limit_per_minute)),
            "erp_requests": totals["requests"], "erp_requests_accepted": accepted,
            "erp_requests_per_minute": round(accepted / elapsed * 60, 2),
            "request_ratio_of_limit": _ratio(accepted / elapsed * 60 / (n * limit_per_minute)),
            "steady_request_ratio_of_limit": round(sum(steady) / len(steady), 4) if steady else None,
            "connector_sent": totals["sent"],
            "connector_calls_counted_by_adapters": sum(f["calls"] for f in adapter_figures.values()),
        },
        "calls_per_invoiced_order": {
            "total": per_order(totals["requests"]),
            "invoice_post": per_order(totals["ok_invoice_post"]),
            "contacts": per_order(totals["ok_contacts"]),
            "lookups": per_order(totals["ok_lookups"]),
            "reconcile": per_order(totals["ok_reconcile"]),
            "other": per_order(totals["ok_other"]),
            "retries": per_order(totals["retries"]),
            "beyond_contacts": per_order(totals["requests"] - totals["ok_contacts"]),
        },
        "http_429": totals["http_429"],
        "rate_limit": {"rate_limited_429_seen_by_limiter": sum(f["rate_limited_429"] for f in adapter_figures.values()),
                       "waited_s": round(sum(f["rate_limit_waited_s"] for f in adapter_figures.values()), 2)},
        "cpu": {"seconds": round(cpu, 3), "ms_per_invoiced_order": round(cpu / invoiced * 1000, 2) if invoiced else None},
        "memory": {"peak_rss_mb": round(peak, 1), "tracemalloc_peak_mb": round(traced, 1) if traced else None},
        "exactly_once": {"max_invoices_per_marker": max(r["max_invoices_per_marker"] for r in per_seller)},
        "per_seller": per_seller,
    }


def _ratio(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


# -- the pull-only (memory) benchmark ------------------------------------------------------------


def _pull_child(settings_kwargs: dict, seller: dict, urls: dict, results, use_tracemalloc: bool) -> None:
    """Connect one seller's Mercado Libre account and pull its whole backlog, watching memory."""
    logging.basicConfig(level=logging.WARNING)
    from sqlalchemy import func, select

    from connector.context import AppContext
    from connector.models import Order
    from connector.sync import pull_channel_connection

    setup_ctx = AppContext.from_settings(make_settings(settings_kwargs))
    setup_ctx.db.migrate()
    ids = connect_bench_seller(setup_ctx, seller, urls, with_erp=False)
    counter = RecordingTransport(keep=False, classify=lambda _method, path: path.strip("/").split("/")[0])
    ctx = AppContext.from_settings(make_settings(settings_kwargs), channel_transport=counter)

    def enriched() -> int:  # one shipment GET per pulled order (every sandbox order has a shipment)
        return sum(n for (_, kind, _), n in counter.counts.items() if kind == "shipments")

    baseline = rss_mb()
    peak_before = peak_rss_mb()
    if use_tracemalloc:
        tracemalloc.start()
    sampler = RssSampler(enriched)
    sampler.start()
    cpu0, t0 = time.process_time(), time.monotonic()
    summary = pull_channel_connection(ctx, ids["channel_connection_id"])
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    sampler.stop()
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if use_tracemalloc else None
    with ctx.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(Order)) or 0
    requests = Counter()
    for (_, kind, _), n in counter.counts.items():
        requests[kind] += n
    results.put({"orders": seller["orders"], "pulled": summary.pulled, "stored": stored, "error": summary.error,
                 "elapsed_s": round(elapsed, 2), "cpu_s": round(cpu, 3),
                 "cpu_ms_per_order": round(cpu / summary.pulled * 1000, 3) if summary.pulled else None,
                 "baseline_rss_mb": round(baseline, 1), "peak_rss_before_pull_mb": round(peak_before, 1),
                 "peak_rss_mb": round(peak_rss_mb(), 1), "growth_mb": round(peak_rss_mb() - baseline, 1),
                 "tracemalloc_peak_mb": round(traced, 1) if traced else None,
                 "ml_requests": dict(requests), "rss_samples": _thin(sampler.samples, 12)})
    ctx.db.dispose()


def _thin(samples: list, keep: int) -> list:
    if len(samples) <= keep:
        return samples
    step = (len(samples) - 1) / (keep - 1)
    return [samples[round(i * step)] for i in range(keep)]


def run_pull_only(args) -> dict:
    sizes = sorted({int(s) for s in args.pull_sizes.split(",")}) if args.pull_sizes else \
        sorted({max(1, args.orders // 10), args.orders})
    result: dict[str, Any] = {"mode": "pull_only", "config": {
        "sizes": sizes, "mix": args.mix, "database": "postgresql" if args.database_url else "sqlite",
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "tracemalloc": args.tracemalloc}, "runs": []}
    from cryptography.fernet import Fernet

    mp = multiprocessing.get_context("spawn")
    for size in sizes:
        workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-pull-")) / f"pull-{size}"
        workdir.mkdir(parents=True, exist_ok=True)
        database_url, cleanup_db = prepare_database(args, workdir)
        settings_kwargs = dict(data_dir=str(workdir), database_url=database_url, redis_url=None, mode="sandbox",
                               secret_keys=Fernet.generate_key().decode(), log_level="WARNING")
        [seller] = seller_configs(argparse.Namespace(**{**vars(args), "sellers": 1}), orders=size, limit=0,
                                  window=60.0)
        t = time.monotonic()
        host = SandboxHost([seller])
        sandbox_s = time.monotonic() - t
        try:
            results = mp.Queue()
            child = mp.Process(target=pull_child_main, args=(settings_kwargs, seller, host.urls[0], results,
                                                         args.tracemalloc), name=f"pull-{size}")
            child.start()
            [run] = collect(results, [child], 1)
            child.join()
            run["sandbox_seed_s"] = round(sandbox_s, 2)
            run["sandbox_ml_orders"] = host.stats()[0]["ml_orders"]
            result["runs"].append(run)
            print(f"  pulled {run['pulled']} of {size} orders in {run['elapsed_s']} s, peak RSS "
                  f"{run['peak_rss_mb']} MB", file=sys.stderr, flush=True)
        finally:
            host.stop()
            cleanup_db()
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    runs = result["runs"]
    if len(runs) >= 2:
        small, big = runs[0], runs[-1]
        extra_orders = big["pulled"] - small["pulled"]
        growth = big["peak_rss_mb"] - small["peak_rss_mb"]
        result["verdict"] = {
            "small_orders": small["pulled"], "large_orders": big["pulled"],
            "peak_small_mb": small["peak_rss_mb"], "peak_large_mb": big["peak_rss_mb"],
            "extra_peak_mb": round(growth, 1),
            "kb_per_extra_order": round(growth * 1024 / extra_orders, 2) if extra_orders else None,
            # flat: the large pull needs at most 10% (or 20 MB) more than the small one
            "flat": growth <= max(20.0, 0.10 * small["peak_rss_mb"]),
        }
    return result


# -- output ----------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def print_throughput(result: dict) -> None:
    c, p, calls = result["config"], result["invoice_phase"], result["calls_per_invoiced_order"]
    rows = [
        ("sellers x orders", f"{c['sellers']} x {c['orders_per_seller']} ({c['mix']} mix)"),
        ("workers", f"{c['workers']} {c['worker_kind']}, dispatch={c['dispatch']}, "
                    f"{c['database']}{' + redis' if c['redis'] else ''}"),
        ("Alegra limit (sandbox)", f"{c['limit']} per {c['window_seconds']:g} s = {c['limit_per_minute']:g}/min "
                                   f"per seller; connector set to {c['connector_rate_per_minute']}/min"),
        ("pull (ML)", f"{result['pull']['orders']} orders in {result['pull']['seconds']} s"),
        ("invoice phase", f"{p['elapsed_s']} s, {p['invoiced']} invoiced, end states {result['end_states']}"),
        ("invoices / minute", f"{p['invoices_per_minute']} = {_pct(p['invoice_ratio_of_limit'])} of the limit"),
        ("ERP requests / minute", f"{p['erp_requests_per_minute']} accepted = {_pct(p['request_ratio_of_limit'])} "
                                  f"of the limit (complete windows: {_pct(p['steady_request_ratio_of_limit'])})"),
        ("ERP calls / invoiced order", f"{calls['total']}"),
        ("  invoice POSTs", f"{calls['invoice_post']}"),
        ("  contact calls", f"{calls['contacts']}"),
        ("  lookups (catalog, lists)", f"{calls['lookups']}"),
        ("  reconcile searches", f"{calls['reconcile']}"),
        ("  other", f"{calls['other']}"),
        ("  retries (429/5xx answers)", f"{calls['retries']}"),
        ("  beyond contact calls", f"{calls['beyond_contacts']}"),
        ("429s received", f"{result['http_429']} (limiter saw {result['rate_limit']['rate_limited_429_seen_by_limiter']},"
                          f" waited {result['rate_limit']['waited_s']} s)"),
        ("connector CPU / order", f"{result['cpu']['ms_per_invoiced_order']} ms ({result['cpu']['seconds']} s total)"),
        ("peak memory", f"{result['memory']['peak_rss_mb']} MB RSS"
                        + (f", tracemalloc {result['memory']['tracemalloc_peak_mb']} MB"
                           if result['memory']['tracemalloc_peak_mb'] else "")),
        ("invoices per marker (max)", f"{result['exactly_once']['max_invoices_per_marker']}"),
    ]
    if len(result["per_seller"]) > 1:
        for s in result["per_seller"]:
            rows.append((f"seller {s['seller']}", f"{s['invoiced']} invoiced in {s['elapsed_s']} s = "
                                                  f"{s['invoices_per_minute']}/min, requests {_pct(s['request_ratio'])} "
                                                  f"(windows {_pct(s['steady_request_ratio'])}), 429s {s['http_429']}"))
    _table("throughput", rows)


def print_pull(result: dict) -> None:
    rows = [("orders pulled", "ML requests", "seconds", "CPU ms/order", "RSS before", "peak RSS", "growth",
             "tracemalloc")]
    for r in result["runs"]:
        rows.append((str(r["pulled"]), str(sum(r["ml_requests"].values())), str(r["elapsed_s"]),
                     str(r["cpu_ms_per_order"]), f"{r['baseline_rss_mb']} MB", f"{r['peak_rss_mb']} MB",
                     f"{r['growth_mb']} MB", f"{r['tracemalloc_peak_mb']} MB" if r["tracemalloc_peak_mb"] else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print("\npull-only memory benchmark")
    for n, row in enumerate(rows):
        print("  " + " | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "-+-".join("-" * w for w in widths))
    verdict = result.get("verdict")
    if verdict:
        print(f"\n  peak {verdict['peak_small_mb']} MB at {verdict['small_orders']} orders -> {verdict['peak_large_mb']} MB "
              f"at {verdict['large_orders']}: +{verdict['extra_peak_mb']} MB ({verdict['kb_per_extra_order']} KB per "
              f"extra order) -> {'FLAT' if verdict['flat'] else 'NOT flat'}")


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    print("  " + "-" * (width + 40))
    for key, value in rows:
        print(f"  {key.ljust(width)} | {value}")
    print("  " + "-" * (width + 40))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See benchmarks/README.md and docs/benchmarks.md.")
    parser.add_argument("--sellers", type=int, default=1, help="sellers, each with its own sandbox (default 1)")
    parser.add_argument("--orders", type=int, default=300, help="backlog per seller (pull-only: the largest size)")
    parser.add_argument("--workers", type=int, default=None, help="concurrent invoicers (default: one per seller)")
    parser.add_argument("--worker-kind", choices=("threads", "processes"), default="threads",
                        help="threads share one context; processes are spawned, each with its own")
    parser.add_argument("--dispatch", choices=("sweeper", "queue", "per-seller"), default="sweeper",
                        help="sweeper: the production dispatch (connector.dispatch: round-robin across sellers, "
                             "within each seller's window; workers defer instead of sleeping); queue: one FIFO "
                             "of every due order in id order, workers sleep on spent windows (the old model); "
                             "per-seller: worker w only takes seller (w mod sellers)'s orders")
    parser.add_argument("--sweep-seconds", type=float, default=1.0, help="sweeper interval (sweeper dispatch)")
    parser.add_argument("--max-sleep", type=float, default=2.0,
                        help="longest a worker sleeps on a spent window before deferring (sweeper dispatch)")
    parser.add_argument("--limit", type=int, default=15, help="Alegra requests allowed per window (default 15)")
    parser.add_argument("--window-seconds", type=float, default=6.0,
                        help="the sandbox's rate window (default 6: 15 per 6 s keeps 150/minute)")
    parser.add_argument("--latency-ms", type=int, default=0, help="added latency of every Alegra answer")
    parser.add_argument("--mix", choices=("realistic", "invoiceable"), default="realistic",
                        help="realistic: the sandbox's stream (about 76%% invoiceable); invoiceable: only those")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--passes", type=int, default=3,
                        help="after a pass, orders due again right away get another (at most this many)")
    parser.add_argument("--database-url", help="PostgreSQL URL (a fresh schema is created); default a SQLite file")
    parser.add_argument("--redis-url", help="share the ERP rate limit through Redis (REDIS_URL)")
    parser.add_argument("--pull-only", action="store_true", help="memory benchmark of pulling a large backlog")
    parser.add_argument("--pull-sizes", help="comma-separated sizes (default: orders/10 and orders)")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--workdir", help="where the SQLite file and data go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory / PostgreSQL schema")
    parser.add_argument("--json-out", type=Path, help="write every figure as JSON here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = max(1, args.sellers)
    if args.sellers < 1 or args.orders < 1 or args.workers < 1 or args.limit < 1 or args.window_seconds <= 0:
        parser.error("sellers, orders, workers, limit and window must be positive")
    if args.dispatch == "per-seller" and args.workers < args.sellers:
        parser.error("--dispatch per-seller needs at least one worker per seller")
    rate = args.limit * 60 / args.window_seconds
    if not math.isclose(rate, round(rate)):
        print(f"note: {rate:.3f}/min is rounded to {round(rate)}/min for the connector", file=sys.stderr)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    result = run_pull_only(args) if args.pull_only else run_throughput(args)
    (print_pull if args.pull_only else print_throughput)(result)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2, default=str))
        print(f"\nfigures written to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
