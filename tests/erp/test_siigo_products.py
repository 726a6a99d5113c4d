"""Siigo products in the documented wire format (respx, shapes from Siigo's API Blueprint, ProductIn /
ProductOut): a product created from a SKU with the required account group, found again by its exact
code, a duplicate code refused in words, and the stock per warehouse with the price lists."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import httpx
import pytest
import respx

from connector.errors import ConfigurationError, NotFound, PermanentRejection
from connector.outcomes import Outcome, outcome_of
from erp.base import ERPOptions, InvoiceDraft, InvoiceLineDraft, ItemDraft
from erp.siigo.adapter import SiigoAdapter
from tests.erp.test_siigo_adapter import BASE, KEY, USER, mock_catalog, page, siigo_error, token

PRODUCT = {
    "id": "00584089-4ebc-49de-bf75-6a6cc968a96d", "code": "Item-1", "name": "Camiseta de algodón",
    "account_group": {"id": 1253, "name": "Productos"}, "type": "Product", "stock_control": True, "active": True,
    "tax_classification": "Taxed", "tax_included": False, "tax_consumption_value": 0,
    "taxes": [{"id": 13156, "name": "IVA 19%", "type": "IVA", "percentage": 19}],
    "prices": [{"currency_code": "COP", "price_list": [{"position": 1, "name": "Precio de venta 1", "value": 12000},
                                                        {"position": 2, "name": "Mayorista", "value": 10800}]}],
    "unit": {"code": "94", "name": "unidad"}, "unit_label": "unidad", "reference": "REF1",
    "additional_fields": {"barcode": "B0123", "brand": "Gef", "tariff": "151612", "model": "Loiry"},
    "available_quantity": 7,
    "warehouses": [{"id": 1270, "name": "Bodega principal", "quantity": 5},
                   {"id": 1271, "name": "Bodega Bogotá", "quantity": "2"}],
    "metadata": {"created": "2021-02-17T20:07:22.327Z", "last_updated": None},
}
SERVICE = PRODUCT | {"id": "1b2c", "code": "ENVIO", "name": "Envío", "type": "Service", "stock_control": False,
                     "available_quantity": 0, "warehouses": []}


@pytest.fixture
def adapter():
    a = SiigoAdapter({"username": USER, "access_key": KEY}, ERPOptions(base_url=BASE), sleep=lambda _s: None)
    yield a
    a.close()


def test_a_product_is_created_with_the_required_fields_and_read_back_by_its_code(adapter):
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        groups = router.get(f"{BASE}/v1/account-groups").mock(return_value=httpx.Response(200, json=[
            {"id": 1250, "name": "Vieja", "active": False}, {"id": 1253, "name": "Productos", "active": True}]))
        created = router.post(f"{BASE}/v1/products").mock(return_value=httpx.Response(201, json=PRODUCT))
        item = adapter.create_item(ItemDraft(name="Camiseta  de algodón", code="Item-1", price=Decimal("12000.1251"),
                                             tax_ids=("13156",), price_list_id="2"))
    sent = json.loads(created.calls[0].request.content)
    assert sent == {"code": "Item-1", "name": "Camiseta de algodón", "account_group": 1253, "type": "Product",
                    "taxes": [{"id": 13156}],
                    "prices": [{"currency_code": "COP", "price_list": [{"position": 2, "value": 12000.13}]}],
                    "additional_fields": {"barcode": "Item-1"}}
    assert groups.call_count == 1
    assert item.erp_id == "Item-1" and item.tax_ids == ("13156",) and item.tax_rate == 19
    assert item.prices == {"1": Decimal("12000"), "2": Decimal("10800")} and item.barcodes == ("B0123",)


def test_a_code_siigo_already_has_is_refused_in_the_sellers_words(adapter):
    with respx.mock() as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/account-groups").mock(return_value=httpx.Response(200, json=[
            {"id": 1253, "name": "Productos", "active": True}]))
        router.post(f"{BASE}/v1/products").mock(return_value=siigo_error(400, "already_exists",
                                                                         "The product code already exists"))
        router.get(f"{BASE}/v1/products", params={"code": "Item-1"}).mock(
            return_value=httpx.Response(200, json=page([PRODUCT])))
        with pytest.raises(PermanentRejection) as refused:
            adapter.create_item(ItemDraft(name="Otra", code="Item-1", price=Decimal("1")))
    assert "ya tiene un producto con el código «Item-1»" in refused.value.user_message
    assert outcome_of(refused.value) is Outcome.REJECTED


def test_a_code_siigo_cannot_take_is_refused_before_anything_is_sent(adapter):
    with respx.mock(assert_all_called=False) as router:
        posted = router.post(f"{BASE}/v1/products")
        for code in ("CON ESPACIO", "X" * 31):
            with pytest.raises(PermanentRejection) as refused:
                adapter.create_item(ItemDraft(name="Taza", code=code, price=Decimal("1")))
            assert "sin espacios" in refused.value.user_message
        with pytest.raises(ConfigurationError):
            adapter.create_item(ItemDraft(name="Taza", code="TAZA", price=Decimal("1"), price_list_id="13"))
    assert posted.call_count == 0


def test_a_company_without_an_inventory_group_is_told_where_to_create_one(adapter):
    with respx.mock() as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/account-groups").mock(return_value=httpx.Response(200, json=[]))
        with pytest.raises(ConfigurationError) as missing:
            adapter.create_item(ItemDraft(name="Taza", code="TAZA", price=Decimal("1")))
    assert "grupos de inventario" in missing.value.user_message and "Siigo Nube" in missing.value.user_message


def test_find_item_by_code_counts_only_an_equal_code(adapter):
    with respx.mock() as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/products", params={"code": "Item"}).mock(
            return_value=httpx.Response(200, json=page([PRODUCT])))
        router.get(f"{BASE}/v1/products", params={"code": "Item-1"}).mock(
            return_value=httpx.Response(200, json=page([PRODUCT])))
        assert adapter.find_item_by_code("Item") is None
        assert adapter.find_item_by_code(" Item-1 ").erp_id == "Item-1"
        assert adapter.find_item_by_code("  ") is None


def test_stock_per_warehouse_everywhere_and_none_for_what_keeps_no_stock(adapter):
    with respx.mock() as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/products", params={"code": "Item-1"}).mock(
            return_value=httpx.Response(200, json=page([PRODUCT])))
        router.get(f"{BASE}/v1/products", params={"code": "NADA"}).mock(return_value=httpx.Response(200, json=page([])))
        router.get(f"{BASE}/v1/products", params={"page": "1"}).mock(
            return_value=httpx.Response(200, json=page([PRODUCT, SERVICE, {"name": "sin código"}])))
        in_bogota = {s.erp_id: s.quantity for s in adapter.iter_item_stock("1271")}
        everywhere = adapter.get_item_stock("Item-1", None)
        elsewhere = adapter.get_item_stock("Item-1", "9999")
        with pytest.raises(NotFound):
            adapter.get_item_stock("NADA", "1270")
    assert in_bogota == {"Item-1": Decimal(2), "ENVIO": None}
    assert everywhere.quantity == 7 and everywhere.prices == {"1": Decimal("12000"), "2": Decimal("10800")}
    assert elsewhere.quantity == 0


def test_an_invoice_naming_a_warehouse_sends_it_only_for_products_with_stock_control(adapter):
    with respx.mock() as router:
        mock_catalog(router)
        router.get(f"{BASE}/v1/products", params={"code": "Item-1"}).mock(
            return_value=httpx.Response(200, json=page([PRODUCT])))
        router.get(f"{BASE}/v1/products", params={"code": "ENVIO"}).mock(
            return_value=httpx.Response(200, json=page([SERVICE])))
        posted = router.post(f"{BASE}/v1/invoices").mock(return_value=httpx.Response(201, json={
            "id": "63f918c2-ca65-4edc-a7db-66bcdd5159fb", "name": "FV-1-22", "total": 33320, "balance": 33320}))
        lines = (InvoiceLineDraft(item_id="Item-1", quantity=Decimal(2), unit_price=Decimal(12000), tax_ids=("13156",)),
                 InvoiceLineDraft(item_id="ENVIO", quantity=Decimal(1), unit_price=Decimal(4000)))
        adapter.create_invoice(InvoiceDraft(marker="[CX-1-9]", contact_id="13832081", issue_date=date(2026, 11, 30),
                                            due_date=date(2026, 11, 30), lines=lines, warehouse_id="1271"))
    items = json.loads(posted.calls[0].request.content)["items"]
    assert items[0]["warehouse"] == 1271 and "warehouse" not in items[1]
