"""Shopify listings and their stock (REST Admin; the GraphQL ``inventorySetQuantities`` is the long-term
equivalent and is not used yet).

* Each product variant is a listing (``listing_id`` = the variant id); its stock is the ``available``
  of its inventory item at **one location**: the connection's ``location_id`` credential when set, else
  the shop's first active location (``GET /locations.json``).
* Listing: ``GET /products.json`` (Link-header pages of 250) then ``GET /inventory_levels.json`` for the
  page's inventory items (50 ids a call) at that location.
* Writing: ``POST /inventory_levels/set.json {location_id, inventory_item_id, available}`` (a 422 when
  the location or item is unknown, in Shopify's words); the price, when asked, by ``PUT /variants/{id}.json``.
* A variant whose stock Shopify does not track (``inventory_management`` null) has ``quantity`` None.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from channels.base import Listing
from channels.payloads import json_document
from connector.errors import NotFound, TransientError
from connector.http import Requestor, iter_link_header_pages

PAGE_SIZE = 250
LEVELS_CHUNK = 50


def _price(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def primary_location(api: Requestor, configured: str | None) -> str:
    """The location whose stock is published: the configured one, else the first active one."""
    if configured:
        return str(configured).strip()
    locations = json_document(api.get("/locations.json"), "Shopify", "las bodegas").get("locations") or []
    active = [loc for loc in locations if isinstance(loc, dict) and loc.get("active", True) and loc.get("id")]
    if not active:
        raise TransientError("Shopify no informó ninguna bodega (location) activa de la tienda.",
                             detail="no active location")
    return str(active[0]["id"])


def _listing(product: dict[str, Any], variant: dict[str, Any], location_id: str,
             levels: dict[str, int]) -> Listing:
    tracked = variant.get("inventory_management") not in (None, "")
    item_id = str(variant.get("inventory_item_id") or "")
    options = {opt.get("name") or f"Opción {i + 1}": variant.get(f"option{i + 1}")
               for i, opt in enumerate(product.get("options") or []) if isinstance(opt, dict)}
    options = {str(k): str(v) for k, v in options.items() if v and v != "Default Title"}
    title = str(product.get("title") or variant.get("id"))
    return Listing(
        listing_id=str(variant["id"]), title=f"{title} ({', '.join(options.values())})" if options else title,
        sku=(str(variant.get("sku") or "").strip() or None), quantity=levels.get(item_id, 0) if tracked else None,
        price=_price(variant.get("price")), variation_id=str(variant["id"]), variation_attributes=options,
        handle={"inventory_item_id": item_id, "location_id": location_id, "product_id": str(product.get("id"))})


def _levels(api: Requestor, item_ids: list[str], location_id: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(item_ids), LEVELS_CHUNK):
        chunk = item_ids[start:start + LEVELS_CHUNK]
        body = json_document(api.get("/inventory_levels.json", params={
            "inventory_item_ids": ",".join(chunk), "location_ids": location_id}), "Shopify", "el inventario")
        for level in body.get("inventory_levels") or []:
            if isinstance(level, dict) and isinstance(level.get("available"), int):
                found[str(level.get("inventory_item_id"))] = level["available"]
    return found


def _products(response: httpx.Response) -> list[dict[str, Any]]:
    products = json_document(response, "Shopify", "los productos").get("products")
    return [p for p in products if isinstance(p, dict)] if isinstance(products, list) else []


def iter_listings(api: Requestor, location_id: str) -> Iterator[Listing]:
    def fetch(next_params: dict[str, str] | None) -> httpx.Response:
        return api.get("/products.json", params=next_params or {"limit": PAGE_SIZE})

    page: list[dict[str, Any]] = []

    def flush() -> list[Listing]:
        variants = [(p, v) for p in page for v in p.get("variants") or [] if isinstance(v, dict) and v.get("id")]
        levels = _levels(api, [str(v.get("inventory_item_id")) for _, v in variants
                               if v.get("inventory_management") and v.get("inventory_item_id")], location_id)
        return [_listing(p, v, location_id, levels) for p, v in variants]

    for product in iter_link_header_pages(fetch, _products):
        page.append(product)
        if len(page) == PAGE_SIZE:
            yield from flush()
            page = []
    if page:
        yield from flush()


def get_listing(api: Requestor, variant_id: str, location_id: str) -> Listing:
    if not str(variant_id).isdigit():
        raise NotFound(f"«{str(variant_id)[:30]}» no es una variante de Shopify.", detail="bad variant id")
    variant = json_document(api.get(f"/variants/{variant_id}.json"), "Shopify", "la variante").get("variant")
    if not isinstance(variant, dict):
        raise TransientError("Shopify respondió algo inesperado al leer la variante.", detail="no variant")
    product = json_document(api.get(f"/products/{variant.get('product_id')}.json"), "Shopify",
                            "el producto").get("product") or {}
    levels = _levels(api, [str(variant.get("inventory_item_id"))], location_id) if variant.get(
        "inventory_management") else {}
    return _listing(product, variant, location_id, levels)


def set_stock(api: Requestor, listing: Listing, quantity: int, price: Decimal | None) -> None:
    """``inventory_levels/set.json`` once (an uncertain answer is settled by reading the level)."""
    api.request("POST", "/inventory_levels/set.json", json={
        "location_id": int(listing.handle["location_id"]), "inventory_item_id": int(listing.handle["inventory_item_id"]),
        "available": quantity}, idempotent=False)
    if price is not None and price != listing.price:
        api.request("PUT", f"/variants/{listing.listing_id}.json",
                    json={"variant": {"id": int(listing.listing_id), "price": f"{price:.2f}"}}, idempotent=False)
