"""WooCommerce listings and their stock (REST v3).

* A simple product is a listing (``listing_id`` = the product id); a variable product's variations are
  listings (``<product id>/<variation id>``), the parent keeps no stock. ``manage_stock`` false means the
  store does not count it (``quantity`` None).
* Listing: ``GET /products`` and ``GET /products/{id}/variations`` (pages of 100, ``X-WP-TotalPages``).
* Writing: the batch endpoints ``POST /products/batch`` / ``POST /products/{id}/variations/batch`` with
  ``{"update": [{"id", "stock_quantity", "manage_stock": true}]}`` (+ ``regular_price``). The batch answers
  200 even when it refused an object: that object's ``error`` is read and raised in WooCommerce's words.
  One listing per call for now, so each write has its own exactly-once record (grouping several
  listings in one batch call would need one claim for the group: not done).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from channels.base import Listing
from channels.payloads import json_document
from connector.errors import NotFound, PermanentRejection
from connector.http import Requestor, iter_page_number_pages

PAGE_SIZE = 100


def _pages(response: httpx.Response) -> int | None:
    value = response.headers.get("X-WP-TotalPages", "").strip()
    return int(value) if value.isdigit() else None


def _price(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _quantity(document: dict[str, Any]) -> int | None:
    value = document.get("stock_quantity")
    if not document.get("manage_stock") or isinstance(value, bool):
        return None
    return int(value) if isinstance(value, (int, float)) else 0


def _simple(product: dict[str, Any]) -> Listing:
    return Listing(listing_id=str(product["id"]), title=str(product.get("name") or product["id"]),
                   sku=str(product.get("sku") or "").strip() or None, quantity=_quantity(product),
                   price=_price(product.get("regular_price") or product.get("price")),
                   handle={"product_id": str(product["id"])})


def _variation(product: dict[str, Any], variation: dict[str, Any]) -> Listing:
    options = {str(a.get("name")): str(a.get("option")) for a in variation.get("attributes") or []
               if isinstance(a, dict) and a.get("name") and a.get("option")}
    title = str(product.get("name") or product["id"])
    return Listing(
        listing_id=f"{product['id']}/{variation['id']}", title=f"{title} ({', '.join(options.values())})"
        if options else title, sku=str(variation.get("sku") or "").strip() or None, quantity=_quantity(variation),
        price=_price(variation.get("regular_price") or variation.get("price")), variation_id=str(variation["id"]),
        variation_attributes=options, handle={"product_id": str(product["id"]), "variation_id": str(variation["id"])})


def _list(api: Requestor, path: str, what: str) -> Iterator[dict[str, Any]]:
    def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
        response = api.get(path, params={"page": page, "per_page": PAGE_SIZE})
        return [r for r in json_document(response, "WooCommerce", what, kind=list) if isinstance(r, dict)], \
            _pages(response)

    return iter_page_number_pages(fetch)


def iter_listings(api: Requestor) -> Iterator[Listing]:
    for product in _list(api, "/wc/v3/products", "los productos"):
        if product.get("id") is None:
            continue
        if product.get("type") == "variable":
            for variation in _list(api, f"/wc/v3/products/{product['id']}/variations", "las variaciones"):
                if variation.get("id") is not None:
                    yield _variation(product, variation)
        else:
            yield _simple(product)


def get_listing(api: Requestor, listing_id: str) -> Listing:
    product_id, _, variation_id = str(listing_id).partition("/")
    if not product_id.isdigit() or (variation_id and not variation_id.isdigit()):
        raise NotFound(f"«{str(listing_id)[:30]}» no es un producto de WooCommerce.", detail="bad product id")
    product = json_document(api.get(f"/wc/v3/products/{product_id}"), "WooCommerce", "el producto")
    if not variation_id:
        return _simple(product)
    variation = json_document(api.get(f"/wc/v3/products/{product_id}/variations/{variation_id}"), "WooCommerce",
                              "la variación")
    return _variation(product, variation)


def set_stock(api: Requestor, listing: Listing, quantity: int, price: Decimal | None) -> None:
    """One object through the batch endpoint, once (an uncertain answer is settled by reading)."""
    variation_id = listing.handle.get("variation_id")
    product_id = listing.handle.get("product_id") or listing.listing_id.split("/", 1)[0]
    update: dict[str, Any] = {"id": int(variation_id or product_id), "stock_quantity": quantity, "manage_stock": True}
    if price is not None:
        update["regular_price"] = f"{price:.0f}" if price == price.to_integral_value() else f"{price:.2f}"
    path = f"/wc/v3/products/{product_id}/variations/batch" if variation_id else "/wc/v3/products/batch"
    answer = json_document(api.request("POST", path, json={"update": [update]}, idempotent=False),
                           "WooCommerce", "el cambio de stock")
    for entry in answer.get("update") or []:
        error = entry.get("error") if isinstance(entry, dict) else None
        if isinstance(error, dict):
            raise PermanentRejection(f"WooCommerce rechazó el cambio de stock de «{listing.title}»: "
                                     f"{error.get('message') or error.get('code')}", detail=repr(error)[:300])
