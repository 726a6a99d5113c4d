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


# -- refunds --------------------------------------------------------------------------------------

PARTIAL = fixture("shopify", "order-refunded-partially-with-shipping.json")["order"]
TWICE = fixture("shopify", "order-refunded-twice-then-in-full.json")["order"]
CANCELLED_REFUNDED = fixture("shopify", "order-cancelled-and-refunded.json")["order"]
BOGOTA = timezone(timedelta(hours=-5))


def test_a_partial_refund_with_shipping_and_a_return():
    order = parse_order(pulled(PARTIAL))
    assert order.status is OrderStatus.OTHER
    (refund,) = order.refunds
    assert refund.refund_id == "930000451" and refund.reason == "Talla equivocada"
    assert refund.created_at == datetime(2026, 11, 6, 9, 30, tzinfo=BOGOTA)
    assert [(line.line_id, line.quantity, line.amount) for line in refund.lines] == [
        ("13000045212", 1, Decimal("53442.90"))]
    assert refund.lines[0].line_id in {line.line_id for line in order.lines}
    assert refund.shipping == Decimal("6250.00")  # -(amount + tax_amount): taxes included
    assert refund.amount == Decimal("59693.00")  # the successful refund transaction
    assert refund.restocked and not refund.full


def test_two_refunds_oldest_first_the_last_one_full_and_a_declined_transaction_not_counted():
    refunds = parse_order(pulled(TWICE)).refunds
    assert [(r.refund_id, r.amount, r.full, r.restocked) for r in refunds] == [
        ("930000461", Decimal("29988.00"), False, False), ("930000462", Decimal("89680.90"), True, True)]
    assert sum(r.amount for r in refunds) == Decimal(TWICE["total_price"])


def test_a_cancelled_order_refunded_without_refund_objects_is_one_full_cancel_refund():
    order = parse_order(pulled(CANCELLED_REFUNDED))
    assert order.status is OrderStatus.CANCELLED
    (refund,) = order.refunds
    assert (refund.refund_id, refund.amount, refund.full) == ("cancel-5100004533", Decimal("119668.90"), True)
    assert refund.created_at == datetime(2026, 11, 3, 12, 0, tzinfo=BOGOTA) and refund.reason == "customer"


def test_a_voided_or_paid_order_has_no_refunds():
    assert parse_order(pulled(DISCOUNTED)).refunds == []
    assert parse_order(pulled(DISCOUNTED, financial_status="voided", cancelled_at="2026-11-03T12:00:00-05:00")).refunds == []


def test_a_refund_whose_transactions_are_all_pending_gave_nothing_back_yet():
    order = copy.deepcopy(PARTIAL)
    order["refunds"][0]["transactions"][0]["status"] = "pending"
    assert parse_order(pulled(order)).refunds == []


def test_without_a_transaction_the_amount_is_lines_plus_shipping():
    order = copy.deepcopy(PARTIAL)
    order["refunds"][0]["transactions"] = []
    (refund,) = parse_order(pulled(order)).refunds
    assert refund.amount == Decimal("53442.90") + Decimal("6250.00")


def test_taxes_excluded_refunds_are_before_tax_like_the_lines():
    order = copy.deepcopy(TAXES_EXCLUDED)
    line_id = order["line_items"][0]["id"]
    order["financial_status"] = "partially_refunded"
    order["refunds"] = [{
        "id": 930000471, "order_id": order["id"], "created_at": "2026-11-05T10:00:00-05:00", "note": None,
        "refund_line_items": [{"id": 1, "line_item_id": line_id, "quantity": 1, "restock_type": "no_restock",
                               "subtotal": 185000.0, "total_tax": 35150.0}],
        "order_adjustments": [{"id": 2, "kind": "shipping_refund", "amount": "-10504.20", "tax_amount": "-1995.80"}],
        "transactions": [{"id": 3, "kind": "refund", "status": "success", "amount": "232650.00"}]}]
    (refund,) = parse_order(pulled(order)).refunds
    assert refund.lines[0].amount == Decimal("185000") and refund.shipping == Decimal("10504.20")
    assert refund.amount == Decimal("195504.20")  # 232650 paid back minus 35150 + 1995.80 of tax


def test_a_refund_naming_an_unknown_line_keeps_its_amount_without_lines(caplog):
    order = copy.deepcopy(PARTIAL)
    order["refunds"][0]["refund_line_items"][0]["line_item_id"] = 999
    (refund,) = parse_order(pulled(order)).refunds
    assert refund.lines == [] and refund.amount == Decimal("59693.00")
    assert "lines the order does not have" in caplog.text


def test_an_unreadable_refund_is_skipped_with_a_warning_and_the_order_still_parses(caplog):
    order = copy.deepcopy(TWICE)
    order["refunds"][0]["created_at"] = "ayer"
    order["refunds"].append("basura")
    parsed = parse_order(pulled(order))
    assert [r.refund_id for r in parsed.refunds] == ["930000462"]
    assert caplog.text.count("skipped") == 2
