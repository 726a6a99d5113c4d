"""The pull-only benchmark: how much memory pulling a large backlog takes, at two sizes, each in a fresh process."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
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
    SandboxHost,
    _reporting_errors,
    collect,
    connect_bench_seller,
    make_settings,
    prepare_database,
    seller_configs,
)
from benchmarks.measure import RecordingTransport, RssSampler, _thin, peak_rss_mb, rss_mb


def pull_child_main(*args) -> None:
    _reporting_errors(_pull_child)(*args)


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
