"""Shopify and WooCommerce end to end through the loopback sandbox with the real pipeline, on SQLite and
PostgreSQL: every invoice's total is what the buyer paid — line discounts, coupons, shipping
discounts, fees and shipping included."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector import services
from connector.models import Order
from connector.states import OrderState
from connector.sync import sync_once
from sandbox.catalog import generate_sales
from sandbox.server import SHOPIFY_SEED_OFFSET, WOO_SEED_OFFSET
from sandbox.shopify import ORDER_ID_BASE as SHOPIFY_BASE
from sandbox.woocommerce import ORDER_ID_BASE as WOO_BASE
from tests.e2e.conftest import buyer_paid, connect_channels_seller, new_sale

pytestmark = pytest.mark.e2e

# Neither store has Mercado Libre's "Full": fulfillment sales are ordinary sales there.
EXPECTED = {"matched": "invoiced", "variant": "invoiced", "shipping": "invoiced", "no_document": "invoiced",
            "fulfillment": "invoiced", "mismatched": "error", "cancelled": "waiting_rule", "pending": "waiting_rule"}
CHANNELS = {"shopify": (SHOPIFY_BASE, SHOPIFY_SEED_OFFSET), "woocommerce": (WOO_BASE, WOO_SEED_OFFSET)}


def scenarios(kind: str) -> dict[str, str]:
    """External order id → why the sandbox put it in that store (same seeds as the sandbox fixture)."""
    base, offset = CHANNELS[kind]
    return {str(base + s.number): s.scenario for s in generate_sales(40, seed=5 + offset)}


def orders_of(ctx, connection_id: int) -> dict[str, Order]:
    with ctx.db.session() as session:
        orders = session.scalars(select(Order).where(Order.channel_connection_id == connection_id)).all()
        for order in orders:
            _ = order.invoice, order.lines
        return {o.external_id: o for o in orders}


def assert_invoices_match_what_buyers_paid(kind: str, sandbox, orders: dict[str, Order]) -> list[Order]:
    invoiced = [o for o in orders.values() if o.state == OrderState.INVOICED]
    assert invoiced
    for order in invoiced:
        [remote] = sandbox.alegra_state.invoices_for_marker(order.invoice.marker)
        assert Decimal(str(remote["total"])) == order.invoice.total
        tolerance = Decimal("0.01") * (len(order.lines) + 1)  # each line's tax is rounded to the cent
        assert abs(order.invoice.total - buyer_paid(kind, order.raw)) <= tolerance, order.external_id
    return invoiced


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_each_channel_invoices_what_the_buyer_paid(ctx, sandbox, kind):
    seller = connect_channels_seller(ctx, sandbox, (kind,))
    summary = sync_once(ctx, seller.account_id)
    assert summary.pulled == 40 and not any(p.error for p in summary.pulls)

    orders = orders_of(ctx, seller.connections[kind])
    expected = scenarios(kind)
    assert {eid: o.state for eid, o in orders.items()} == {eid: EXPECTED[s] for eid, s in expected.items()}
    invoiced = assert_invoices_match_what_buyers_paid(kind, sandbox, orders)
    assert len(sandbox.alegra_state.invoices) == len(invoiced)

    # The stream really exercised discounts, shipping (and, in WooCommerce, fees).
    canonical_lines = [line for o in invoiced for line in o.canonical["lines"]]
    assert any(Decimal(line["discount"]) > 0 for line in canonical_lines)
    assert any(o.shipping_cost > 0 for o in invoiced)
    if kind == "shopify":
        assert any(s.get("discount_allocations") for o in invoiced for s in o.raw["order"]["shipping_lines"])
    else:
        assert any(Decimal(f["total"]) > 0 for o in invoiced for f in o.raw["order"]["fee_lines"])
        assert any(Decimal(f["total"]) < 0 for o in invoiced for f in o.raw["order"]["fee_lines"])

    # Shipping is its own invoice line; unmatched SKUs wait in the error queue with a reason.
    remote = sandbox.alegra_state.invoices_for_marker(next(o for o in invoiced if o.shipping_cost > 0).invoice.marker)[0]
    assert any(item.get("description") == "Envío" or item["name"] == "Envío" for item in remote["items"])
    held = [o for eid, o in orders.items() if expected[eid] == "mismatched"]
    assert held and all("no coincide con ningún producto" in o.state_reason for o in held)

    # A second sync invoices nothing twice.
    sync_once(ctx, seller.account_id)
    assert len(sandbox.alegra_state.invoices) == len(invoiced)
    assert max(Counter(i["observations"] for i in sandbox.alegra_state.invoices).values()) == 1


def test_a_shopify_store_with_prices_before_tax_still_invoices_what_the_buyer_paid(ctx, sandbox):
    sandbox.shopify_state.set_taxes_included(False)
    seller = connect_channels_seller(ctx, sandbox, ("shopify",))
    sync_once(ctx, seller.account_id)
    orders = orders_of(ctx, seller.connections["shopify"])
    invoiced = assert_invoices_match_what_buyers_paid("shopify", sandbox, orders)
    assert all(o.canonical["prices_include_tax"] is False for o in invoiced)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_status_changes_are_pulled_and_an_unpaid_order_is_invoiced_once_paid(ctx, sandbox, kind):
    seller = connect_channels_seller(ctx, sandbox, (kind,))
    if kind == "shopify":
        order_id = sandbox.shopify_state.add_sale(new_sale(500), notify=False)
        sandbox.shopify_state.update_order(order_id, financial_status="pending", notify=False)
    else:
        order_id = sandbox.woo_state.add_sale(new_sale(500), notify=False)
        sandbox.woo_state.update_status(order_id, "pending", notify=False)
    sync_once(ctx, seller.account_id)
    assert orders_of(ctx, seller.connections[kind])[str(order_id)].state == OrderState.WAITING_RULE

    if kind == "shopify":
        sandbox.shopify_state.update_order(order_id, financial_status="paid", notify=False)
    else:
        sandbox.woo_state.update_status(order_id, "processing", notify=False)
    sync_once(ctx, seller.account_id)
    order = orders_of(ctx, seller.connections[kind])[str(order_id)]
    assert order.state == OrderState.INVOICED and order.status == "pending"
    assert abs(order.invoice.total - buyer_paid(kind, order.raw)) <= Decimal("0.02")


def test_channel_credentials_refused_by_the_sandbox_store_nothing(ctx, sandbox):
    from connector.errors import InvalidCredentials
    from sandbox import server as sandbox_server

    account = services.create_account(ctx, "Tienda con claves malas")
    with pytest.raises(InvalidCredentials):
        services.connect_channel(ctx, account.id, "shopify", {"shop": sandbox_server.SHOPIFY_SHOP,
                                                              "access_token": "shpat_robado"},
                                 base_url=sandbox.shopify_url)
    with pytest.raises(InvalidCredentials):
        services.connect_channel(ctx, account.id, "woocommerce", {"store_url": sandbox.woo_url,
                                                                  "consumer_key": "ck_x", "consumer_secret": "cs_x"},
                                 base_url=sandbox.woo_url)
    assert services.list_channel_connections(ctx, account.id) == []


def test_the_shopify_leaky_bucket_is_honoured_against_the_sandbox(sandbox):
    sandbox.shopify_state.bucket_capacity = 6  # a tiny bucket: a 40-order pull in pages of 5 must wait
    sandbox.shopify_state.leak_per_second = 20.0
    from channels.base import ChannelOptions
    from channels.shopify.adapter import ShopifyAdapter
    from sandbox import server as sandbox_server

    adapter = ShopifyAdapter({"shop": sandbox_server.SHOPIFY_SHOP, "access_token": sandbox_server.SHOPIFY_ACCESS_TOKEN},
                             ChannelOptions(base_url=sandbox.shopify_url, page_size=5))
    pulled = [p for _ in range(2) for p in adapter.pull_orders(None)]
    adapter.close()
    assert len(pulled) == 80
    assert adapter.client.bucket.waited > 0 or sandbox.shopify_state.throttled > 0


def test_the_cli_connects_any_channel_and_prints_its_webhook_url(tmp_path, sqlite_url, sandbox):
    import json
    import os
    import subprocess
    import sys

    from cryptography.fernet import Fernet

    from sandbox import server as sandbox_server

    env = {**os.environ, "DATABASE_URL": sqlite_url, "CONNECTOR_MODE": "sandbox", "CONNECTOR_DATA_DIR": str(tmp_path),
           "CONNECTOR_SECRET_KEYS": Fernet.generate_key().decode(),
           "WOOCOMMERCE_CONSUMER_SECRET": sandbox_server.WOO_CONSUMER_SECRET}
    env.pop("REDIS_URL", None)

    def cli(*args, ok=True):
        result = subprocess.run([sys.executable, "-m", "connector", *args], env=env, capture_output=True, text=True,
                                timeout=120)
        assert (result.returncode == 0) == ok, result.stderr + result.stdout
        assert "Traceback" not in result.stderr
        return result

    cli("account", "create", "Tienda CLI")
    wrong = cli("channel", "connect", "shopify", "--shop", sandbox_server.SHOPIFY_SHOP, "--client-id", "123", ok=False)
    assert "--client-id no aplica a Shopify" in wrong.stderr
    out = cli("channel", "connect", "shopify", "--shop", sandbox_server.SHOPIFY_SHOP, "--access-token",
              sandbox_server.SHOPIFY_ACCESS_TOKEN, "--webhook-secret", sandbox_server.SHOPIFY_WEBHOOK_SECRET,
              "--base-url", sandbox.shopify_url).stdout
    assert "Canal conectado" in out and sandbox_server.SHOPIFY_ACCESS_TOKEN not in out
    out = cli("channel", "connect", "woocommerce", "--store-url", sandbox.woo_url, "--consumer-key",
              sandbox_server.WOO_CONSUMER_KEY, "--base-url", sandbox.woo_url).stdout  # secret from the environment
    assert sandbox_server.WOO_CONSUMER_SECRET not in out
    missing = cli("channel", "connect", "woocommerce", "--store-url", sandbox.woo_url, ok=False)
    assert "Faltan datos para conectar WooCommerce" in missing.stderr

    shown = json.loads(cli("channel", "webhook-url", "--channel", "woocommerce", "--public-url",
                           "https://conector.example", "--json").stdout)
    assert shown["url"] == f"https://conector.example/webhooks/woocommerce/{shown['channel_connection_id']}"
    assert shown["secret"] and shown["topics"] == ["order.created", "order.updated", "order.deleted", "order.restored"]
    again = json.loads(cli("channel", "webhook-url", "--channel", "woocommerce", "--public-url",
                           "https://conector.example", "--json").stdout)
    assert again["secret"] == shown["secret"]  # generated once, then kept
    text = cli("channel", "webhook-url", "--channel", "shopify", "--public-url", "https://conector.example").stdout
    assert "/webhooks/shopify/" in text and "Secreto" not in text  # Shopify's key is Shopify's, not ours
