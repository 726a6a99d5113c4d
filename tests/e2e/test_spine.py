"""End to end through the loopback sandbox: Mercado Libre orders become Alegra invoices, on SQLite
and on PostgreSQL, with the unmatched ones held and fixable."""

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from connector import services
from connector.crypto import CredentialVault
from connector.errors import InvalidCredentials
from connector.models import Account, ChannelConnection, ERPConnection, Invoice, Order
from connector.states import OrderState
from connector.sync import sync_once
from sandbox import server as sandbox_server
from sandbox.catalog import PRODUCTS, generate_sales
from tests.conftest import connect_seller

pytestmark = pytest.mark.e2e

EXPECTED = {"matched": "invoiced", "variant": "invoiced", "shipping": "invoiced", "no_document": "invoiced",
            "mismatched": "error", "fulfillment": "skipped", "cancelled": "waiting_rule", "pending": "waiting_rule"}


def scenarios() -> dict[str, str]:
    """Marketplace order id → why the sandbox put it in the stream (same seed as the fixture)."""
    from sandbox.mercadolibre import ORDER_ID_BASE

    return {str(ORDER_ID_BASE + s.number): s.scenario for s in generate_sales(40, seed=5)}


def orders_by_external_id(ctx) -> dict[str, Order]:
    with ctx.db.session() as session:
        orders = session.scalars(select(Order)).all()
        for order in orders:
            _ = order.invoice, order.lines
        return {o.external_id: o for o in orders}


def test_sync_invoices_matched_orders_and_holds_the_rest(ctx, sandbox, seller):
    summary = sync_once(ctx, seller)
    assert summary.pulled == 40
    orders = orders_by_external_id(ctx)
    expected = scenarios()
    assert {eid: o.state for eid, o in orders.items()} == {eid: EXPECTED[s] for eid, s in expected.items()}

    # Every invoiced order has exactly one invoice in the ERP, and its total is what the buyer paid.
    invoiced = [o for o in orders.values() if o.state == OrderState.INVOICED]
    assert len(sandbox.alegra_state.invoices) == len(invoiced) > 0
    for order in invoiced:
        [remote] = sandbox.alegra_state.invoices_for_marker(order.invoice.marker)
        assert Decimal(str(remote["total"])) == order.invoice.total
        paid_lines = sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))
        assert abs(order.invoice.total - (paid_lines + order.shipping_cost)) <= Decimal("0.01")
        assert remote["status"] == "open" and remote["stamp"]["legalStatus"]
        assert remote["warehouse"]["id"] and remote["priceList"]["id"]

    # Shipping is a line of its own, with the configured item.
    with_shipping = [o for o in invoiced if o.shipping_cost > 0]
    assert with_shipping
    remote = sandbox.alegra_state.invoices_for_marker(with_shipping[0].invoice.marker)[0]
    assert any(item["name"] == "Envío" or item.get("description") == "Envío" for item in remote["items"])

    # Buyers without a document are invoiced to the final consumer.
    no_doc = next(o for eid, o in orders.items() if expected[eid] == "no_document")
    remote = sandbox.alegra_state.invoices_for_marker(no_doc.invoice.marker)[0]
    client = sandbox.alegra_state.contacts[int(remote["client"]["id"])]
    assert "222222222222" in str(client.get("identificationObject") or client.get("identification"))

    # Unmatched lines wait with a reason a person understands.
    held = [o for eid, o in orders.items() if expected[eid] == "mismatched"]
    assert held and all("no coincide con ningún producto" in o.state_reason for o in held)
    assert summary.error_queue == len(held)


def test_two_syncs_create_no_second_invoice(ctx, sandbox, seller):
    sync_once(ctx, seller)
    first = len(sandbox.alegra_state.invoices)
    second = sync_once(ctx, seller)
    assert len(sandbox.alegra_state.invoices) == first
    assert second.pulled >= 0
    markers = Counter(i["observations"] for i in sandbox.alegra_state.invoices)
    assert max(markers.values()) == 1


def test_unmatched_sku_mapped_once_then_its_orders_invoice_with_one_command(ctx, sandbox, seller):
    sync_once(ctx, seller)
    mismatches = services.list_mismatches(ctx, seller)
    vela = next(m for m in mismatches if m.sku_key.startswith("VELA-AROM"))
    assert vela.blocked_orders >= 1
    item_id = str(sandbox.alegra_state.item_id_for_barcode(next(p.barcode for p in PRODUCTS if p.key == "vela")))
    mapping, results = services.map_sku(ctx, seller, vela.sku_key, item_id)
    assert len(results) == vela.blocked_orders
    assert all(o.state == OrderState.INVOICED for o in results.values())
    # The mapping is remembered: a new sale with that SKU is invoiced automatically.
    assert vela.sku_key not in {m.sku_key for m in services.list_mismatches(ctx, seller)}
    from datetime import datetime

    from sandbox.catalog import BOGOTA, SaleBuyer, SaleLine, SaleSpec

    spec = SaleSpec(number=900, scenario="mismatched", status="paid", created_at=datetime.now(BOGOTA),
                    lines=(SaleLine(vela.sku_key, "Vela aromática", 1, Decimal("35000")),),
                    buyer=SaleBuyer("NUEVO", "Ana", "Ríos", "CC", "52111222"), shipped=True)
    order_id = sandbox.ml_state.add_sale(spec)
    sync_once(ctx, seller)
    assert orders_by_external_id(ctx)[str(order_id)].state == OrderState.INVOICED


def test_manual_invoice_bypasses_the_rules(ctx, sandbox, seller):
    sync_once(ctx, seller)
    fulfillment = next(o for eid, o in orders_by_external_id(ctx).items() if scenarios()[eid] == "fulfillment")
    results = services.invoice_orders(ctx, [fulfillment.id], account_ref=seller)
    assert results[fulfillment.id].state == OrderState.INVOICED


def test_rotated_refresh_token_is_persisted_encrypted(ctx, sandbox, seller):
    sync_once(ctx, seller)
    with ctx.db.session() as session:
        connection = session.scalar(select(ChannelConnection))
        stored = ctx.vault.decrypt(connection.credentials_encrypted)
        raw_rows = session.execute(text("SELECT credentials_encrypted FROM channel_connections "
                                        "UNION ALL SELECT credentials_encrypted FROM erp_connections")).scalars().all()
    assert stored["refresh_token"] != sandbox_server.ML_REFRESH_TOKEN
    assert stored["refresh_token"] == sandbox.ml_state.refresh_token
    for raw in raw_rows:  # encrypted at rest: no secret in the clear
        for secret in (sandbox_server.ALEGRA_TOKEN, sandbox_server.ML_CLIENT_SECRET, stored["refresh_token"]):
            assert secret not in raw


@pytest.mark.parametrize("target", ["erp", "channel"])
def test_invalid_credentials_are_refused_and_nothing_is_stored(ctx, sandbox, target):
    account = services.create_account(ctx, "Tienda mala")
    with pytest.raises(InvalidCredentials) as error:
        if target == "erp":
            services.connect_erp(ctx, account.id, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                             "token": "no-es-el-token"}, base_url=sandbox.alegra_url)
        else:
            services.connect_channel(ctx, account.id, "mercadolibre", {
                "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
                "refresh_token": "TG-robado"}, base_url=sandbox.ml_url)
    assert "rechaz" in error.value.user_message
    assert "no-es-el-token" not in str(error.value) and "TG-robado" not in str(error.value)
    with ctx.db.session() as session:
        assert session.scalars(select(ERPConnection)).all() == []
        assert session.scalars(select(ChannelConnection)).all() == []
        assert [a.name for a in session.scalars(select(Account))] == ["Tienda mala"]


def test_custom_api_url_refused_outside_sandbox_mode(ctx, sandbox):
    from connector.errors import ConfigurationError

    ctx.settings.mode = "production"
    account = services.create_account(ctx, "Tienda prod")
    with pytest.raises(ConfigurationError, match="sandbox"):
        services.connect_erp(ctx, account.id, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                         "token": sandbox_server.ALEGRA_TOKEN},
                             base_url=sandbox.alegra_url)


def test_a_bad_payload_lands_in_the_error_queue_and_the_rest_goes_on(ctx, sandbox, seller):
    broken_id = sandbox.ml_state.order_ids()[0]
    with sandbox.ml_state._lock:
        sandbox.ml_state.orders[broken_id]["order_items"] = [{"item": {"id": "MCO1"}, "quantity": "muchas"}]
    sync_once(ctx, seller)
    orders = orders_by_external_id(ctx)
    broken = orders[str(broken_id)]
    assert broken.state == OrderState.ERROR and "No se pudo leer la orden" in broken.state_reason
    assert broken.raw["order"]["order_items"][0]["quantity"] == "muchas"  # kept for re-processing
    assert sum(o.state == OrderState.INVOICED for o in orders.values()) > 0


def test_erp_rejection_is_held_with_the_erps_own_message(ctx, sandbox, seller):
    # The products were deleted in Alegra after the catalog was cached: Alegra refuses the invoices.
    with sandbox.alegra_state.lock:
        sandbox.alegra_state.items.clear()
    sync_once(ctx, seller)
    failed = [o for o in orders_by_external_id(ctx).values() if o.state == OrderState.FAILED]
    assert failed, "the ERP should have refused the invoices"
    assert all("Alegra rechazó" in o.state_reason and "no existe" in o.state_reason for o in failed)
    with ctx.db.session() as session:
        assert session.scalars(select(Invoice)).all() == []
    assert sandbox.alegra_state.invoices == []


def test_fulfillment_and_cancelled_rules_follow_the_settings(ctx, sandbox):
    seller = connect_seller(ctx, sandbox, ["enabled=true", "order_states=", "invoice_fulfillment=true",
                                           "default_email=f@t.co"])
    sync_once(ctx, seller)
    states = {scenarios()[eid]: o.state for eid, o in orders_by_external_id(ctx).items()}
    assert states["fulfillment"] == "invoiced"
    assert states["cancelled"] == "invoiced"  # no state chosen means every state (seed 004)


def test_credentials_vault_uses_the_settings_key(settings):
    vault = CredentialVault.from_settings(settings)
    token = vault.encrypt({"token": "s3cr3t"})
    assert "s3cr3t" not in token and vault.decrypt(token) == {"token": "s3cr3t"}


def test_changing_the_rules_reconsiders_the_orders_they_held(ctx, sandbox, seller):
    sync_once(ctx, seller)
    held = [o for eid, o in orders_by_external_id(ctx).items() if scenarios()[eid] == "fulfillment"]
    assert held and all(o.state == OrderState.SKIPPED for o in held)
    services.update_settings(ctx, seller, ["invoice_fulfillment=true"])
    sync_once(ctx, seller)
    orders = orders_by_external_id(ctx)
    assert all(orders[o.external_id].state == OrderState.INVOICED for o in held)
    assert any(e.actor == "rules" for e in services.get_order(ctx, held[0].id, seller).activity)
