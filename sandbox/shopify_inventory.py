"""Shopify products and inventory in the sandbox (REST Admin): ``locations.json``, ``products.json``
(pages of up to 250 with ``Link`` cursors), ``inventory_levels.json`` (up to 50 inventory item ids) and
``POST inventory_levels/set.json {location_id, inventory_item_id, available}``; prices by
``PUT variants/{id}.json``.

Stock is per inventory item per location. The primary location's level is the listing's own stock
(:mod:`sandbox.listings`); other locations keep theirs here. A set on a location the shop does not have,
or on an item it does not know, is a 422 with Shopify's ``errors`` envelope.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from flask import Flask, jsonify, request

from sandbox.knobs import Knobs, faulty_write
from sandbox.listings import Listing, ListingStore

PRIMARY_LOCATION_ID = 71_000_000_001
LOCATIONS = [
    {"id": PRIMARY_LOCATION_ID, "name": "Bodega Medellín", "active": True, "legacy": False,
     "city": "Medellín", "country_code": "CO"},
    {"id": 71_000_000_002, "name": "Tienda Bogotá", "active": True, "legacy": False,
     "city": "Bogotá", "country_code": "CO"},
]
SIMPLE_VARIANT_BASE = 400_000_000  # a simple product's single variant: listing id + this
INVENTORY_ITEM_BASE = 500_000_000_000  # a variant's inventory item: variant id + this
PAGE_LIMIT = 250
LEVELS_IDS_LIMIT = 50


def _errors(status: int, errors: Any):
    return jsonify({"errors": errors}), status


def _variants(listing: Listing) -> list[tuple[int, str | None, dict[str, str], Any]]:
    """(variant id, sku, options, holder) of a listing; ``holder`` carries ``quantity``."""
    if not listing.variations:
        return [(listing.id + SIMPLE_VARIANT_BASE, listing.sku, {}, listing)]
    return [(v.id, v.sku, v.options, v) for v in listing.variations]


class ShopifyInventory:
    """Levels per (inventory item, location) over a :class:`ListingStore` (primary = the listing's)."""

    def __init__(self, store: ListingStore):
        self.store = store
        self.other_levels: dict[tuple[int, int], int] = {}

    def holder(self, inventory_item_id: int):
        for listing in self.store.listings:
            for variant_id, _sku, _options, holder in _variants(listing):
                if variant_id + INVENTORY_ITEM_BASE == inventory_item_id:
                    return holder
        return None

    def level(self, inventory_item_id: int, location_id: int) -> int | None:
        holder = self.holder(inventory_item_id)
        if holder is None:
            return None
        if location_id == PRIMARY_LOCATION_ID:
            return holder.quantity
        return self.other_levels.get((inventory_item_id, location_id), 0)

    def product_document(self, listing: Listing) -> dict[str, Any]:
        variants = []
        for position, (variant_id, sku, options, holder) in enumerate(_variants(listing), start=1):
            values = list(options.values()) or ["Default Title"]
            variants.append({
                "id": variant_id, "title": " / ".join(values), "sku": sku or "",
                "barcode": sku, "price": f"{listing.price:.2f}", "position": position,
                "product_id": listing.id, "inventory_item_id": variant_id + INVENTORY_ITEM_BASE,
                "inventory_management": "shopify",
                "inventory_policy": "deny",
                "inventory_quantity": holder.quantity + sum(q for (item, _loc), q in self.other_levels.items()
                                                            if item == variant_id + INVENTORY_ITEM_BASE),
                **{f"option{i + 1}": v for i, v in enumerate(values)},
            })
        names = list(listing.variations[0].options) if listing.variations else ["Title"]
        return {"id": listing.id, "title": listing.title, "status": "active" if listing.status == "active" else
                "draft", "variants": variants, "options": [{"name": n, "position": i + 1} for i, n in enumerate(names)]}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _offset(token: str) -> int | None:
    try:
        return int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["offset"])
    except (ValueError, KeyError, TypeError):
        return None


def install_inventory_routes(app: Flask, store: ListingStore, knobs: Knobs) -> ShopifyInventory:
    """The product and inventory routes on the Shopify sandbox app (its token and bucket hooks apply)."""
    inventory = ShopifyInventory(store)
    base = "/admin/api/<version>"

    @app.get(f"{base}/locations.json")
    def locations(version: str):
        return jsonify({"locations": LOCATIONS})

    @app.get(f"{base}/products.json")
    def products(version: str):
        limit = request.args.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= PAGE_LIMIT:
            return _errors(400, {"limit": [f"must be between 1 and {PAGE_LIMIT}"]})
        offset = 0
        if "page_info" in request.args:
            if set(request.args) - {"page_info", "limit", "fields"}:
                return _errors(400, {"page_info": ["page_info cannot be combined with other filters"]})
            offset = _offset(request.args["page_info"])
            if offset is None:
                return _errors(400, {"page_info": ["Invalid value."]})
        with store.lock:
            page = store.listings[offset:offset + int(limit)]
            response = jsonify({"products": [inventory.product_document(p) for p in page]})
            if offset + int(limit) < len(store.listings):
                url = request.base_url
                response.headers["Link"] = f'<{url}?limit={limit}&page_info={_cursor(offset + int(limit))}>; rel="next"'
            return response

    @app.get(f"{base}/inventory_levels.json")
    def inventory_levels(version: str):
        raw_ids = [i for i in request.args.get("inventory_item_ids", "").split(",") if i]
        raw_locations = [i for i in request.args.get("location_ids", "").split(",") if i]
        if not raw_ids and not raw_locations:
            return _errors(422, ["inventory_item_ids or location_ids must be given"])
        if len(raw_ids) > LEVELS_IDS_LIMIT or not all(i.isdigit() for i in raw_ids + raw_locations):
            return _errors(422, [f"inventory_item_ids must be at most {LEVELS_IDS_LIMIT} numeric ids"])
        location_ids = [int(i) for i in raw_locations] or [loc["id"] for loc in LOCATIONS]
        levels = []
        with store.lock:
            for item_id in map(int, raw_ids):
                for location_id in location_ids:
                    available = inventory.level(item_id, location_id)
                    if available is not None:
                        levels.append({"inventory_item_id": item_id, "location_id": location_id,
                                       "available": available})
        return jsonify({"inventory_levels": levels})

    @app.post(f"{base}/inventory_levels/set.json")
    def set_level(version: str):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _errors(400, {"base": ["Body must be a JSON object"]})
        location_id, item_id, available = (body.get("location_id"), body.get("inventory_item_id"),
                                           body.get("available"))
        if not isinstance(available, int) or isinstance(available, bool):
            return _errors(422, {"available": ["must be an integer"]})
        if not any(loc["id"] == location_id for loc in LOCATIONS):
            return _errors(422, {"location_id": ["Location could not be found"]})

        def commit():
            with store.lock:
                holder = inventory.holder(item_id) if isinstance(item_id, int) else None
                if holder is None:
                    return _errors(422, {"inventory_item_id": ["Inventory item could not be found"]})
                before = store.quantities(holder)
                if location_id == PRIMARY_LOCATION_ID:
                    holder.quantity = available
                else:
                    inventory.other_levels[(item_id, location_id)] = available
                store.accepted(holder, before)
            return jsonify({"inventory_level": {"inventory_item_id": item_id, "location_id": location_id,
                                                "available": available}})

        return faulty_write(knobs, commit, kind="stock")

    @app.get(f"{base}/products/<int:product_id>.json")
    def product(version: str, product_id: int):
        with store.lock:
            listing = store.find(product_id)
            if listing is None:
                return _errors(404, "Not Found")
            return jsonify({"product": inventory.product_document(listing)})

    @app.get(f"{base}/variants/<int:variant_id>.json")
    def variant(version: str, variant_id: int):
        with store.lock:
            for listing in store.listings:
                if any(v[0] == variant_id for v in _variants(listing)):
                    document = inventory.product_document(listing)
                    return jsonify({"variant": next(v for v in document["variants"] if v["id"] == variant_id)})
        return _errors(404, "Not Found")

    @app.put(f"{base}/variants/<int:variant_id>.json")
    def update_variant(version: str, variant_id: int):
        body = request.get_json(silent=True)
        variant = body.get("variant") if isinstance(body, dict) else None
        if not isinstance(variant, dict):
            return _errors(400, {"variant": ["Required parameter missing or invalid"]})
        with store.lock:
            for listing in store.listings:
                if any(v[0] == variant_id for v in _variants(listing)):
                    if "price" in variant:
                        try:
                            price = Decimal(str(variant["price"]))
                        except ArithmeticError:
                            return _errors(422, {"price": ["is not a number"]})
                        listing.price = price
                        store.writes += 1
                    document = inventory.product_document(listing)
                    return jsonify({"variant": next(v for v in document["variants"] if v["id"] == variant_id)})
        return _errors(404, "Not Found")

    return inventory
