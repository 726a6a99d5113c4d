"""The order page explains the money: a store order with a cash-on-delivery fee (not invoiced) and a cash
discount (spread over the lines), synced from the sandbox and invoiced in the sandbox ERP."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from connector import services
from connector.money_view import order_money
from connector.sync import sync_once
from sandbox import server as sandbox_server
from tests.admin_ui.conftest import page_text


@pytest.fixture
def store_seller(ui_ctx, ui_seller, ui_sandbox) -> int:
    services.connect_channel(ui_ctx, ui_seller, "woocommerce", {
        "store_url": ui_sandbox.woo_url, "consumer_key": sandbox_server.WOO_CONSUMER_KEY,
        "consumer_secret": sandbox_server.WOO_CONSUMER_SECRET}, base_url=ui_sandbox.woo_url)
    sync_once(ui_ctx, ui_seller)
    return ui_seller


def _fees(order) -> dict[str, Decimal]:
    document = order.raw.get("order", order.raw)
    return {f["name"]: Decimal(f["total"]) for f in document.get("fee_lines", [])}


def test_an_invoiced_order_with_fees_shows_where_each_peso_went(client, ui_ctx, store_seller):
    orders = services.list_orders(ui_ctx, store_seller, states=["invoiced"], limit=500)
    order = next(o for o in orders if "Pago contra entrega" in _fees(o))
    credited = next(o for o in orders if "Descuento pago en efectivo" in _fees(o))
    assert "se repartió como descuento en las líneas" in page_text(client.get(f"/orders/{credited.id}"))
    money = order_money(ui_ctx, order.id, store_seller)
    assert money.stored  # the explanation of the invoice that was sent
    explanation = money.explanation
    fee = _fees(order)["Pago contra entrega"]
    assert explanation.paid == order.total_paid
    assert explanation.invoiced == money.erp_total == order.invoice.total  # the sandbox ERP's own total
    assert explanation.difference == explanation.left_out_total >= fee  # the fee (and shipping if off)
    left_out = {e.label: e.left_out for e in explanation.entries if e.left_out}
    assert left_out["Pago contra entrega"] == fee

    html = client.get(f"/orders/{order.id}").get_data(as_text=True)
    text = page_text(client.get(f"/orders/{order.id}"))
    assert "De lo pagado a lo facturado" in text and "Pago contra entrega" in text
    assert "Cargo del pedido que no es un producto del ERP: no se factura." in text
    assert "Igual a la diferencia entre lo pagado y lo facturado." in text
    difference = re.search(r'data-money="difference">([^<]+)<', html).group(1)
    assert difference == re.search(r'data-money="left-out">([^<]+)<', html).group(1)
    section = html[html.index('id="money"'):]
    section = section[:section.index("</section>")]
    assert "woocommerce" not in section.lower()  # the core's words, not the channel's

    client.post("/language", data={"locale": "en", "next": f"/orders/{order.id}"})
    english = page_text(client.get(f"/orders/{order.id}"))
    assert "From paid to invoiced" in english and "An order charge that is not an ERP product" in english


def test_an_order_in_the_error_queue_shows_a_preview_or_why_not(client, ui_ctx, store_seller):
    for order in services.error_queue(ui_ctx, store_seller)[:5]:
        response = client.get(f"/orders/{order.id}")
        assert response.status_code == 200
        text = page_text(response)
        assert "De lo pagado a lo facturado" in text
        assert "no tiene producto del ERP asignado" in text or "así quedaría con la configuración" in text


def test_ids_out_of_range_are_not_found(client):
    assert client.get("/orders/99999999999999999999").status_code == 404
