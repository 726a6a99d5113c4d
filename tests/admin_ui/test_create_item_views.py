"""The order page's "Crear en el ERP": a prefilled form, confirmation, the product created once and the
order invoiced; bad input answered on the form, never a 500."""

from __future__ import annotations

from connector import services
from tests.admin_ui.conftest import page_text


def _unmatched(ctx, account):
    for order in services.error_queue(ctx, account):
        for line in order.lines:
            if line.erp_item_id is None and line.sku:
                return order, line
    raise AssertionError("the sandbox always has orders with unknown SKUs")


def test_create_the_product_from_the_order_page(client, ui_ctx, ui_sandbox, synced_seller):
    order, line = _unmatched(ui_ctx, synced_seller)
    detail = client.get(f"/orders/{order.id}").get_data(as_text=True)
    link = f"/orders/{order.id}/create-item?sku={line.sku_key}"
    assert link in detail.replace("&amp;", "&")
    html = client.get(link).get_data(as_text=True)
    form = page_text(client.get(link))
    assert "Crear el producto en el ERP" in form and "Código de barras" in form
    assert f'name="code" value="{line.sku}"' in html and f'value="{line.unit_price}"' in html
    before = len(ui_sandbox.alegra_state.items)
    refused = client.post(f"/orders/{order.id}/create-item", data={"sku": line.sku_key, "name": line.title,
                                                                    "code": line.sku, "price": "gratis", "tax_id": ""})
    assert refused.status_code == 200 and "no es un número" in page_text(refused)
    assert len(ui_sandbox.alegra_state.items) == before
    done = client.post(f"/orders/{order.id}/create-item", data={"sku": line.sku_key, "name": line.title,
                                                                 "code": line.sku, "price": "31900", "tax_id": ""})
    assert done.status_code == 302
    text = page_text(client.get(done.headers["Location"]))
    assert "creado en el ERP" in text and "órdenes facturadas" in text
    assert len(ui_sandbox.alegra_state.items) == before + 1
    assert services.get_order(ui_ctx, order.id, synced_seller).state == "invoiced"


def test_odd_requests_get_a_message_or_404(client, ui_ctx, synced_seller):
    order, line = _unmatched(ui_ctx, synced_seller)
    assert client.get("/orders/99999999999999999999/create-item?sku=X").status_code == 404
    response = client.get(f"/orders/{order.id}/create-item?sku=NO-EXISTE")
    assert response.status_code == 302
    assert "no tiene una línea sin producto" in page_text(client.get(response.headers["Location"]))
    assert client.post(f"/orders/{order.id}/create-item", data={"sku": line.sku_key}, csrf=False).status_code == 400


def test_an_erp_that_cannot_create_products_is_answered_on_the_form(client, ui_ctx, ui_sandbox, synced_seller,
                                                                    monkeypatch):
    from connector.errors import FeatureNotAvailable
    from erp.alegra.adapter import AlegraAdapter

    said = "Tu plan del ERP no permite crear productos desde el conector: créalo en el ERP."

    def refuse(self, draft):
        raise FeatureNotAvailable(said, detail="HTTP 402 POST /items")

    monkeypatch.setattr(AlegraAdapter, "create_item", refuse)
    order, line = _unmatched(ui_ctx, synced_seller)
    answer = client.post(f"/orders/{order.id}/create-item", data={"sku": line.sku_key, "name": line.title,
                                                                   "code": line.sku, "price": "31900", "tax_id": ""})
    assert answer.status_code == 200
    text = page_text(answer)
    assert said in text and "402" not in text
    assert services.get_order(ui_ctx, order.id, synced_seller).state != "invoiced"
