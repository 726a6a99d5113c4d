"""Raw Mercado Libre documents -> canonical Order (pure; documented-shape fixtures + small builders)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.mercadolibre.parser import normalise_status, parse_order
from connector.canonical import KindOfPerson, OrderStatus, PulledOrder
from connector.errors import InvalidPayload

FIXTURES = Path(__file__).parent / "fixtures" / "mercadolibre"
ML_TZ = timezone(timedelta(hours=-4))


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def pulled(order: dict | str = "order-paid-with-variation.json", shipment: dict | str | None = None,
           billing_info: dict | str | None = None) -> PulledOrder:
    docs = [fixture(d) if isinstance(d, str) else d for d in (order, shipment, billing_info)]
    return PulledOrder(external_id=str(docs[0].get("id", "?")),
                       raw={"order": docs[0], "shipment": docs[1], "billing_info": docs[2]})


def with_changes(name: str, change) -> dict:
    order = fixture(name)
    change(order)
    return order


def test_a_paid_order_with_a_variation():
    order = parse_order(pulled(shipment="shipment-fulfillment.json", billing_info="billing-info-cc.json"))
    assert (order.channel, order.external_id, order.raw_status) == ("mercadolibre", "2000008123456", "paid")
    assert order.created_at == datetime(2026, 11, 2, 9, 3, tzinfo=ML_TZ)
    assert order.updated_at == datetime(2026, 11, 2, 9, 6, 12, tzinfo=ML_TZ)
    assert order.created_at.utcoffset() == timedelta(hours=-4)
    assert order.currency == "COP" and order.prices_include_tax
    [line] = order.lines
    assert line.sku == "7700000020050"
    assert line.title == "Camiseta algodón pima Negro M"
    assert line.variation_id == "174123456789"
    assert line.variation_attributes == {"Color": "Negro", "Talla": "M"}
    assert (line.quantity, line.unit_price) == (Decimal("2"), Decimal("59381"))
    assert order.total_paid == Decimal("118762")
    assert order.pack_id is None


def test_the_sku_falls_back_to_seller_custom_field():
    [line] = parse_order(pulled("order-paid-custom-field-sku.json")).lines
    assert line.sku == "CAF-HUI-500" and line.variation_id is None and line.variation_attributes == {}


def test_no_sku_at_all_is_none():
    def drop_skus(order):
        order["order_items"][0]["item"].update(seller_sku=None, seller_custom_field="  ")
    [line] = parse_order(pulled(with_changes("order-paid-custom-field-sku.json", drop_skus))).lines
    assert line.sku is None


def test_a_pack_with_two_items():
    order = parse_order(pulled("order-pack-two-items.json", "shipment-cross-docking-charged.json",
                               "billing-info-nit.json"))
    assert order.pack_id == "2000004123458"
    assert [line.sku for line in order.lines] == ["7700000010056", "7700000010063"]
    assert len({line.line_id for line in order.lines}) == 2
    assert order.total_paid == Decimal("220150") + Decimal("168980") + Decimal("9900")


@pytest.mark.parametrize(("shipment", "expected"), [
    ("shipment-fulfillment.json", True),  # old format: logistic_type
    ("shipment-fulfillment-new-format.json", True),  # x-format-new: logistic.type
    ("shipment-cross-docking-charged.json", False),
    ("shipment-cross-docking-new-format.json", False),
    (None, False),
])
def test_fulfillment_in_both_shipment_formats(shipment, expected):
    assert parse_order(pulled(shipment=shipment)).is_fulfillment is expected


@pytest.mark.parametrize(("shipment", "order_shipping_cost", "expected"), [
    ("shipment-cross-docking-charged.json", None, Decimal("9900")),  # shipping_option.cost (old)
    ("shipment-cross-docking-new-format.json", None, Decimal("9900")),  # lead_time.cost (new)
    ("shipment-fulfillment.json", None, Decimal("0")),  # free
    (None, 7900, Decimal("7900")),  # deprecated order.shipping_cost, no shipment
    (None, None, Decimal("0")),
])
def test_shipping_cost_is_what_the_buyer_paid(shipment, order_shipping_cost, expected):
    order = with_changes("order-pack-two-items.json", lambda o: o.update(shipping_cost=order_shipping_cost))
    assert parse_order(pulled(order, shipment)).shipping_cost == expected


@pytest.mark.parametrize(("raw_status", "shipment_status", "expected"), [
    ("confirmed", None, OrderStatus.OTHER),
    ("payment_required", None, OrderStatus.OTHER),
    ("payment_in_process", None, OrderStatus.OTHER),
    ("partially_paid", None, OrderStatus.OTHER),
    ("paid", None, OrderStatus.PENDING),
    ("paid", "pending", OrderStatus.PENDING),
    ("paid", "handling", OrderStatus.PENDING),
    ("paid", "ready_to_ship", OrderStatus.PENDING),
    ("paid", "shipped", OrderStatus.SHIPPED),
    ("paid", "delivered", OrderStatus.COMPLETED),
    ("paid", "not_delivered", OrderStatus.OTHER),
    ("cancelled", "cancelled", OrderStatus.CANCELLED),
    ("cancelled", "delivered", OrderStatus.CANCELLED),
    ("invalid", None, OrderStatus.CANCELLED),
    ("pending_cancel", "shipped", OrderStatus.OTHER),
    ("partially_refunded", "delivered", OrderStatus.OTHER),
    ("something_new", None, OrderStatus.OTHER),
])
def test_each_raw_status_is_normalised(raw_status, shipment_status, expected):
    shipment = fixture("shipment-cross-docking-new-format.json") | {"status": shipment_status} \
        if shipment_status else None
    order = parse_order(pulled(with_changes("order-paid-with-variation.json",
                                            lambda o: o.update(status=raw_status)), shipment))
    assert order.status is expected and order.raw_status == raw_status
    assert normalise_status(raw_status, shipment_status) is expected


def test_the_delivered_tag_completes_a_paid_order_without_shipment():
    assert normalise_status("paid", None, ["paid", "delivered"]) is OrderStatus.COMPLETED


def test_a_cancelled_order():
    order = parse_order(pulled("order-cancelled.json"))
    assert order.status is OrderStatus.CANCELLED
    assert order.lines[0].quantity == 3


def test_billing_info_of_a_person():
    buyer = parse_order(pulled(billing_info="billing-info-cc.json")).buyer
    assert buyer.marketplace_id == "272684642"
    assert buyer.name == "Camila Restrepo Gómez"
    assert buyer.identification.type == "CC" and buyer.identification.number == "1017234567"
    assert buyer.kind_of_person is KindOfPerson.PERSON
    assert buyer.address.street == "Carrera 43A 1-50"
    assert (buyer.address.city, buyer.address.department) == ("Medellín", "Antioquia")
    assert (buyer.address.country, buyer.address.zip_code) == ("CO", "050021")


def test_billing_info_of_a_company_with_nit():
    buyer = parse_order(pulled("order-pack-two-items.json", billing_info="billing-info-nit.json")).buyer
    assert buyer.name == "Comercializadora Ospina S.A.S."
    assert (buyer.identification.type, buyer.identification.number, buyer.identification.dv) == \
        ("NIT", "900123456", "7")
    assert buyer.kind_of_person is KindOfPerson.LEGAL


def test_a_business_of_a_site_without_nit_is_a_legal_entity():
    """Mexico's RFC is the same document type for persons and companies: billing info's ``cust_type``
    "BU" says which (the ERP's country profile then maps the RFC to its own identification type)."""
    billing = copy.deepcopy(fixture("billing-info-cc.json"))
    info = billing["buyer"]["billing_info"]
    info["identification"] = {"type": "RFC", "number": "CAF190514JN2"}
    info.setdefault("attributes", {})["cust_type"] = "BU"
    buyer = parse_order(pulled(billing_info=billing)).buyer
    assert buyer.identification.type == "RFC" and buyer.kind_of_person is KindOfPerson.LEGAL
    info["attributes"]["cust_type"] = "CO"
    assert parse_order(pulled(billing_info=billing)).buyer.kind_of_person is KindOfPerson.PERSON


def test_without_billing_info_the_nickname_names_the_buyer():
    buyer = parse_order(pulled("order-paid-custom-field-sku.json")).buyer
    assert buyer.name == "SANTIAGO22" and buyer.marketplace_id == "300111222"
    assert buyer.identification is None and buyer.kind_of_person is None and buyer.address is None


def test_unicode_titles_survive():
    def rename(order):
        order["order_items"][0]["item"]["title"] = "Café ☕ Nariño — edición “especial” 日本"
    line = parse_order(pulled(with_changes("order-paid-with-variation.json", rename))).lines[0]
    assert line.title == "Café ☕ Nariño — edición “especial” 日本"


def _set(path: str, value: Any):
    def change(order: dict) -> None:
        *parents, last = path.split(".")
        target = order
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return change


_DELETE = object()


@pytest.mark.parametrize(("change", "field", "words"), [
    (_set("order_items", _DELETE), "order_items", "no trae productos"),
    (_set("order_items", []), "order_items", "lista vacía"),
    (_set("order_items", "MCO123"), "order_items", "no es una lista"),
    (_set("order_items.0.quantity", "abc"), "order_items[0].quantity", "no es un número"),
    (_set("order_items.0.quantity", 0), "order_items[0].quantity", "mayor que cero"),
    (_set("order_items.0.quantity", None), "order_items[0].quantity", "falta"),
    (_set("order_items.0.unit_price", -10), "order_items[0].unit_price", "negativo"),
    (_set("order_items.0.unit_price", "NaN"), "order_items[0].unit_price", "no es un número"),
    (_set("order_items.0.unit_price", True), "order_items[0].unit_price", "no es un número"),
    (_set("order_items.0.unit_price", "  "), "order_items[0].unit_price", "falta el precio"),
    (_set("order_items.0.item", None), "order_items[0].item", "no trae sus datos"),
    (_set("id", _DELETE), "id", "identificador"),
    (_set("status", None), "status", "estado"),
    (_set("date_created", "ayer"), "date_created", "fecha"),
    (lambda o: [o.pop("currency_id"), o["order_items"][0].pop("currency_id")], "currency_id", "moneda"),
    (_set("paid_amount", "mucho"), "paid_amount", "total pagado"),
])
def test_malformed_payloads_are_invalid_payload_with_a_readable_reason(change, field, words):
    order = with_changes("order-paid-with-variation.json", change)
    with pytest.raises(InvalidPayload) as caught:
        parse_order(pulled(order))
    message = caught.value.user_message
    assert field in message and words in message
    assert message.startswith(("El pedido", "Un pedido"))


def test_a_date_without_an_offset_is_read_in_mercado_libre_s_server_zone():
    order = with_changes("order-paid-with-variation.json", _set("date_created", "2026-11-02T09:03:00.000"))
    assert parse_order(pulled(order)).created_at == datetime(2026, 11, 2, 9, 3, tzinfo=ML_TZ)


def test_a_negative_shipping_cost_is_invalid():
    shipment = fixture("shipment-cross-docking-charged.json")
    shipment["shipping_option"]["cost"] = -1
    with pytest.raises(InvalidPayload, match="costo del envío"):
        parse_order(pulled(shipment=shipment))


def test_a_missing_order_document_is_invalid():
    with pytest.raises(InvalidPayload, match="documento del pedido"):
        parse_order(PulledOrder(external_id="1", raw={"shipment": None}))


def test_an_unusable_document_number_is_invalid():
    billing = copy.deepcopy(fixture("billing-info-cc.json"))
    billing["buyer"]["billing_info"]["identification"]["number"] = "---"
    with pytest.raises(InvalidPayload, match="documento del comprador"):
        parse_order(pulled(billing_info=billing))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(["id", "status", "date_created", "last_updated", "order_items", "currency_id",
                         "paid_amount", "total_amount", "buyer", "pack_id", "shipping_cost", "tags"])
_item_keys = st.sampled_from(["item", "quantity", "unit_price", "currency_id"])
_junk_item = st.dictionaries(_item_keys, _json | st.dictionaries(
    st.sampled_from(["id", "title", "seller_sku", "seller_custom_field", "variation_id", "variation_attributes"]),
    _json))
_junk_order = st.dictionaries(_keys, _json | st.lists(_junk_item, max_size=3))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=_junk_order | _json, shipment=_json, billing=_json)
def test_arbitrary_junk_never_raises_anything_but_invalid_payload(order, shipment, billing):
    try:
        parse_order(PulledOrder(external_id="1", raw={"order": order, "shipment": shipment, "billing_info": billing}))
    except InvalidPayload:
        pass


@settings(max_examples=150, deadline=None)
@given(changes=st.dictionaries(_keys, _json, max_size=3))
def test_a_valid_order_with_random_fields_replaced_never_crashes(changes):
    order = fixture("order-pack-two-items.json") | changes
    try:
        parse_order(pulled(order, "shipment-cross-docking-charged.json", "billing-info-nit.json"))
    except InvalidPayload:
        pass


# -- refunds and cancellations after payment -------------------------------------------------------


def test_a_cancelled_order_whose_payment_was_refunded_is_one_full_refund_of_that_payment():
    order = parse_order(pulled("order-cancelled.json"))
    (refund,) = order.refunds
    assert refund.refund_id == "payment-91234567890" and refund.amount == Decimal("88200")
    assert refund.full and refund.lines == [] and refund.shipping == 0
    assert refund.created_at == datetime(2026, 11, 4, 11, 45, tzinfo=ML_TZ)


def test_a_partial_refund_is_the_payments_refunded_figure_without_lines():
    order = parse_order(pulled("order-partially-refunded.json"))
    assert order.status is OrderStatus.OTHER and order.raw_status == "partially_refunded"
    (refund,) = order.refunds
    assert (refund.refund_id, refund.amount, refund.full) == ("payment-91234567901", Decimal("29400"), False)
    assert refund.lines == []  # Mercado Libre does not say which items: the core credits in proportion
    assert refund.created_at == datetime(2026, 11, 6, 16, 20, tzinfo=ML_TZ)


def test_a_cancellation_after_payment_without_a_refunded_payment_is_a_full_cancel_refund():
    order = parse_order(pulled("order-cancelled-after-payment.json"))
    (refund,) = order.refunds
    assert (refund.refund_id, refund.amount, refund.full) == ("cancel-2000008123471", Decimal("88200"), True)
    assert refund.created_at == datetime(2026, 11, 4, 11, 45, tzinfo=ML_TZ)  # cancel_detail.date


def test_a_cancellation_before_payment_is_no_refund():
    order = parse_order(pulled("order-cancelled-before-payment.json"))
    assert order.status is OrderStatus.CANCELLED and order.refunds == []


def test_refunds_of_two_payments_come_oldest_first_and_the_last_one_voids_the_order():
    order = parse_order(pulled("order-refunded-in-two-payments.json"))
    assert [(r.refund_id, r.amount, r.full) for r in order.refunds] == [
        ("payment-91234567904", Decimal("50000"), False), ("payment-91234567905", Decimal("38200"), True)]


def test_paid_orders_have_no_refunds_and_ids_are_stable_across_pulls():
    assert parse_order(pulled()).refunds == []
    first = parse_order(pulled("order-partially-refunded.json")).refunds
    assert parse_order(pulled("order-partially-refunded.json")).refunds == first


def test_an_unreadable_refund_is_skipped_and_the_order_still_parses(caplog):
    def break_one(order):
        order["payments"].append({**order["payments"][0], "id": 91234567999, "transaction_amount_refunded": "mucho"})
    order = parse_order(pulled(with_changes("order-partially-refunded.json", break_one)))
    assert [r.refund_id for r in order.refunds] == ["payment-91234567901"]
    assert "refund 2 skipped" in caplog.text
