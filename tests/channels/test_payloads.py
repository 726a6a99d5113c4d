"""The helpers every channel's parser and endpoints share (channels/payloads.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from channels.payloads import (
    PayloadReader,
    address_or_none,
    json_document,
    order_document,
    typed_document,
)
from connector.canonical import Address, KindOfPerson, PulledOrder
from connector.errors import InvalidPayload, TransientError


def answer(status: int = 200, **content) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://api.example/orders"), **content)


@pytest.mark.parametrize(("content", "kind"), [
    ({"text": "<html>Mantenimiento</html>"}, dict),
    ({"json": [1, 2]}, dict),
    ({"json": {"orders": []}}, list),
    ({"content": b""}, dict),
])
def test_a_2xx_that_is_not_the_expected_json_is_transient(content, kind):
    with pytest.raises(TransientError) as error:
        json_document(answer(**content), "WooCommerce", "los pedidos", kind)
    assert error.value.user_message == "WooCommerce respondió algo inesperado al leer los pedidos."
    assert error.value.detail == f"/orders: not a JSON {kind.__name__}"


def test_the_expected_json_is_returned():
    assert json_document(answer(json={"id": 1}), "Shopify", "la tienda") == {"id": 1}
    assert json_document(answer(json=[{"id": 1}]), "WooCommerce", "los pedidos", list) == [{"id": 1}]


@pytest.mark.parametrize(("value", "words"), [
    (0, "la cantidad del producto 2 debe ser mayor que cero (0)"),
    ("-1", "la cantidad del producto 2 debe ser mayor que cero (-1)"),
    (None, "falta la cantidad del producto 2"),
    ("dos", "la cantidad del producto 2 no es un número ('dos')"),
])
def test_a_quantity_must_be_a_number_above_zero(value, words):
    read = PayloadReader("Shopify", "#1001")
    with pytest.raises(InvalidPayload) as error:
        read.quantity(value, "line_items[1].quantity", label="la cantidad del producto 2")
    assert error.value.user_message == \
        f"El pedido #1001 de Shopify no se puede leer: {words} (campo line_items[1].quantity)."
    assert read.quantity("1.5", "q", label="la cantidad") == Decimal("1.5")


def test_a_date_without_offset_is_read_in_the_readers_zone():
    bogota = timezone(timedelta(hours=-5))
    assert PayloadReader("X", "1").date("2026-11-02T09:03:00", "d", label="la fecha") == \
        datetime(2026, 11, 2, 9, 3, tzinfo=UTC)
    assert PayloadReader("X", "1", naive_tz=bogota).date("2026-11-02T09:03:00", "d", label="la fecha") == \
        datetime(2026, 11, 2, 9, 3, tzinfo=bogota)


def test_order_document_names_the_order_as_the_seller_knows_it():
    order, order_id, read = order_document(PulledOrder(external_id="5100", raw={"order": {"id": 5100, "name": "#1001"}}),
                                           "Shopify", shown_id_key="name")
    assert (order["name"], order_id) == ("#1001", "5100")
    assert read.invalid("falta la moneda", "currency").user_message.startswith("El pedido #1001 de Shopify")


@pytest.mark.parametrize(("raw", "words"), [
    ({}, "El pedido 7 de WooCommerce no se puede leer: no viene el documento del pedido (campo order)."),
    ({"order": {"number": "7"}}, "El pedido 7 de WooCommerce no se puede leer: falta el identificador del pedido"),
])
def test_order_document_refuses_a_missing_order_or_id(raw, words):
    with pytest.raises(InvalidPayload) as error:
        order_document(PulledOrder(external_id="7", raw=raw), "WooCommerce", shown_id_key="number")
    assert error.value.user_message.startswith(words)


@pytest.mark.parametrize(("found", "expected"), [
    (None, (None, None, None)),
    (("900.123.456-7", "NIT"), ("NIT", "900123456", KindOfPerson.LEGAL)),
    (("1.017.234.567", "Cédula"), ("CC", "1017234567", KindOfPerson.PERSON)),
    (("52111222", "dni"), (None, "52111222", None)),
])
def test_a_typed_document_tells_the_kind_of_person_when_its_type_does(found, expected):
    identification, kind = typed_document(found, PayloadReader("WooCommerce", "7"), "meta_data")
    assert ((identification.type, identification.number, kind) if identification else (None, None, kind)) == expected


def test_an_address_without_any_field_is_none():
    assert address_or_none(Address()) is None
    assert address_or_none(Address(city="Cali")) == Address(city="Cali")
