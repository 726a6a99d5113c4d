"""Issue 13's goals, measured: ``python -m benchmarks.goals``.

One command runs every measurement the goals are checked by and prints each figure next to the
goal — and next to the figure of another commit when ``--before FILE`` names the JSON that command
wrote there (``--json-out``):

* **requests per invoice by buyer kind** and **invoices a minute at the limit**, 429s and **CPU per
  invoiced order**: :func:`benchmarks.throughput.run_throughput` once per buyer kind (``--buyers new``,
  ``known``: the ERP already has the contact, ``final``: the final consumer) on SQLite, and the
  known-buyer run again on PostgreSQL (``--database-url``) for its CPU figure;
* **reads per ambiguous outcome**, **catalog requests an hour in steady state** and **paid → invoiced
  latency** (with room in the window, and under a backlog): :mod:`benchmarks.scenarios`.

"Invoices a minute at the limit" is the limit × the share of it the connector used over complete
server windows ÷ requests per invoice: what a seller with a backlog gets, without the first window's
free burst a short run enjoys (``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.goals")

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

# (key, label, goal text, check) — check(value) says whether the goal is met.
GOALS: list[tuple[str, str, str, Any]] = [
    ("new.requests_per_invoice", "new buyer: requests / invoice", "<= 2.05", lambda v: v <= 2.05),
    ("known.requests_per_invoice", "known buyer: requests / invoice", "<= 1.02", lambda v: v <= 1.02),
    ("final.requests_per_invoice", "final consumer: requests / invoice", "<= 1.02", lambda v: v <= 1.02),
    ("new.invoices_per_minute_at_limit", "new buyer: invoices / min at 150/min", ">= 72", lambda v: v >= 72),
    ("known.invoices_per_minute_at_limit", "known buyer: invoices / min at 150/min", ">= 145", lambda v: v >= 145),
    ("final.invoices_per_minute_at_limit", "final consumer: invoices / min at 150/min", ">= 145",
     lambda v: v >= 145),
    ("http_429", "429s received (all runs)", "0", lambda v: v == 0),
    ("catalog.catalog_requests_per_hour", "catalog requests / hour, steady state", "0", lambda v: v == 0),
    ("ambiguity.reads_per_ambiguous", "reads per ambiguous outcome", "<= 2", lambda v: v <= 2),
    ("latency.with_room.seconds.p50", "paid -> invoiced p50, room in window (s)", "", None),
    ("latency.with_room.seconds.p95", "paid -> invoiced p95, room in window (s)", "<= 5", lambda v: v <= 5),
    ("latency.with_room.seconds.p99", "paid -> invoiced p99, room in window (s)", "", None),
    ("latency.backlog.seconds.p50", "paid -> invoiced p50, backlog (s)", "", None),
    ("latency.backlog.seconds.p95", "paid -> invoiced p95, backlog (s)", "", None),
    ("latency.backlog.seconds.max", "paid -> invoiced max, backlog (s)", "", None),
    ("cpu_ms.sqlite", "CPU ms / invoiced order, SQLite (known, median)", "<= 10", lambda v: v <= 10),
    ("cpu_ms.postgresql", "CPU ms / invoiced order, PostgreSQL (known, median)", "<= 10", lambda v: v <= 10),
    ("max_invoices_per_marker", "invoices per order marker (max, all runs)", "1", lambda v: v == 1),
]


def _throughput(args, buyers: str, database_url: str | None) -> dict:
    from benchmarks.throughput import parse_args, run_throughput

    argv = ["--orders", str(args.orders), "--mix", "invoiceable", "--buyers", buyers, "--limit", str(args.limit),
            "--window-seconds", str(args.window_seconds), "--seed", str(args.seed),
            "--mirror" if args.mirror else "--no-mirror"]
    if database_url:
        argv += ["--database-url", database_url]
    return run_throughput(parse_args(argv))


def _kind_figures(run: dict, limit_per_minute: float) -> dict:
    calls = run["calls_per_invoiced_order"]
    mirror = run.get("mirror") or [{}]
    phase = run["invoice_phase"]
    per_invoice = calls["total"]
    steady = phase.get("steady_request_ratio_of_limit")
    at_limit = (limit_per_minute * steady / per_invoice) if steady and per_invoice else phase["invoices_per_minute"]
    return {"requests_per_invoice": per_invoice, "contacts_per_invoice": calls["contacts"],
            "invoices_per_minute_phase": phase["invoices_per_minute"],
            "invoices_per_minute_at_limit": round(at_limit, 1),
            "share_of_limit": round(at_limit / limit_per_minute, 4),
            "http_429": run["http_429"], "cpu_ms": run["cpu"]["ms_per_invoiced_order"],
            "invoiced": phase["invoiced"], "max_invoices_per_marker": run["exactly_once"]["max_invoices_per_marker"],
            "mirror": bool(run.get("mirror")), "contacts_imported": mirror[0].get("contacts_imported"),
            "webhooks_healthy": mirror[0].get("webhooks_healthy"), "webhooks_settled": run.get("webhooks_settled")}


def run_goals(args) -> dict:
    from benchmarks import scenarios

    limit_per_minute = args.limit * 60 / args.window_seconds
    result: dict[str, Any] = {"config": {"orders": args.orders, "limit": args.limit, "window_seconds": args.window_seconds,
                                         "limit_per_minute": limit_per_minute, "seed": args.seed,
                                         "mirror": args.mirror},
                              "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    only = set(args.only.split(",")) if args.only else None

    def wanted(part: str) -> bool:
        return only is None or part in only

    markers, http_429 = [], 0
    cpu, cpu_runs = {}, {}

    def throughput(key: str, kind: str, database_url: str | None, runs: int) -> None:
        """The run's figures (its first run), and its CPU as the median of ``runs`` runs: one run's CPU
        moves by a fifth or more from one run to the next on this shared machine."""
        nonlocal http_429
        figures = []
        for n in range(runs):
            log.warning("throughput, %s buyers (%s)%s", kind, "PostgreSQL" if database_url else "SQLite",
                        f", run {n + 1} of {runs}" if runs > 1 else "")
            figures.append(_kind_figures(_throughput(args, kind, database_url), limit_per_minute))
            markers.append(figures[-1]["max_invoices_per_marker"])
            http_429 += figures[-1]["http_429"]
        result[key] = figures[0]
        if kind == "known":
            database = "postgresql" if database_url else "sqlite"
            cpu_runs[database] = [f["cpu_ms"] for f in figures]
            cpu[database] = round(statistics.median(cpu_runs[database]), 2)

    for kind in ("new", "known", "final"):
        if wanted(kind):
            throughput(kind, kind, None, args.cpu_runs if kind == "known" else 1)
    if wanted("postgresql") and args.database_url:
        throughput("known_postgresql", "known", args.database_url, args.cpu_runs)
    result["cpu_ms"] = cpu
    result["cpu_ms_runs"] = cpu_runs
    if wanted("ambiguity"):
        log.warning("ambiguous outcomes")
        result["ambiguity"] = scenarios.run_ambiguity(others=args.ambiguity_others, mirror=args.mirror)
        markers.append(result["ambiguity"]["max_invoices_per_marker"])
    if wanted("catalog"):
        log.warning("catalog in steady state")
        result["catalog"] = scenarios.run_catalog(items=args.catalog_items, mirror=args.mirror)
    if wanted("latency"):
        log.warning("latency through webhooks")
        result["latency"] = scenarios.run_latency(room_sales=args.room_sales, backlog_sales=args.backlog_sales,
                                                  limit=args.limit, window=args.window_seconds,
                                                  mirror=args.mirror)
        markers.append(result["latency"]["max_invoices_per_marker"])
    result["http_429"] = http_429
    result["max_invoices_per_marker"] = max(markers, default=None)
    return result


def _get(figures: dict | None, key: str):
    value: Any = figures or {}
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _text(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_goals(result: dict, before: dict | None) -> None:
    rows = [("figure", "before", "now", "goal", "met")]
    for key, label, goal, check in GOALS:
        now, then = _get(result, key), _get(before, key)
        met = "" if check is None or now is None else ("yes" if check(now) else "NO")
        rows.append((label, _text(then), _text(now), goal, met))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print()
    for n, row in enumerate(rows):
        print("  " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  " + "-+-".join("-" * w for w in widths))
    kinds = [k for k in ("new", "known", "final", "known_postgresql") if k in result]
    if kinds:
        mirrored = [k for k in kinds if result[k].get("mirror")]
        print("\n  mirror: " + (("on in " + ", ".join(f"{k} (contacts imported {result[k]['contacts_imported']}, "
                                                        f"webhooks healthy {result[k]['webhooks_healthy']}, "
                                                        f"notices settled {result[k]['webhooks_settled']})"
                                                        for k in mirrored)) if mirrored else "off (polling only)"))
    runs = result.get("cpu_ms_runs") or {}
    if any(len(v) > 1 for v in runs.values()):
        print("  CPU ms / invoiced order, each run: " + "; ".join(
            f"{database} {', '.join(_text(v) for v in values)}" for database, values in runs.items()))
    amb = result.get("ambiguity")
    if amb:
        print(f"\n  ambiguity: {amb['ambiguous']} ambiguous outcomes (half committed, half not), "
              f"{amb['others_same_contact']} other invoices of the same contact that day; "
              f"day-by-day scans: {_text(amb.get('full_scans'))}")
    lat = result.get("latency")
    if lat:
        print(f"  latency: {lat['with_room']['invoiced']}/{lat['with_room']['sales']} with room, "
              f"{lat['backlog']['invoiced']}/{lat['backlog']['sales']} in the backlog invoiced; "
              f"webhook answers {lat['with_room']['webhook_answers']} / {lat['backlog']['webhook_answers']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.goals", description=__doc__.split("\n\n")[0],
                                     epilog="See docs/benchmarks.md.")
    parser.add_argument("--orders", type=int, default=60, help="orders per buyer-kind throughput run (default 60)")
    parser.add_argument("--limit", type=int, default=15, help="Alegra requests per window (default 15)")
    parser.add_argument("--window-seconds", type=float, default=6.0, help="window (default 6: 150/min scaled)")
    parser.add_argument("--database-url", default=PG_URL,
                        help=f"PostgreSQL for the CPU figure (default {PG_URL}; '' skips it)")
    parser.add_argument("--ambiguity-others", type=int, default=300,
                        help="invoices of the final consumer already in the ERP that day (default 300)")
    parser.add_argument("--catalog-items", type=int, default=3000, help="catalog size (default 3000)")
    parser.add_argument("--room-sales", type=int, default=30, help="sales paid one every 2 s (default 30)")
    parser.add_argument("--backlog-sales", type=int, default=100, help="sales paid at once (default 100)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=True,
                        help="every run as a seller with the ERP mirror (default): CONNECTOR_PUBLIC_URL set, the "
                             "ERP-webhook endpoint served, subscribed on connect, the contacts import finished "
                             "first; --no-mirror: polling only, as before the mirror")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cpu-runs", type=int, default=3,
                        help="known-buyer runs on each database; the CPU figure is their median (default 3)")
    parser.add_argument("--only", help="comma-separated parts: new,known,final,postgresql,ambiguity,catalog,latency")
    parser.add_argument("--before", type=Path, help="JSON of another commit's run, printed as the 'before' column")
    parser.add_argument("--json-out", type=Path, help="write every figure as JSON here")
    args = parser.parse_args(argv)
    if args.cpu_runs < 1:
        parser.error("--cpu-runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = run_goals(args)
    before = json.loads(args.before.read_text()) if args.before else None
    print_goals(result, before)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2, default=str))
        print(f"\nfigures written to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
