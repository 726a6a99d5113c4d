"""The Shopify Admin REST resources the connector reads, one small function each.

Every function takes the channel's :class:`~connector.http.Requestor` (token, leaky bucket,
retries and the error table live there).

``GET /orders.json`` pages with a cursor in the ``Link`` header (``rel="next"``, ``page_info``).
Once a ``page_info`` is sent no other filter is allowed (Shopify answers 400), so the first page
carries the filters and the sort, and later pages carry only what the next link says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from channels.payloads import json_document
from connector.errors import TransientError
from connector.http import Requestor

MAX_PAGE_SIZE = 250


def format_shopify_datetime(value: datetime) -> str:
    """ISO 8601 with an explicit offset, as ``updated_at_min`` expects."""
    if value.tzinfo is None:  # the core keeps aware datetimes; a naive one is taken as UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    return json_document(response, "Shopify", what)


def get_shop(api: Requestor) -> dict[str, Any]:
    """``GET /shop.json``: the store the token belongs to (``id``, ``name``, ``myshopify_domain``...)."""
    shop = _json_object(api.get("/shop.json"), "la tienda").get("shop")
    if not isinstance(shop, dict):
        raise TransientError("Shopify respondió algo inesperado al leer la tienda.", detail="shop.json without shop")
    return shop


def first_orders_page_params(*, updated_since: datetime | None, limit: int) -> dict[str, Any]:
    """The filters of the first ``/orders.json`` page: every status, oldest change first."""
    params: dict[str, Any] = {"status": "any", "limit": min(limit, MAX_PAGE_SIZE), "order": "updated_at asc"}
    if updated_since is not None:
        params["updated_at_min"] = format_shopify_datetime(updated_since)
    return params


def list_orders(api: Requestor, params: dict[str, Any]) -> httpx.Response:
    """``GET /orders.json`` with ``params``; the response is returned for its ``Link`` header."""
    return api.get("/orders.json", params=params)


def orders_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The ``orders`` of a listing page (entries that are not objects are dropped)."""
    orders = _json_object(response, "los pedidos").get("orders")
    if not isinstance(orders, list):
        raise TransientError("Shopify respondió una lista de pedidos inesperada.",
                             detail="orders.json without an orders list")
    return [order for order in orders if isinstance(order, dict)]


def get_order(api: Requestor, order_id: str) -> dict[str, Any]:
    """``GET /orders/{id}.json``; :class:`NotFound` when it does not exist."""
    order = _json_object(api.get(f"/orders/{order_id}.json"), f"el pedido {order_id}").get("order")
    if not isinstance(order, dict):
        raise TransientError(f"Shopify respondió algo inesperado al leer el pedido {order_id}.",
                             detail="orders/{id}.json without order")
    return order
