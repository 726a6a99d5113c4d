"""The helpers adapters share from the contract module (channels/base.py)."""

from __future__ import annotations

import pytest

from channels.base import numeric_order_id, order_id_in_webhook
from connector.errors import InvalidPayload, NotFound


def test_an_order_id_must_be_digits_before_any_request():
    assert numeric_order_id(" 7342 ", "WooCommerce") == "7342"
    with pytest.raises(NotFound) as error:
        numeric_order_id("../admin", "Shopify")
    assert error.value.user_message == "El pedido «../admin» no es un pedido de Shopify."


@pytest.mark.parametrize(("body", "expected"), [(b'{"id": 7342}', "7342"), (b'{"id": "5100"}', "5100")])
def test_the_order_of_a_webhook_body(body, expected):
    assert order_id_in_webhook(body, "WooCommerce") == expected


@pytest.mark.parametrize("body", [b"", b"no es json", b"[7342]", b'{"name": "#1001"}', b'{"id": true}'])
def test_a_webhook_body_without_an_order_is_invalid(body):
    with pytest.raises(InvalidPayload, match="La notificación de Shopify no trae el pedido."):
        order_id_in_webhook(body, "Shopify")
