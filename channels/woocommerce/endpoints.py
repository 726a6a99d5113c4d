"""The WooCommerce REST v3 resources the connector reads, one small function each.

Every function takes the channel's :class:`~connector.http.Requestor`, whose base URL is the
store's ``/wp-json`` (so the site index ``/`` and ``/wc/v3/...`` share it).

``GET /wc/v3/orders`` pages by number: ``page`` + ``per_page`` (≤ 100), the number of pages in
``X-WP-TotalPages``. Pages are sorted by creation date ascending so they stay stable while orders
change during a pull; ``modified_after`` (with ``dates_are_gmt``) is the cursor. The default
status filter ``any`` covers every status but ``trash``; a trashed order arrives through its
webhook (``order.deleted``) or when fetched by id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from channels.payloads import json_document
from connector.http import Requestor

MAX_PAGE_SIZE = 100


def format_woo_datetime(value: datetime) -> str:
    """UTC without offset, as ``modified_after`` expects with ``dates_are_gmt=true``."""
    if value.tzinfo is None:  # the core keeps aware datetimes; a naive one is taken as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _json(response: httpx.Response, what: str, kind: type) -> Any:
    return json_document(response, "WooCommerce", what, kind)


def get_site_index(api: Requestor) -> dict[str, Any]:
    """``GET /wp-json/``: the WordPress site (``name``, ``url``, ``namespaces``...)."""
    return _json(api.get("/"), "la tienda", dict)


def list_orders(api: Requestor, *, page: int, per_page: int,
                modified_after: datetime | None) -> tuple[list[dict[str, Any]], int | None]:
    """One page of orders and the total number of pages (``X-WP-TotalPages``) when given."""
    params: dict[str, Any] = {"page": page, "per_page": min(per_page, MAX_PAGE_SIZE), "orderby": "date",
                              "order": "asc"}
    if modified_after is not None:
        params.update(modified_after=format_woo_datetime(modified_after), dates_are_gmt="true")
    response = api.get("/wc/v3/orders", params=params)
    orders = [order for order in _json(response, "los pedidos", list) if isinstance(order, dict)]
    return orders, total_pages(response)


def total_pages(response: httpx.Response) -> int | None:
    value = response.headers.get("X-WP-TotalPages", "").strip()
    return int(value) if value.isdigit() else None


def get_order(api: Requestor, order_id: str) -> dict[str, Any]:
    """``GET /wc/v3/orders/{id}``; :class:`NotFound` when it does not exist."""
    return _json(api.get(f"/wc/v3/orders/{order_id}"), f"el pedido {order_id}", dict)


def list_refunds(api: Requestor, order_id: str) -> list[dict[str, Any]]:
    """``GET /wc/v3/orders/{id}/refunds``: every refund of the order (one page of up to 100, more than
    any order has), newest first as WooCommerce lists them."""
    refunds = _json(api.get(f"/wc/v3/orders/{order_id}/refunds", params={"per_page": MAX_PAGE_SIZE}),
                    f"los reembolsos del pedido {order_id}", list)
    return [refund for refund in refunds if isinstance(refund, dict)]
