"""The demo's stock chapter: the ERP's stock published on every channel, then one new sale on the first
channel, invoiced in the ERP, lowering the stock the other channels show.

What the sandbox holds (the ERP's stock of the demo product, what each store shows, a new sale) is read
through the world's :class:`sandbox.demo_world.StockProbe`: this module names no ERP and no channel."""

from __future__ import annotations

import time

from connector import services
from connector.context import AppContext
from connector.stock import run_stock_sync, sweep_stock
from connector.stock_services import update_stock_settings
from connector.sync import sync_once

SOLD_UNITS = 2


def narrate_stock(ctx: AppContext, probe, account_id: int, erp_name: str) -> dict[str, int]:
    """Turn stock on for every channel, publish, sell 2 units on the sandbox's first store and show the
    new stock on the others. Returns the stock each channel shows of the product in the end."""
    connections = services.list_channel_connections(ctx, account_id)
    for connection in connections:
        update_stock_settings(ctx, account_id, connection.id, ["enabled=true"])
        report = run_stock_sync(ctx, connection.id, trigger="demo", yield_to_invoicing=False)
        print(f"  {connection.name:22} {report.compared:3} publicaciones comparadas, {report.written:3} actualizadas "
              f"con el stock de {erp_name} ({report.channel_requests} peticiones al canal, {report.erp_requests} "
              f"al ERP); {len(report.problems)} sin publicar (con su motivo en el panel)")
    before = probe.erp_quantity()
    probe.sell(SOLD_UNITS)
    started = time.monotonic()
    sync_once(ctx, account_id)  # the sale is pulled and invoiced; the invoice lowers the ERP's stock
    counts = sweep_stock(ctx)  # what the scheduler does every CONNECTOR_STOCK_INTERVAL
    elapsed = time.monotonic() - started
    after = probe.erp_quantity()
    shown = {c.kind: probe.shown(c.kind) for c in connections if probe.shown(c.kind) is not None}
    print(f"Venta nueva en {probe.first_channel}: {SOLD_UNITS} × {probe.product_name}. {erp_name}: {before:.0f} → "
          f"{after:.0f} unidades (la factura las descontó de su bodega; el conector no toca el inventario).")
    print("Stock publicado ahora: " + ", ".join(f"{kind} {quantity}" for kind, quantity in shown.items())
          + f"  ({counts['written']} escrituras, {elapsed:.1f} s desde la venta)")
    print("Comparar sin escribir: connector stock diff --json   ·   publicar: connector stock push")
    return shown
