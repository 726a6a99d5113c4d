"""Shopify order -> canonical order: money (discount allocations, shipping, tax convention), status
table, buyer and document conventions, and refusals (pure, no HTTP)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from channels.shopify.parser import normalise_status, parse_order
from connector.canonical import KindOfPerson, OrderStatus, PulledOrder
from connector.errors import InvalidPayload
from tests.channels.conftest import fixture

DISCOUNTED = fixture("shopify", "order-paid-with-line-and-shipping-discounts.json")["order"]
TAXES_EXCLUDED = fixture("shopify", "order-fulfilled-taxes-excluded-nit-buyer.json")["order"]


def pulled(order: dict, **changes) -> PulledOrder:
    document = {**copy.deepcopy(order), **changes}
    return PulledOrder(external_id=str(document.get("id")), raw={"order": document})


def test_discount_allocations_on_lines_and_on_shipping():
    order = parse_order(pulled(DISCOUNTED))
    assert order.channel == "shopify" and order.external_id == "5100004521" and order.currency == "COP"
    assert order.prices_include_tax is True
    coffee, shirt = order.lines
    assert (coffee.unit_price, coffee.quantity, coffee.discount) == (Decimal("33320.00"), 2, Decimal("6664.00"))
    assert (shirt.unit_price, shirt.discount) == (Decimal("59381.00"), Decimal("5938.10"))
    assert coffee.sku == "7700000010026" and coffee.variation_id == "40123456701"
    assert shirt.variation_id == "40123456702" and shirt.variation_attributes == {"Variante": "Negro / M"}
    assert shirt.title == "Camiseta algodón pima - Negro / M"
    assert order.shipping_cost == Decimal("6250.00")  # 12500 minus the shipping line's allocation
    paid = sum((line.amount_paid for line in order.lines), Decimal(0)) + order.shipping_cost
    assert paid == order.total_paid == Decimal("119668.90")  # not derived from total_discounts
    assert order.created_at == datetime(2026, 11, 3, 10, 15, tzinfo=timezone(timedelta(hours=-5)))
    assert order.status is OrderStatus.PENDING and order.raw_status == "paid/unfulfilled"


def test_buyer_from_customer_billing_address_and_a_cedula_note_attribute():
    buyer = parse_order(pulled(DISCOUNTED)).buyer
    assert buyer.name == "Valentina Restrepo" and buyer.email == "valentina.restrepo@correo.example"
    assert buyer.phone == "+57 300 555 0199" and buyer.marketplace_id == "6207119551"
    assert (buyer.identification.type, buyer.identification.number) == ("CC", "1017234567")
    assert buyer.kind_of_person is KindOfPerson.PERSON
    assert buyer.address.street == "Carrera 43A # 1-50 Apto 1202"
    assert (buyer.address.city, buyer.address.department, buyer.address.country) == ("Medellín", "Antioquia", "CO")


def test_taxes_excluded_store_keeps_prices_before_tax_and_a_nit_buyer_is_a_company():
    order = parse_order(pulled(TAXES_EXCLUDED))
    assert order.prices_include_tax is False
    assert order.lines[0].unit_price == Decimal("185000.00") and order.shipping_cost == Decimal("10504.20")
    assert order.status is OrderStatus.SHIPPED  # fulfilled, in transit
    buyer = order.buyer
    assert (buyer.identification.type, buyer.identification.number, buyer.identification.dv) == ("NIT", "900123456", "7")
    assert buyer.kind_of_person is KindOfPerson.LEGAL and buyer.name == "Comercializadora Gómez S.A.S."


def _fulfillment(shipment_status: str | None, status: str = "success") -> dict:
    return {"id": 1, "status": status, "shipment_status": shipment_status}


@pytest.mark.parametrize(("financial", "fulfillment", "fulfillments", "cancelled_at", "expected"), [
    ("paid", None, [], None, OrderStatus.PENDING),
    ("paid", "partial", [_fulfillment("in_transit")], None, OrderStatus.PENDING),
    ("paid", "fulfilled", [_fulfillment("in_transit")], None, OrderStatus.SHIPPED),
    ("paid", "fulfilled", [], None, OrderStatus.SHIPPED),
    ("paid", "fulfilled", [_fulfillment("delivered")], None, OrderStatus.COMPLETED),
    ("paid", "fulfilled", [_fulfillment("delivered"), _fulfillment("in_transit")], None, OrderStatus.SHIPPED),
    ("paid", "fulfilled", [_fulfillment("delivered"), _fulfillment(None, "cancelled")], None, OrderStatus.COMPLETED),
    ("paid", "restocked", [], None, OrderStatus.OTHER),
    ("paid", None, [], "2026-11-03T12:00:00-05:00", OrderStatus.CANCELLED),
    ("refunded", None, [], None, OrderStatus.CANCELLED),
    ("voided", None, [], None, OrderStatus.CANCELLED),
    ("partially_refunded", "fulfilled", [_fulfillment("delivered")], None, OrderStatus.OTHER),
    ("pending", None, [], None, OrderStatus.OTHER),
    ("authorized", None, [], None, OrderStatus.OTHER),
    ("partially_paid", None, [], None, OrderStatus.OTHER),
    ("expired", None, [], None, OrderStatus.OTHER),
])
def test_status_table(financial, fulfillment, fulfillments, cancelled_at, expected):
    order = {"financial_status": financial, "fulfillment_status": fulfillment, "fulfillments": fulfillments,
             "cancelled_at": cancelled_at}
    assert normalise_status(order) is expected
    assert parse_order(pulled(DISCOUNTED, **order)).status is expected


@pytest.mark.parametrize(("document_field", "notes", "company", "expected"), [
    ("auto", [{"name": "Número de documento", "value": "52.111.222"}], None, (None, "52111222")),
    ("auto", [{"name": "Regalo", "value": "sí"}], "1017234567", (None, "1017234567")),
    ("auto", [], "Comercializadora X S.A.S.", None),
    ("note:Documento del comprador", [{"name": "documento del comprador", "value": "79123456"}], None,
     (None, "79123456")),
    ("note:Documento del comprador", [{"name": "Cédula", "value": "79123456"}], None, None),
    ("billing_company", [], "900555444-1", ("NIT", "900555444")),
    ("none", [{"name": "Cédula", "value": "79123456"}], None, None),
])
def test_the_document_comes_from_the_stores_convention(document_field, notes, company, expected):
    billing = {**DISCOUNTED["billing_address"], "company": company}
    order = parse_order(pulled(DISCOUNTED, note_attributes=notes, billing_address=billing),
                        document_field=document_field)
    found = order.buyer.identification
    assert (None if found is None else (found.type, found.number)) == expected


@pytest.mark.parametrize(("change", "field"), [
    ({"line_items": []}, "line_items"),
    ({"currency": None}, "currency"),
    ({"financial_status": None}, "financial_status"),
    ({"created_at": "ayer"}, "created_at"),
    ({"line_items": [{"id": 1, "quantity": 1, "price": "-5.00"}]}, "line_items[0].price"),
    ({"line_items": [{"id": 1, "quantity": 0, "price": "5.00"}]}, "line_items[0].quantity"),
    ({"line_items": [{"id": 1, "quantity": 1, "price": "5.00",
                      "discount_allocations": [{"amount": "9.00"}]}]}, "line_items[0].discount_allocations"),
    ({"shipping_lines": [{"price": "muy caro"}]}, "shipping_lines[0].price"),
])
def test_malformed_orders_name_the_field_in_spanish(change, field):
    with pytest.raises(InvalidPayload) as error:
        parse_order(pulled(DISCOUNTED, **change))
    assert error.value.user_message.startswith("El pedido #1042 de Shopify")
    assert f"(campo {field})" in error.value.user_message
