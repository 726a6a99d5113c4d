"""The figures of a throughput run, from the sandbox's counters and the recorded requests, and their printing."""

from __future__ import annotations

from collections import Counter

import httpx

from benchmarks.measure import CATEGORIES, by_category, counter_diff


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


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    print("  " + "-" * (width + 40))
    for key, value in rows:
        print(f"  {key.ljust(width)} | {value}")
    print("  " + "-" * (width + 40))
