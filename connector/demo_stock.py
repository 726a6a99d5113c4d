"""The demo's stock chapter: the ERP's stock published on every channel, then one new sale on the first
channel, invoiced in the ERP, lowering the stock the other channels show."""

from __future__ import annotations

import time
from datetime import datetime

from connector import services
from connector.context import AppContext
from connector.stock import run_stock_sync, sweep_stock
from connector.stock_services import update_stock_settings
from connector.sync import sync_once
from sandbox.alegra_inventory import stock_of
from sandbox.catalog import BOGOTA, PRODUCTS, SaleBuyer, SaleLine, SaleSpec

DEMO_PRODUCT = "termo"
SALE_NUMBER = 9_000


def narrate_stock(ctx: AppContext, sandbox, account_id: int) -> dict[str, int]:
    """Turn stock on for every channel, publish, sell 2 units on the sandbox's first store and show the
    new stock on the others. Returns the stock each channel shows of the product in the end."""
    connections = services.list_channel_connections(ctx, account_id)
    stores = {"mercadolibre": sandbox.ml_state, "shopify": sandbox.shopify_state, "woocommerce": sandbox.woo_state}
    for connection in connections:
        update_stock_settings(ctx, account_id, connection.id, ["enabled=true"])
        report = run_stock_sync(ctx, connection.id, trigger="demo", yield_to_invoicing=False)
        print(f"  {connection.name:22} {report.compared:3} publicaciones comparadas, {report.written:3} actualizadas "
              f"con el stock de Alegra ({report.channel_requests} peticiones al canal, {report.erp_requests} al ERP); "
              f"{len(report.problems)} sin publicar (con su motivo en el panel)")
    product = next(p for p in PRODUCTS if p.key == DEMO_PRODUCT)
    item = sandbox.alegra_state.item_id_for_barcode(product.barcode)
    before = stock_of(sandbox.alegra_state, item, 1)
    sandbox.ml_state.add_sale(SaleSpec(
        number=SALE_NUMBER, scenario="stock", status="paid", created_at=datetime.now(BOGOTA),
        lines=(SaleLine(product.barcode, product.name, 2, product.price_with_tax()),),
        buyer=SaleBuyer("STOCK9000", "Laura", "Gómez", "CC", "1020304050")))
    started = time.monotonic()
    sync_once(ctx, account_id)  # the sale is pulled and invoiced; the invoice lowers Alegra's stock
    counts = sweep_stock(ctx)  # what the scheduler does every CONNECTOR_STOCK_INTERVAL
    elapsed = time.monotonic() - started
    after = stock_of(sandbox.alegra_state, item, 1)
    shown = {c.kind: stores[c.kind].stock_listings.quantity_of_sku(product.barcode) for c in connections
             if c.kind in stores}
    print(f"Venta nueva en Mercado Libre: 2 × {product.name}. Alegra: {before:.0f} → {after:.0f} unidades "
          f"(la factura las descontó de su bodega; el conector no toca el inventario).")
    print("Stock publicado ahora: " + ", ".join(f"{kind} {quantity}" for kind, quantity in shown.items())
          + f"  ({counts['written']} escrituras, {elapsed:.1f} s desde la venta)")
    print("Comparar sin escribir: connector stock diff --json   ·   publicar: connector stock push")
    return shown
