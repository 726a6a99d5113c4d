"""Bulk actions on the orders list: pick orders, "Facturar seleccionadas" or "Reintentar", and a page
says what happened to each one."""

import re

from connector import services
from connector.states import OrderState
from tests.admin_ui.conftest import page_text


def test_the_list_has_a_checkbox_per_open_order_inside_a_csrf_protected_form(client, synced_seller):
    html = client.get("/orders").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/orders/bulk".*?</form>', html, flags=re.S).group(0)
    assert 'name="csrf_token"' in form and 'value="invoice"' in form and 'value="retry"' in form
    assert form.count('name="order_id"') >= 3  # the held orders at least; invoiced ones have none


def test_facturar_seleccionadas_says_what_happened_to_each(client, ui_ctx, synced_seller):
    held = services.error_queue(ui_ctx, synced_seller)
    invoiced = services.list_orders(ui_ctx, synced_seller, states=["invoiced"])[0]
    waiting = (services.list_orders(ui_ctx, synced_seller, states=["waiting_rule"])
               or services.list_orders(ui_ctx, synced_seller, states=["skipped"]))[0]
    picked = [held[0].id, invoiced.id, waiting.id, 99999999]
    response = client.post("/orders/bulk", data={"action": "invoice", "order_id": [str(i) for i in picked]})
    assert response.status_code == 200
    text = page_text(response)
    assert "Ya estaba facturada; no se hizo nada." in text and "No existe en esta cuenta." in text
    assert held[0].state_reason.split("«")[1].split("»")[0] in text  # the held order says why it is still held
    assert services.get_order(ui_ctx, waiting.id, synced_seller).state in (OrderState.INVOICED, OrderState.SKIPPED,
                                                                           OrderState.WAITING_RULE)
    assert re.search(r"\d+ de 4 órdenes quedaron facturadas\.", text)


def test_reintentar_goes_through_the_rules_again(client, ui_ctx, synced_seller):
    held = services.error_queue(ui_ctx, synced_seller)[0]
    response = client.post("/orders/bulk", data={"action": "retry", "order_id": str(held.id)})
    assert response.status_code == 200 and held.external_id in page_text(response)
    after = services.get_order(ui_ctx, held.id, synced_seller)
    assert after.state == OrderState.ERROR and any("Reintento pedido" in e.message for e in after.activity)


def test_nothing_picked_or_no_csrf(client, synced_seller):
    response = client.post("/orders/bulk", data={"action": "invoice"})
    assert response.status_code == 302
    assert "Elige al menos una orden" in page_text(client.get("/orders"))
    assert client.post("/orders/bulk", data={"action": "invoice", "order_id": "1"}, csrf=False).status_code in (400, 403)
    assert client.post("/orders/bulk", data={"action": "delete", "order_id": "1"}).status_code == 302
