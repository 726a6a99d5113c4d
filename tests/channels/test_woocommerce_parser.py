"""WooCommerce order -> canonical order: totals before tax turned into what the buyer paid, coupons,
variations, shipping and fee lines, the status table, the buyer's document (pure, no HTTP)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from channels.woocommerce.parser import ORDER_STATUSES, normalise_status, parse_order
from connector.canonical import KindOfPerson, OrderStatus, PulledOrder
from connector.errors import InvalidPayload
from tests.channels.conftest import fixture

COUPON = fixture("woocommerce", "order-processing-with-coupon-and-variation.json")
FEES = fixture("woocommerce", "order-completed-with-fees-nit-buyer.json")


def pulled(order: dict, **changes) -> PulledOrder:
    document = {**copy.deepcopy(order), **changes}
    return PulledOrder(external_id=str(document.get("id")), raw={"order": document})


def line(total: str, quantity: int = 1, *, subtotal: str | None = None, tax: str = "0.00", **extra) -> dict:
    return {"id": 1, "name": "Producto", "product_id": 9, "variation_id": 0, "quantity": quantity,
            "subtotal": subtotal or total, "subtotal_tax": tax, "total": total, "total_tax": tax,
            "sku": "SKU-1", "meta_data": [], **extra}


def paid(order) -> Decimal:
    return sum((ln.amount_paid for ln in order.lines), Decimal(0)) + order.shipping_cost


def test_line_totals_before_tax_become_what_the_buyer_paid_with_the_coupon_as_discount():
    order = parse_order(pulled(COUPON))
    assert order.channel == "woocommerce" and order.external_id == "7342" and order.prices_include_tax is True
    shirt, coffee = order.lines
    assert (shirt.unit_price, shirt.quantity, shirt.discount) == (Decimal("59381"), 2, Decimal("11876.20"))
    assert shirt.amount_paid == Decimal("89820.00") + Decimal("17065.80")
    assert (coffee.unit_price, coffee.discount) == (Decimal("17325"), Decimal("1732.50"))
    assert order.shipping_cost == Decimal("9900.00")  # 8319.33 + 1580.67 of tax
    assert paid(order) == order.total_paid == Decimal("132378.30")


def test_variations_come_from_the_line_meta_data():
    shirt, coffee = parse_order(pulled(COUPON)).lines
    assert shirt.variation_id == "451" and shirt.sku == "7700000020058"
    assert shirt.variation_attributes == {"Color": "Negro", "Talla": "M"}  # _reduced_stock is hidden
    assert coffee.variation_id is None and coffee.variation_attributes == {}


def test_dates_are_read_in_utc_and_the_status_is_kept():
    order = parse_order(pulled(COUPON))
    assert order.created_at == datetime(2026, 11, 3, 15, 15, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 11, 3, 15, 20, 31, tzinfo=UTC)
    assert (order.status, order.raw_status) == (OrderStatus.PENDING, "processing")


def test_buyer_from_billing_and_the_cedula_meta():
    buyer = parse_order(pulled(COUPON)).buyer
    assert buyer.name == "Camila Zapata" and buyer.email == "camila.zapata@correo.example"
    assert buyer.phone == "3005550101" and buyer.marketplace_id == "118"
    assert (buyer.identification.type, buyer.identification.number) == ("CC", "1017234567")
    assert buyer.kind_of_person is KindOfPerson.PERSON
    assert buyer.address.street == "Calle 10 # 43-20 Casa 4"
    assert (buyer.address.city, buyer.address.department, buyer.address.zip_code) == ("Envigado", "ANT", "055422")


def test_a_negative_fee_is_a_discount_and_a_positive_fee_is_not_invoiced():
    order = parse_order(pulled(FEES))
    [mochila] = order.lines
    assert mochila.unit_price == Decimal("220150") and mochila.discount == Decimal("2000")
    assert order.shipping_cost == 0
    assert paid(order) == order.total_paid - Decimal("3000") == Decimal("218150")
    assert order.status is OrderStatus.COMPLETED
    buyer = order.buyer
    assert (buyer.identification.type, buyer.identification.number, buyer.identification.dv) == ("NIT", "900123456", "7")
    assert buyer.kind_of_person is KindOfPerson.LEGAL and buyer.name == "Comercializadora Gómez S.A.S."


def test_negative_fees_are_spread_exactly_over_several_lines():
    order = parse_order(pulled(FEES, line_items=[line("100.00", id=1), line("33.33", id=2), line("66.67", id=3)],
                               fee_lines=[{"name": "Descuento", "total": "-10.00", "total_tax": "0.00"}]))
    assert sum((ln.discount for ln in order.lines), Decimal(0)) == Decimal("10.00")
    assert sum((ln.amount_paid for ln in order.lines), Decimal(0)) == Decimal("190.00")
    assert all(ln.discount >= 0 for ln in order.lines)


def test_a_negative_fee_larger_than_the_products_is_refused():
    with pytest.raises(InvalidPayload, match="cargos negativos"):
        parse_order(pulled(FEES, fee_lines=[{"name": "Regalo", "total": "-999999.00", "total_tax": "0"}]))


def test_a_unit_price_that_does_not_divide_still_adds_up_to_the_cent():
    order = parse_order(pulled(COUPON, line_items=[line("90.00", 3, subtotal="100.00")], shipping_lines=[]))
    [only] = order.lines
    assert only.unit_price == Decimal("33.333334")
    assert only.amount_paid == Decimal("90.00")


def test_a_line_without_subtotals_is_priced_at_what_was_paid():
    order = parse_order(pulled(COUPON, line_items=[{"id": 5, "quantity": 2, "total": "100.00", "total_tax": "19.00",
                                                    "sku": "X"}]))
    assert (order.lines[0].unit_price, order.lines[0].discount) == (Decimal("59.5"), Decimal("0"))


@pytest.mark.parametrize(("status", "expected"), [
    ("pending", OrderStatus.OTHER), ("processing", OrderStatus.PENDING), ("on-hold", OrderStatus.OTHER),
    ("completed", OrderStatus.COMPLETED), ("cancelled", OrderStatus.CANCELLED), ("refunded", OrderStatus.CANCELLED),
    ("failed", OrderStatus.CANCELLED), ("trash", OrderStatus.CANCELLED), ("checkout-draft", OrderStatus.OTHER),
    ("wc-processing", OrderStatus.PENDING), ("enviado", OrderStatus.OTHER),
])
def test_status_table(status, expected):
    assert normalise_status(status) is expected
    assert parse_order(pulled(COUPON, status=status)).status is expected


def test_every_documented_status_is_in_the_table():
    documented = {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"}
    assert documented <= set(ORDER_STATUSES)


@pytest.mark.parametrize(("document_field", "meta", "company", "expected"), [
    ("auto", [{"key": "billing_dni", "value": "52111222"}], "", (None, "52111222")),
    ("auto", [{"key": "_billing_nit", "value": "900555444-1"}], "", ("NIT", "900555444")),
    ("auto", [{"key": "_shipping_phone", "value": "3001112233"}], "", None),
    ("meta:_numero_documento", [{"key": "_numero_documento", "value": "79123456"}], "", (None, "79123456")),
    ("billing_company", [], "900555444-1", ("NIT", "900555444")),
    ("none", [{"key": "_billing_cedula", "value": "79123456"}], "", None),
])
def test_the_document_comes_from_the_stores_convention(document_field, meta, company, expected):
    order = parse_order(pulled(COUPON, meta_data=meta, billing={**COUPON["billing"], "company": company}),
                        document_field=document_field)
    found = order.buyer.identification
    assert (None if found is None else (found.type, found.number)) == expected


@pytest.mark.parametrize(("change", "field"), [
    ({"line_items": []}, "line_items"),
    ({"status": None}, "status"),
    ({"currency": ""}, "currency"),
    ({"date_created_gmt": None, "date_created": "ayer"}, "date_created"),
    ({"line_items": [line("10.00", 0)]}, "line_items[0].quantity"),
    ({"line_items": [line("-10.00")]}, "line_items[0].total"),
    ({"line_items": [{"id": 1, "quantity": 1}]}, "line_items[0].total"),
    ({"shipping_lines": [{"total": "gratis"}]}, "shipping_lines[0].total"),
    ({"fee_lines": [{"total": None}]}, "fee_lines[0].total"),
])
def test_malformed_orders_name_the_field_in_spanish(change, field):
    with pytest.raises(InvalidPayload) as error:
        parse_order(pulled(COUPON, **change))
    assert error.value.user_message.startswith("El pedido 7342 de WooCommerce")
    assert f"(campo {field})" in error.value.user_message


@pytest.mark.parametrize(("change", "words"), [
    ({"line_items": [line("10.00", 0)]}, "la cantidad del producto 1 debe ser mayor que cero (0)"),
    ({"line_items": [line("-10.00")]}, "el total del producto 1 es negativo (-10.00)"),
    ({"line_items": [line("10.00", total_tax="IVA")]}, "el impuesto del producto 1 no es un número ('IVA')"),
])
def test_line_errors_read_as_plain_spanish(change, words):
    with pytest.raises(InvalidPayload) as error:
        parse_order(pulled(COUPON, **change))
    assert words in error.value.user_message


# -- refunds --------------------------------------------------------------------------------------

PARTIAL = fixture("woocommerce", "order-refunded-partially-with-shipping.json")
PARTIAL_REFUNDS = fixture("woocommerce", "refunds-of-order-refunded-partially-with-shipping.json")
TWO_STEPS = fixture("woocommerce", "order-refunded-in-two-steps.json")
TWO_STEPS_REFUNDS = fixture("woocommerce", "refunds-of-order-refunded-in-two-steps.json")
CANCELLED_PAID = fixture("woocommerce", "order-cancelled-after-payment.json")


def with_refunds(order: dict, refunds: list) -> PulledOrder:
    return PulledOrder(external_id=str(order["id"]), raw={"order": copy.deepcopy(order), "refunds": copy.deepcopy(refunds)})


def test_a_partial_refund_with_a_line_and_shipping_tax_included():
    order = parse_order(with_refunds(PARTIAL, PARTIAL_REFUNDS))
    assert order.status is OrderStatus.PENDING
    (refund,) = order.refunds
    assert (refund.refund_id, refund.amount, refund.reason) == ("7501", Decimal("63342.90"), "Talla equivocada")
    assert refund.created_at == datetime(2026, 11, 6, 14, 30, tzinfo=UTC)
    assert [(line.line_id, line.quantity, line.amount) for line in refund.lines] == [("315", 1, Decimal("53442.90"))]
    assert refund.shipping == Decimal("9900.00") and not refund.full and not refund.restocked


def test_two_refunds_of_a_refunded_order_oldest_first_the_last_full():
    refunds = parse_order(with_refunds(TWO_STEPS, TWO_STEPS_REFUNDS)).refunds
    assert [(r.refund_id, r.amount, r.full) for r in refunds] == [
        ("7511", Decimal("15592.50"), False), ("7512", Decimal("116785.80"), True)]
    assert sum(r.amount for r in refunds) == Decimal(TWO_STEPS["total"])
    assert [(line.line_id, line.quantity) for line in refunds[1].lines] == [("315", 2)]


def test_without_the_fetched_refunds_the_summary_is_read():
    (refund,) = parse_order(pulled(PARTIAL)).refunds
    assert (refund.refund_id, refund.amount, refund.lines) == ("7501", Decimal("63342.90"), [])


def test_a_refund_line_without_its_item_id_is_matched_by_product_and_variation():
    refunds = copy.deepcopy(PARTIAL_REFUNDS)
    refunds[0]["line_items"][0]["meta_data"] = []
    (refund,) = parse_order(with_refunds(PARTIAL, refunds)).refunds
    assert refund.lines[0].line_id == "315"


def test_a_refund_line_of_an_unknown_product_keeps_the_amount_without_lines():
    refunds = copy.deepcopy(PARTIAL_REFUNDS)
    refunds[0]["line_items"][0].update(meta_data=[], product_id=5, variation_id=0)
    (refund,) = parse_order(with_refunds(PARTIAL, refunds)).refunds
    assert refund.lines == [] and refund.amount == Decimal("63342.90")


def test_a_cancelled_order_that_was_paid_is_one_full_cancel_refund_of_its_total():
    order = parse_order(pulled(CANCELLED_PAID))
    (refund,) = order.refunds
    assert (refund.refund_id, refund.amount, refund.full) == ("cancel-7403", Decimal("132378.30"), True)


def test_a_refunded_order_without_refund_objects_and_unpaid_cancellations():
    (refund,) = parse_order(pulled(COUPON, status="refunded")).refunds
    assert (refund.refund_id, refund.amount, refund.full) == ("cancel-7342", Decimal("132378.30"), True)
    assert parse_order(pulled(COUPON, status="cancelled", date_paid=None, date_paid_gmt=None)).refunds == []
    assert parse_order(pulled(COUPON)).refunds == []


def test_a_cancellation_after_a_partial_refund_gives_back_the_rest():
    order = {**copy.deepcopy(PARTIAL), "status": "cancelled"}
    refunds = parse_order(with_refunds(order, PARTIAL_REFUNDS)).refunds
    assert [(r.refund_id, r.amount, r.full) for r in refunds] == [
        ("7501", Decimal("63342.90"), False), ("cancel-7401", Decimal("69035.40"), True)]


def test_an_unreadable_refund_is_skipped_with_a_warning(caplog):
    refunds = copy.deepcopy(TWO_STEPS_REFUNDS)
    refunds[0]["amount"] = "mucho"
    parsed = parse_order(with_refunds(TWO_STEPS, refunds))
    assert [r.refund_id for r in parsed.refunds] == ["7511"] and parsed.refunds[0].full
    assert "skipped" in caplog.text
