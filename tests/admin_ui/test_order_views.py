"""Orders, the error queue, SKU mismatches, the catalog search and "Sincronizar ahora"."""

import time
from datetime import timedelta

from sqlalchemy import select

from connector import services
from connector.models import Order, SkuMapping, utcnow
from connector.states import OrderState, transition
from tests.admin_ui.conftest import page_text


def _errored(ctx, account_id, sku: str) -> Order:
    return next(o for o in services.error_queue(ctx, account_id) if any(line.sku == sku for line in o.lines))


def _vela(ctx, account_id) -> str:
    return next(i.erp_id for i in services.search_catalog(ctx, account_id, "VEL-SOY-200") if i.reference == "VEL-SOY-200")


def test_orders_list_shows_state_total_and_invoice(client, ui_ctx, synced_seller):
    response = client.get("/orders")
    assert response.status_code == 200
    text = page_text(response)
    invoiced = services.list_orders(ui_ctx, synced_seller, states=["invoiced"])
    assert invoiced and invoiced[0].invoice.number in text and invoiced[0].external_id in text
    assert "Facturada" in text and "Error" in text and "Omitida" in text
    assert "$ " in text  # amounts as sellers read them


def test_orders_filters(client, ui_ctx, synced_seller):
    errored = services.error_queue(ui_ctx, synced_seller)
    others = services.list_orders(ui_ctx, synced_seller, states=["invoiced"])
    text = page_text(client.get("/orders?state=error"))
    assert all(o.external_id in text for o in errored) and others[0].external_id not in text
    text = page_text(client.get("/orders?q=vela-arom-01"))  # a SKU, any case
    assert sum(o.external_id in text for o in errored) == 2
    assert page_text(client.get(f"/orders?q={others[0].external_id}")).count(others[0].external_id) >= 1
    [channel] = services.list_channel_connections(ui_ctx, synced_seller)
    assert errored[0].external_id in page_text(client.get(f"/orders?channel={channel.id}"))
    empty = page_text(client.get("/orders?from=2030-01-01"))
    assert "No hay órdenes que coincidan." in empty
    dated = page_text(client.get("/orders?from=2026-01-01&to=2026-12-31"))
    assert errored[0].external_id in dated
    bad = page_text(client.get("/orders?from=ayer"))
    assert "no es válida" in bad and errored[0].external_id in bad  # the filter is dropped, not the page


def test_order_detail_shows_lines_items_invoice_and_trail(client, ui_ctx, synced_seller):
    order = next(o for o in services.list_orders(ui_ctx, synced_seller, states=["invoiced"]) if o.shipping_cost == 0)
    text = page_text(client.get(f"/orders/{order.id}"))
    assert order.invoice.number in text and "Abierta" in text
    assert order.lines[0].title in text and order.lines[0].erp_item_name in text and "por código de barras" in text
    assert "Historial" in text and "Orden recibida del canal." in text and "Factura " in text
    assert "Facturar" not in text.replace("Facturada", "").replace("Facturando", "")


def test_facturar_with_a_picked_item_invoices_and_remembers(client, ui_ctx, synced_seller):
    order = _errored(ui_ctx, synced_seller, "VELA-AROM-02")
    detail = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'name="item[VELA-AROM-02]"' in detail
    response = client.post(f"/orders/{order.id}/invoice", data={"item[VELA-AROM-02]": _vela(ui_ctx, synced_seller),
                                                                "next": "/errors"})
    assert response.status_code == 302 and response.headers["Location"] == "/errors"
    assert "facturada: factura" in page_text(client.get("/errors"))
    after = services.get_order(ui_ctx, order.id, synced_seller)
    assert after.state == OrderState.INVOICED and after.invoice.number
    with ui_ctx.db.session() as session:
        mapping = session.scalar(select(SkuMapping).where(SkuMapping.sku_key == "VELA-AROM-02",
                                                          SkuMapping.channel_connection_id == order.channel_connection_id))
    assert mapping is not None and mapping.created_by.startswith("web:")
    assert any(e.actor.startswith("web:") for e in after.activity)


def test_facturar_without_a_fix_explains_why_not(client, ui_ctx, synced_seller):
    order = _errored(ui_ctx, synced_seller, "VELA-AROM-01")
    response = client.post(f"/orders/{order.id}/invoice")
    assert response.status_code == 302
    text = page_text(client.get(f"/orders/{order.id}"))
    assert "no se pudo facturar" in text and "VELA-AROM-01" in text


def test_facturar_with_an_item_that_does_not_exist_keeps_the_order(client, ui_ctx, synced_seller):
    order = _errored(ui_ctx, synced_seller, "VELA-AROM-02")
    client.post(f"/orders/{order.id}/invoice", data={"item[VELA-AROM-02]": "987654"})
    assert "El producto 987654 no existe en el ERP" in page_text(client.get(f"/orders/{order.id}"))
    assert services.get_order(ui_ctx, order.id, synced_seller).state == OrderState.ERROR


def test_error_queue_lists_each_order_with_its_reason_and_a_picker(client, ui_ctx, synced_seller):
    response = client.get("/errors")
    text, html = page_text(response), response.get_data(as_text=True)
    queue = services.error_queue(ui_ctx, synced_seller)
    assert len(queue) == 3
    for order in queue:
        assert order.external_id in text and order.state_reason in text
    assert html.count('class="picker"') == 3 and "Reintentar todas" in text


def test_retry_the_whole_queue(client, ui_ctx, synced_seller):
    response = client.post("/errors/retry")
    assert response.status_code == 302
    assert "siguen pendientes" in page_text(client.get("/errors"))  # nothing fixed: still held


def test_orders_held_by_an_erp_outage_can_be_retried_now(client, ui_ctx, synced_seller):
    with ui_ctx.db.transaction() as session:
        order = session.scalar(select(Order).where(Order.account_id == synced_seller,
                                                   Order.state == OrderState.WAITING_RULE.value).limit(1))
        if order is None:  # the stream's unpaid/cancelled orders may vary: take a skipped one
            order = session.scalar(select(Order).where(Order.account_id == synced_seller,
                                                       Order.state == OrderState.SKIPPED.value).limit(1))
        transition(session, order, OrderState.READY, "Alegra no está disponible en este momento (503). "
                                                     "Se reintentará automáticamente.")
        order.attempts, order.next_attempt_at = 1, utcnow() + timedelta(minutes=30)
        held_id = order.id
    text = page_text(client.get("/errors"))
    assert "Esperando a que Alegra responda" in text and "Se reintentará automáticamente" in text
    response = client.post("/errors/retry-held")
    assert response.status_code == 302
    assert services.get_order(ui_ctx, held_id, synced_seller).state == OrderState.INVOICED
    assert "Ninguna orden está esperando a Alegra." in page_text(client.get("/errors"))


def test_mismatches_are_grouped_with_how_many_orders_they_block(client, ui_ctx, synced_seller):
    text = page_text(client.get("/mismatches"))
    assert "VELA-AROM-01" in text and "VELA-AROM-02" in text
    assert "2 órdenes bloqueadas" in text and "1 orden bloqueada" in text


def test_mapping_a_sku_invoices_every_order_it_blocked(client, ui_ctx, synced_seller):
    [channel] = services.list_channel_connections(ui_ctx, synced_seller)
    response = client.post("/mismatches/map", data={"sku_key": "VELA-AROM-01", "channel": str(channel.id),
                                                     "item_id": _vela(ui_ctx, synced_seller), "invoice": "1"})
    assert response.status_code == 302
    text = page_text(client.get("/mismatches"))
    assert "asignado a «Vela aromática de soya 200 g»" in text and "2 órdenes facturadas." in text
    assert "VELA-AROM-01" not in text.split("órdenes facturadas.")[1]
    assert len(services.error_queue(ui_ctx, synced_seller)) == 1


def test_mapping_without_an_item_asks_for_one(client, ui_ctx, synced_seller):
    [channel] = services.list_channel_connections(ui_ctx, synced_seller)
    client.post("/mismatches/map", data={"sku_key": "VELA-AROM-01", "channel": str(channel.id), "item_id": ""})
    assert "Elige el producto de Alegra para el SKU VELA-AROM-01." in page_text(client.get("/mismatches"))


def test_catalog_search_finds_by_reference_barcode_and_name(client, ui_ctx, synced_seller):
    by_reference = client.get("/catalog/search?q=VEL-SOY").get_json()["items"]
    assert [i["reference"] for i in by_reference] == ["VEL-SOY-200"]
    barcode = by_reference[0]["barcodes"][0]
    assert client.get(f"/catalog/search?q={barcode}").get_json()["items"][0]["id"] == by_reference[0]["id"]
    assert any(i["name"].startswith("Vela") for i in client.get("/catalog/search?q=vela").get_json()["items"])
    assert client.get("/catalog/search?q=v").get_json() == {"items": []}


def test_catalog_search_without_an_erp(bare_client):
    response = bare_client.get("/catalog/search?q=vela")
    assert response.status_code == 409 and "conecta tu ERP" in response.get_json()["error"]


def test_sync_now_runs_in_the_background_with_progress(client, ui_ctx, ui_seller, app):
    response = client.post("/sync/now", headers={"Accept": "application/json"})
    assert response.status_code == 202
    job = response.get_json()
    assert job["message"] and job["status_url"].startswith("/sync/jobs/")
    deadline = time.monotonic() + 30
    while not job["finished"] and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(job["status_url"]).get_json()
    assert job["phase"] == "done", job
    assert job["pulled"] == 12 and job["steps_done"] == job["steps_total"] == 2
    assert "Listo: 12 órdenes leídas" in job["message"] and "3 en la cola de errores" in job["message"]
    text = page_text(client.get("/sync"))
    assert "12 órdenes leídas: 12 nuevas, 0 cambiadas" in text and "Correcta" in text
    assert "Listo: 12 órdenes leídas" in text


def test_sync_now_without_javascript_redirects_to_the_progress_page(client, ui_seller, app):
    response = client.post("/sync/now")
    assert response.status_code == 303 and response.headers["Location"].startswith("/sync?job=")
    job_id = response.headers["Location"].split("=")[1]
    app.extensions["sync_jobs"].wait(job_id, timeout=30)
    assert "Listo:" in page_text(client.get(response.headers["Location"]))


def test_a_second_click_joins_the_running_sync(client, ui_ctx, ui_seller, app, ui_sandbox):
    ui_sandbox.ml_knobs.latency_ms = 30
    try:
        first = client.post("/sync/now", headers={"Accept": "application/json"}).get_json()
        second = client.post("/sync/now", headers={"Accept": "application/json"}).get_json()
        assert first["id"] == second["id"]
    finally:
        ui_sandbox.ml_knobs.latency_ms = 0
        app.extensions["sync_jobs"].wait(first["id"], timeout=60)


def test_home_page_summarises(client, ui_ctx, synced_seller):
    text = page_text(client.get("/"))
    assert "Órdenes facturadas" in text and "En la cola de errores" in text and "Primeros pasos" not in text
    assert "Cola de errores 3" in text  # the menu counts the queue


def test_facturar_with_a_picked_item_invoices_the_other_orders_of_that_sku_now_and_says_which(
        client, ui_ctx, synced_seller):
    held = [o for o in services.error_queue(ui_ctx, synced_seller) if any(li.sku == "VELA-AROM-01" for li in o.lines)]
    assert len(held) == 2
    clicked, other = held
    response = client.post(f"/orders/{clicked.id}/invoice", data={"item[VELA-AROM-01]": _vela(ui_ctx, synced_seller),
                                                                  "next": "/errors"})
    assert response.status_code == 302
    assert services.get_order(ui_ctx, other.id, synced_seller).state == OrderState.INVOICED  # now, not next sync
    assert f"También se facturaron: #{other.external_id}." in page_text(client.get("/errors"))
