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
import contextlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.host import (
    BUYER_KINDS,
    SandboxHost,
    adapter_stats,
    connect_bench_seller,
    connector_rate_per_minute,
    erp_adapters,
    make_settings,
    mirror_ready,
    prepare_database,
    seller_configs,
)
from benchmarks.measure import RecordingTransport, peak_rss_mb
from benchmarks.pull import print_pull, run_pull_only
from benchmarks.report import print_throughput, summarise
from benchmarks.workers import _run_processes, _run_sweeper, _run_threads

log = logging.getLogger("benchmarks.throughput")


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
        "sellers": args.sellers, "orders_per_seller": args.orders, "mix": args.mix, "buyers": args.buyers,
        "workers": args.workers,
        "worker_kind": args.worker_kind, "dispatch": args.dispatch, "limit": args.limit,
        "window_seconds": args.window_seconds, "limit_per_minute": args.limit * 60 / args.window_seconds,
        "connector_rate_per_minute": per_minute, "latency_ms": args.latency_ms,
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "redis": bool(args.redis_url), "cpus": os.cpu_count(), "python": sys.version.split()[0]}}

    started = time.monotonic()
    host = SandboxHost(sellers)
    served = contextlib.ExitStack()
    try:
        if args.mirror:
            # As in production with the mirror: the ERP-webhook endpoint (the admin UI's blueprint) served
            # by its own process context on loopback, and CONNECTOR_PUBLIC_URL pointing at it, so connecting
            # subscribes the ERP's webhooks and every notice the run causes is received and applied.
            from benchmarks.scenarios import served_webhooks

            web_ctx = served.enter_context(contextlib.closing(AppContext.from_settings(make_settings(settings_kwargs))))
            settings_kwargs["public_url"] = web_ctx.settings.public_url = served.enter_context(served_webhooks(web_ctx))
        result["sandbox_start_s"] = round(time.monotonic() - started, 2)
        setup_ctx = AppContext.from_settings(make_settings(settings_kwargs))
        setup_ctx.db.migrate()
        t = time.monotonic()
        ids = [connect_bench_seller(setup_ctx, s, urls) for s, urls in zip(sellers, host.urls, strict=True)]
        if args.mirror:
            result["mirror"] = [mirror_ready(setup_ctx, i["erp_connection_id"]) for i in ids]
            host.settle_webhooks()
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
        if args.mirror:  # the ERP's notices of what the run did (and the reads they cost) belong to the run
            from connector.webhooks import background_work

            result["webhooks_settled"] = host.settle_webhooks() and background_work.wait_idle(timeout=60)
            # What the periodic mirror round does next with a notice left pending (the echo of a contact
            # still being created when it arrived): counted too, in requests and CPU.
            from connector.mirror_events import process_mirror_events

            rounds_ctx = AppContext.from_settings(make_settings(settings_kwargs))
            result["pending_notices"] = [process_mirror_events(rounds_ctx, erp_id) for erp_id in erp_ids]
            rounds_ctx.close()
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
        served.close()
        host.stop()
        cleanup_db()
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


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
    parser.add_argument("--buyers", choices=BUYER_KINDS, default="mixed",
                        help="mixed: the stream's buyers (almost all new); new / known (the ERP already has the "
                             "contact) / final (no document: the final consumer): every sale's buyer of that kind")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=True,
                        help="run as a seller with the ERP mirror (default): the ERP-webhook endpoint served on "
                             "loopback and CONNECTOR_PUBLIC_URL set, the webhooks subscribed on connect and the "
                             "contacts import finished before the clock starts; --no-mirror: polling only")
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
