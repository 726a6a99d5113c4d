"""The stock benchmark: what publishing the ERP's stock costs and how fast a sale reaches the other channels.

One seller with Alegra, Mercado Libre, Shopify and WooCommerce connected to the loopback sandbox (stock
sync on for every channel). It measures:

* the first full comparison (every listing read, the whole catalog's stock read in pages) and a second
  one with nothing to change (the periodic backstop's cost);
* ``--sales`` sales on Mercado Libre, one at a time: each is pulled and invoiced (the invoice lowers
  Alegra's stock), then the stock sweep publishes the changed items. Reported: requests per stock change
  per channel (requests the sweep sent to that channel / listings it updated there), ERP requests per
  change, and the time from the sale entering the store to the other channels showing the new stock
  (the work itself; in production add the pull or webhook delay and up to ``CONNECTOR_STOCK_INTERVAL``).

Usage: ``python -m benchmarks.stock [--sales 20] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks.measure import RecordingTransport
from connector import services
from connector.context import AppContext
from connector.demo_channels import connect_sandbox_channels
from connector.pipeline import process_due_orders
from connector.settings import Settings
from connector.stock import run_stock_sync, sweep_stock
from connector.stock_services import update_stock_settings
from connector.sync import pull_channel_connection
from sandbox import server as sandbox_server
from sandbox.alegra_inventory import stock_of
from sandbox.catalog import BOGOTA, PRODUCTS, SaleBuyer, SaleLine, SaleSpec
from sandbox.knobs import Knobs

RATE_LIMIT = 600  # the demo's Alegra window (4x the real 150/min) so the run takes seconds


def _setup(ctx: AppContext, box) -> tuple[int, dict[str, int]]:
    account = services.create_account(ctx, "Tienda Cafetera")
    services.connect_erp(ctx, account.id, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                     "token": sandbox_server.ALEGRA_TOKEN, "country": "CO"},
                         base_url=box.alegra_url)
    connections = {c.kind: c.id for c in connect_sandbox_channels(ctx, account.id, box,
                                                                   ("mercadolibre", "shopify", "woocommerce"))}
    shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
    services.update_settings(ctx, account.id, [
        "enabled=true", "order_states=pending,shipped,completed", "invoice_status=open", "match_by=barcode",
        "apply_taxes=true", f"shipping_item_id={shipping.erp_id}", "default_email=facturas@tienda.co"])
    for connection_id in connections.values():
        update_stock_settings(ctx, account.id, connection_id, ["enabled=true"])
    return account.id, connections


def _by_channel(transport: RecordingTransport, ports: dict[int, str]) -> dict[str, int]:
    found = {kind: 0 for kind in ports.values()}
    for (port, _category, _status), count in transport.counts.items():
        if port in ports:
            found[ports[port]] += count
    return found


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def run(sales: int, seed: int = 11) -> dict:
    box = sandbox_server.Sandbox(order_count=0, alegra_knobs=Knobs(rate_limit_per_minute=RATE_LIMIT)).start()
    channel_counter = RecordingTransport(keep=False)
    erp_counter = RecordingTransport(keep=False)
    data_dir = Path(tempfile.mkdtemp(prefix="stock-bench-"))
    settings = Settings(data_dir=data_dir, mode="sandbox", database_url=None, redis_url=None,
                        erp_rate_limit_per_minute=RATE_LIMIT, reconcile_delay_seconds=0)
    ctx = AppContext.from_settings(settings, channel_transport=channel_counter, erp_transport=erp_counter)
    ports = {int(url.rsplit(":", 1)[1].split("/")[0]): kind for kind, url in
             (("mercadolibre", box.ml_url), ("shopify", box.shopify_url), ("woocommerce", box.woo_url))}
    stores = {"mercadolibre": box.ml_state, "shopify": box.shopify_state, "woocommerce": box.woo_state}
    try:
        ctx.db.migrate()
        account_id, connections = _setup(ctx, box)
        full = {}
        for label in ("first", "nothing_changed"):
            for kind, connection_id in connections.items():
                started = time.monotonic()
                report = run_stock_sync(ctx, connection_id, trigger="benchmark", yield_to_invoicing=False)
                full.setdefault(label, {})[kind] = {
                    "listings": report.compared, "written": report.written, "channel_requests": report.channel_requests,
                    "erp_requests": report.erp_requests, "seconds": round(time.monotonic() - started, 3)}
        rng = random.Random(seed)
        simple = [p for p in PRODUCTS if p.kind == "product" and p.barcode]
        per_channel = {kind: {"requests": 0, "changes": 0} for kind in connections}
        erp_requests, latencies = 0, []
        for number in range(sales):
            product = rng.choice(simple)
            quantity = rng.choice([1, 1, 2, 3])
            item = box.alegra_state.item_id_for_barcode(product.barcode)
            written_before = {kind: stores[kind].stock_listings.writes for kind in connections}
            started = time.monotonic()
            box.ml_state.add_sale(SaleSpec(
                number=10_000 + number, scenario="stock", status="paid", created_at=datetime.now(BOGOTA),
                lines=(SaleLine(product.barcode, product.name, quantity, product.price_with_tax()),),
                buyer=SaleBuyer(f"BENCH{number}", "Ana", "Ríos", "CC", "52111222")))
            pull_channel_connection(ctx, connections["mercadolibre"])
            process_due_orders(ctx)
            channel_before, erp_before = _by_channel(channel_counter, ports), erp_counter.sent
            sweep_stock(ctx)
            spent = _delta(_by_channel(channel_counter, ports), channel_before)
            erp_requests += erp_counter.sent - erp_before
            expected = int(stock_of(box.alegra_state, item, 1))
            others = [k for k in connections if k != "mercadolibre"]
            if all(stores[k].stock_listings.quantity_of_sku(product.barcode) == expected for k in others):
                latencies.append(time.monotonic() - started)
            for kind in connections:
                per_channel[kind]["requests"] += spent[kind]
                per_channel[kind]["changes"] += stores[kind].stock_listings.writes - written_before[kind]
        changes = sum(v["changes"] for v in per_channel.values())
        return {
            "sales": sales, "published": len(latencies),
            "full_comparison": full,
            "requests_per_stock_change": {kind: round(v["requests"] / v["changes"], 2) if v["changes"] else None
                                          for kind, v in per_channel.items()},
            "erp_requests_per_sale": round(erp_requests / sales, 2) if sales else None,
            "stock_changes": changes,
            "sale_to_other_channels_seconds": {
                "p50": round(statistics.median(latencies), 3) if latencies else None,
                "max": round(max(latencies), 3) if latencies else None},
        }
    finally:
        ctx.close()
        box.stop()
        channel_counter.shutdown()
        erp_counter.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.sales)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Stock benchmark: {args.sales} sales on Mercado Libre, stock published to every channel")
    for label, rows in result["full_comparison"].items():
        print(f"  full comparison ({label.replace('_', ' ')}):")
        for kind, row in rows.items():
            print(f"    {kind:13} {row['listings']:3} listings, {row['written']:3} written, "
                  f"{row['channel_requests']:3} channel requests, {row['erp_requests']} ERP requests, {row['seconds']} s")
    print("  requests per stock change: " + ", ".join(
        f"{k} {v}" for k, v in result["requests_per_stock_change"].items()))
    print(f"  ERP requests per sale for stock: {result['erp_requests_per_sale']}")
    latency = result["sale_to_other_channels_seconds"]
    print(f"  sale → other channels' new stock: p50 {latency['p50']} s, max {latency['max']} s "
          f"({result['published']}/{args.sales} sales checked)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
