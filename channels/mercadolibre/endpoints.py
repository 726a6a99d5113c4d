"""The Mercado Libre resources the connector reads, one small function each.

Every function takes the channel's :class:`~connector.http.Requestor` (auth, retries and the error
table live there) and returns the decoded JSON document. The optional enrichment documents
(shipment, billing info) answer ``None`` on 404: an order can lose them (e.g. a shipment replaced
after a return) and the order must still be processed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from channels.payloads import json_document
from connector.errors import AmbiguousOutcome, InvalidPayload, NotFound
from connector.http import Requestor

# /orders/search answers 400 to limit > 51 (50 is the usual page size in the docs' examples).
MAX_SEARCH_LIMIT = 51
DEFAULT_SEARCH_LIMIT = 50

# Asks /shipments/{id} for the current JSON format (``logistic.type``, ``lead_time.cost``).
NEW_SHIPMENT_FORMAT_HEADERS = {"x-format-new": "true"}


def format_ml_datetime(value: datetime) -> str:
    """A datetime as ML's filters expect it: ISO 8601 with milliseconds and an explicit offset."""
    if value.tzinfo is None:  # the core keeps aware datetimes; a naive one is taken as UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="milliseconds")


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    return json_document(response, "Mercado Libre", what)


def get_me(api: Requestor) -> dict[str, Any]:
    """``GET /users/me``: the account the token belongs to (``id``, ``nickname``, ``site_id``...)."""
    return _json_object(api.get("/users/me"), "la cuenta")


def search_orders(api: Requestor, *, seller_id: str, offset: int, limit: int = DEFAULT_SEARCH_LIMIT,
                  updated_from: datetime | None = None, created_from: str | None = None,
                  sort: str = "date_asc") -> dict[str, Any]:
    """``GET /orders/search``: one page of the seller's orders (``results`` + ``paging``).

    ``sort=date_asc`` orders by creation date, which keeps offset pages stable while orders
    change; ``updated_from`` filters on ``order.date_last_updated.from`` (inclusive).
    """
    params: dict[str, Any] = {
        "seller": seller_id, "sort": sort, "offset": offset, "limit": min(limit, MAX_SEARCH_LIMIT),
    }
    if updated_from is not None:
        params["order.date_last_updated.from"] = format_ml_datetime(updated_from)
    if created_from is not None:
        params["order.date_created.from"] = created_from
    return _json_object(api.get("/orders/search", params=params), "los pedidos")


def paging_total(page: dict[str, Any]) -> int | None:
    """A search page's ``paging.total`` when it is a usable number."""
    paging = page.get("paging")
    total = paging.get("total") if isinstance(paging, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def get_order(api: Requestor, order_id: str) -> dict[str, Any]:
    """``GET /orders/{id}``; :class:`NotFound` when it does not exist."""
    return _json_object(api.get(f"/orders/{order_id}"), f"el pedido {order_id}")


def get_shipment(api: Requestor, shipment_id: str) -> dict[str, Any] | None:
    """``GET /shipments/{id}`` in the new format; ``None`` when it is gone (404)."""
    try:
        response = api.get(f"/shipments/{shipment_id}", headers=NEW_SHIPMENT_FORMAT_HEADERS)
    except NotFound:
        return None
    return _json_object(response, f"el envío {shipment_id}")


def get_billing_info(api: Requestor, site_id: str, billing_info_id: str) -> dict[str, Any] | None:
    """``GET /orders/billing-info/{site_id}/{id}``: the buyer's fiscal data; ``None`` on 404."""
    try:
        response = api.get(f"/orders/billing-info/{site_id}/{billing_info_id}")
    except NotFound:
        return None
    return _json_object(response, "los datos de facturación")


def list_fiscal_documents(api: Requestor, pack_id: str) -> list[str]:
    """``GET /packs/{pack_id}/fiscal_documents``: the ids of the documents attached to the pack.

    The answer's shape is *unconfirmed* (the documentation shows the upload, not the listing), so all
    three readings are accepted: ``{"fiscal_documents": [...]}``, ``{"ids": [...]}`` or a plain list;
    entries are objects with ``id`` or bare ids. A 404 is taken as "nothing attached" (an order whose
    pack has no document may be unknown to the fiscal-documents service).
    """
    try:
        body = api.get(f"/packs/{pack_id}/fiscal_documents").json()
    except NotFound:
        return []
    except ValueError:
        raise InvalidPayload("Mercado Libre devolvió una lista de documentos ilegible.",
                             detail=f"GET /packs/{pack_id}/fiscal_documents: not JSON") from None
    if isinstance(body, dict):
        entries = next((body[k] for k in ("fiscal_documents", "ids", "results") if isinstance(body.get(k), list)), [])
    else:
        entries = body if isinstance(body, list) else []
    ids = [entry.get("id") if isinstance(entry, dict) else entry for entry in entries]
    return [str(i) for i in ids if i not in (None, "") and not isinstance(i, bool | dict | list)]


def upload_fiscal_document(api: Requestor, pack_id: str, content: bytes, filename: str,
                           content_type: str = "application/pdf") -> str:
    """``POST /packs/{pack_id}/fiscal_documents`` (multipart ``fiscal_document``) → the new document's id.

    Sent once: a timeout or 5xx is ``AmbiguousOutcome`` (read :func:`list_fiscal_documents` before any
    repeat). A 2xx without ``ids`` is ambiguous too: the document may be attached under an id we never saw.
    """
    response = api.post(f"/packs/{pack_id}/fiscal_documents",
                        files={"fiscal_document": (filename, content, content_type)})
    try:
        body = response.json()
    except ValueError:
        body = None
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or ids[0] in (None, ""):
        raise AmbiguousOutcome("Mercado Libre recibió la factura pero no dijo con qué id.",
                               detail=f"POST /packs/{pack_id}/fiscal_documents answered {repr(body)[:200]}")
    return str(ids[0])

