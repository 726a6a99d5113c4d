"""End-to-end helpers for the channels: a seller with Alegra and any of the three channels connected
to the sandbox, and what each channel's buyer paid for an order (read from its raw document)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pytest

from connector import services
from connector.context import AppContext
from connector.demo_channels import connect_sandbox_channels
from connector.webhooks import background_work
from sandbox.catalog import BOGOTA, PRODUCTS, SaleBuyer, SaleLine, SaleSpec
from tests.conftest import DEMO_RULES


@dataclass
class Seller:
    account_id: int
    connections: dict[str, int] = field(default_factory=dict)  # kind -> channel connection id


def connect_channels_seller(ctx: AppContext, box, kinds: tuple[str, ...], *, erp: str = "alegra") -> Seller:
    """A seller with the ERP ``erp`` and ``kinds`` connected to the sandbox, and the demo's invoicing rules."""
    account = services.create_account(ctx, f"Tienda {uuid.uuid4().hex[:6]}")
    seller = Seller(account.id)
    erp_box = box.erp(erp)
    services.connect_erp(ctx, account.id, erp, erp_box.credentials, base_url=erp_box.url)
    seller.connections.update({c.kind: c.id for c in connect_sandbox_channels(ctx, account.id, box, kinds)})
    shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
    services.update_settings(ctx, account.id, DEMO_RULES + [f"shipping_item_id={shipping.erp_id}"])
    return seller


def buyer_paid(kind: str, raw: dict) -> Decimal:
    """What the buyer paid for what the connector invoices, from the channel's own raw document."""
    order = raw["order"]
    if kind == "shopify":
        return Decimal(order["total_price"])
    if kind == "woocommerce":  # positive fees (surcharges) are not invoiced, by design
        fees = sum((Decimal(f["total"]) + Decimal(f["total_tax"] or 0) for f in order["fee_lines"]
                    if Decimal(f["total"]) > 0), Decimal(0))
        return Decimal(order["total"]) - fees
    shipment = raw.get("shipment") or {}
    items = sum((Decimal(str(i["unit_price"])) * i["quantity"] for i in order["order_items"]), Decimal(0))
    cost = (shipment.get("shipping_option") or {}).get("cost") or (shipment.get("lead_time") or {}).get("cost") or 0
    return items + Decimal(str(cost))


def new_sale(number: int, *, quantity: int = 2, shipping: Decimal = Decimal("9900")) -> SaleSpec:
    """A paid sale of a product the ERP knows by barcode, with shipping, created now."""
    product = next(p for p in PRODUCTS if p.key == "termo")
    return SaleSpec(number=number, scenario="shipping", status="paid", created_at=datetime.now(BOGOTA),
                    lines=(SaleLine(product.barcode, product.name, quantity, product.price_with_tax()),),
                    buyer=SaleBuyer(f"WEBHOOK{number}", "Ana", "Ríos", "CC", "52111222"), shipping_cost=shipping)


@pytest.fixture(autouse=True)
def _no_background_work_outlives_its_test():
    """Webhook work runs on a background pool: let it finish before the test's database goes away."""
    yield
    assert background_work.wait_idle(timeout=60), "background webhook work did not finish"


def follow_until_quiet(ctx: AppContext, account_id: int, timeout: float = 20.0) -> None:
    """Run what is due after the invoices until nothing is left to do now (the sandbox's tax authority
    answers in a fraction of a second in these tests)."""
    import time

    from connector.followup import run_due_followups

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        run_due_followups(ctx, account_id)
        if not any(o.invoice is not None and o.invoice.next_followup_at is not None
                   for o in services.list_orders(ctx, account_id, limit=1000)):
            return
    raise AssertionError("follow-ups did not settle")
