"""The sandbox side of ``connector demo``: which ERP and marketplaces it starts for a country, the
credentials that open them, and the catalog names the narration uses.

``connector/demo.py`` narrates the flow over the services and names no ERP, channel or country; the
ERP is reached through :mod:`sandbox.erp_sandboxes` (``Sandbox.erp(kind)``), the rest lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox import server as sandbox_server
from sandbox.alegra_inventory import stock_of
from sandbox.catalog import BOGOTA, PRODUCTS, SaleBuyer, SaleLine, SaleSpec
from sandbox.countries import sandbox_country
from sandbox.erp_sandboxes import ERP_SANDBOXES, ERPSandbox, erp_knobs

DEFAULT_ERP = "alegra"


@dataclass
class DemoWorld:
    """A started sandbox and how the demo uses it."""

    sandbox: sandbox_server.Sandbox
    erp: ERPSandbox
    # kind -> (credentials, base URL) of each marketplace to connect, the first one first.
    channels: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)
    # kind -> how to refund one of its orders now (order id, **options) -> the refund's record.
    refunders: dict[str, Callable[..., Any]] = field(default_factory=dict)
    shipping_reference: str = "ENVIO"  # the catalog item that invoices the shipping cost
    payment_account_name: str = "Mercado Pago"  # the ERP's bank account the marketplace pays into
    payment_account_method: str = "transfer"  # how the money reaches it, in the ERP's payment-method codes
    default_email: str = "facturas@tiendacafetera.co"
    default_phone: str = "6045550000"
    mismatch_search: tuple[str, str] = ("Vela", "VEL-SOY-200")  # (search text, reference) of the demo's fix
    # The stock chapter's window on the sandbox (None: this ERP's sandbox keeps no stock per warehouse).
    stock_probe: StockProbe | None = None

    def urls(self) -> dict[str, str]:
        return self.sandbox.urls()

    def sandbox_credentials_hint(self) -> dict[str, dict[str, str]]:
        """What the panel's connect forms show as the sandbox's credentials (they open only the sandbox)."""
        hint = {self.erp.kind: dict(self.erp.credentials)}
        if "mercadolibre" in self.channels:
            hint["mercadolibre"] = {"client_id": sandbox_server.ML_CLIENT_ID,
                                    "client_secret": sandbox_server.ML_CLIENT_SECRET}
        return hint

    def stop(self) -> None:
        self.sandbox.stop()


def start_demo_world(*, orders: int, country: str | None, erp: str | None, rate_limit_per_minute: int,
                     stamp_answer_delay: float, stamp_reject_share: float) -> DemoWorld:
    """Start the sandbox for a demo of ``erp`` (None: Alegra) in ``country`` (ISO; None: Colombia). Outside
    Colombia only Mercado Libre sells (the sandbox's Shopify and WooCommerce stores are Colombian).
    ``ValueError`` for an ERP or a country the sandbox does not have."""
    place = sandbox_country(country)
    kind = erp or DEFAULT_ERP
    if kind not in ERP_SANDBOXES:
        raise ValueError(f"El sandbox no tiene el ERP «{kind}»; tiene: {', '.join(sorted(ERP_SANDBOXES))}.")
    sandbox = sandbox_server.Sandbox(order_count=orders, country=place.code, **erp_knobs(
        kind, rate_limit_per_minute=rate_limit_per_minute, stamp_answer_delay=stamp_answer_delay,
        stamp_reject_share=stamp_reject_share))
    sandbox.start()
    world = DemoWorld(sandbox=sandbox, erp=sandbox.erp(kind))
    for channel in ("mercadolibre", "shopify", "woocommerce") if place.code == "CO" else ("mercadolibre",):
        store = sandbox.channel(channel)
        world.channels[channel] = (store.credentials, store.url)
    world.refunders["mercadolibre"] = sandbox.ml_state.refund
    if place.code == "CO":
        world.refunders["shopify"] = sandbox.shopify_state.refund
        world.refunders["woocommerce"] = sandbox.woo_state.refund
        if kind in STOCK_READERS:  # an ERP sandbox that keeps stock per warehouse and whose invoices lower it
            world.stock_probe = StockProbe(sandbox, kind)
    return world


def _alegra_stock(sandbox: sandbox_server.Sandbox, product):
    item = sandbox.alegra_state.item_id_for_barcode(product.barcode)
    return stock_of(sandbox.alegra_state, item, 1)


def _siigo_stock(sandbox: sandbox_server.Sandbox, product):
    """The product's quantity in Siigo's main warehouse (an invoice of it lowers it: *unconfirmed* in
    Siigo's documentation, see sandbox.siigo_products)."""
    with sandbox.siigo_state.lock:
        warehouses = sandbox.siigo_state.products[product.reference]["warehouses"]
        return Decimal(str(next((w["quantity"] for w in warehouses if w["id"] == 1270), 0)))


# ERP kind -> how the demo reads its sandbox's stock of one product in the main warehouse.
STOCK_READERS = {"alegra": _alegra_stock, "siigo": _siigo_stock}


class StockProbe:
    """What the demo's stock chapter reads and does in the sandbox: the ERP's stock of one product in the
    main warehouse, what each store shows of it, and a new paid sale of it on Mercado Libre."""

    PRODUCT = "termo"
    SALE_NUMBER = 9_000
    first_channel = "Mercado Libre"

    def __init__(self, sandbox: sandbox_server.Sandbox, erp: str = DEFAULT_ERP) -> None:
        self._sandbox = sandbox
        self._erp = erp
        self._product = next(p for p in PRODUCTS if p.key == self.PRODUCT)
        self.product_name = self._product.name
        self._stores = {"mercadolibre": sandbox.ml_state, "shopify": sandbox.shopify_state,
                        "woocommerce": sandbox.woo_state}

    def erp_quantity(self):
        return STOCK_READERS[self._erp](self._sandbox, self._product)

    def shown(self, kind: str) -> int | None:
        store = self._stores.get(kind)
        return None if store is None else store.stock_listings.quantity_of_sku(self._product.barcode)

    def sell(self, units: int) -> None:
        self._sandbox.ml_state.add_sale(SaleSpec(
            number=self.SALE_NUMBER, scenario="stock", status="paid", created_at=datetime.now(BOGOTA),
            lines=(SaleLine(self._product.barcode, self._product.name, units, self._product.price_with_tax()),),
            buyer=SaleBuyer("STOCK9000", "Laura", "Gómez", "CC", "1020304050")))
