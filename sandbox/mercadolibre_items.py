"""Mercado Libre listings in the sandbox: ``/users/{id}/items/search``, ``/items?ids=`` (multiget, 20 at
most), ``/items/{id}`` and ``PUT /items/{id}`` with ``available_quantity`` (and ``price``), on the item or
per variation in ``variations[]``.

Faithful details the adapter must cope with: a variation PUT must list **every** variation of the item
(Mercado Libre deletes the ones left out; documented behaviour as we read it, unconfirmed); a quantity of 0
pauses an active item (``sub_status: ["out_of_stock"]``) and a positive one re-activates it; an item
paused for any other reason (the marketplace's moderation, the seller) or closed refuses changes with a
400 (the error code is our reading, unconfirmed). Multi-warehouse accounts (``/user-products/{id}/stock``)
are not modelled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask, jsonify, request

from sandbox.knobs import Knobs, faulty_write
from sandbox.listings import Listing, ListingStore

ITEM_PREFIX = "MCO"
MULTIGET_LIMIT = 20
SEARCH_LIMIT = 100
MAX_QUANTITY = 99_999


def _error(status: int, error: str, message: str, cause: list | None = None):
    return jsonify({"message": message, "error": error, "status": status, "cause": cause or []}), status


def item_document(listing: Listing, seller_id: int) -> dict[str, Any]:
    """One listing as ``GET /items/{id}`` answers it."""
    sku_attribute = [{"id": "SELLER_SKU", "name": "SKU", "value_name": listing.sku}] if listing.sku else []
    variations = [{
        "id": v.id, "price": float(listing.price), "available_quantity": v.quantity, "sold_quantity": 0,
        "attribute_combinations": [{"id": name.upper(), "name": name, "value_name": value}
                                   for name, value in v.options.items()],
        "seller_custom_field": None, "attributes": [{"id": "SELLER_SKU", "name": "SKU", "value_name": v.sku}],
    } for v in listing.variations]
    quantity = sum(v.quantity for v in listing.variations) if listing.variations else listing.quantity
    return {
        "id": f"{ITEM_PREFIX}{listing.id}", "site_id": "MCO", "title": listing.title, "seller_id": seller_id,
        "price": float(listing.price), "currency_id": "COP", "available_quantity": quantity,
        "sold_quantity": 0, "status": listing.status, "sub_status": list(listing.sub_status),
        "seller_custom_field": None, "attributes": sku_attribute, "variations": variations,
        "listing_type_id": "gold_special", "condition": "new",
    }


def _listing_of(store: ListingStore, item_id: str) -> Listing | None:
    if not item_id.startswith(ITEM_PREFIX) or not item_id[len(ITEM_PREFIX):].isdigit():
        return None
    return store.find(int(item_id[len(ITEM_PREFIX):]))


def _quantity(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        return None
    return value


def _apply_update(listing: Listing, body: dict[str, Any]):
    """Validate the whole body first, then apply it (a refused PUT changes nothing)."""
    if listing.status == "closed":
        return _error(400, "item.status.not_modifiable", "Item in status closed is not modifiable.")
    if listing.status == "paused" and "out_of_stock" not in listing.sub_status:
        return _error(400, "item.status.not_modifiable",
                      "Item is paused by Mercado Libre and cannot be modified.",
                      [{"code": "item.paused", "message": "Paused item: " + ",".join(listing.sub_status)}])
    new_quantity, new_variations, new_price = None, None, None
    if "available_quantity" in body:
        if listing.variations:
            return _error(400, "item.available_quantity.invalid",
                          "Item has variations: update available_quantity in each variation.")
        new_quantity = _quantity(body["available_quantity"])
        if new_quantity is None:
            return _error(400, "item.available_quantity.invalid",
                          f"available_quantity must be an integer between 0 and {MAX_QUANTITY}.")
    if "variations" in body:
        raw = body["variations"]
        if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
            return _error(400, "item.variations.invalid", "variations must be a list of objects.")
        known = {v.id: v for v in listing.variations}
        new_variations = {}
        for entry in raw:
            variation = known.get(entry.get("id"))
            if variation is None:
                return _error(400, "item.variations.id.invalid", f"Variation {entry.get('id')} does not exist.")
            quantity = _quantity(entry.get("available_quantity", variation.quantity))
            if quantity is None:
                return _error(400, "item.variations.available_quantity.invalid",
                              f"available_quantity must be an integer between 0 and {MAX_QUANTITY}.")
            new_variations[variation.id] = quantity
    if "price" in body:
        try:
            new_price = Decimal(str(body["price"]))
        except ArithmeticError:
            new_price = None
        if new_price is None or new_price <= 0:
            return _error(400, "item.price.invalid", "price must be a positive number.")
    if new_quantity is not None:
        listing.quantity = new_quantity
    if new_variations is not None:  # the ones left out are deleted, as Mercado Libre does
        listing.variations = [v for v in listing.variations if v.id in new_variations]
        for variation in listing.variations:
            variation.quantity = new_variations[variation.id]
    if new_price is not None:
        listing.price = new_price
    total = sum(v.quantity for v in listing.variations) if listing.variations else listing.quantity
    if new_quantity is not None or new_variations is not None:
        if total == 0 and listing.status == "active":
            listing.status, listing.sub_status = "paused", ("out_of_stock",)
        elif total > 0 and listing.sub_status == ("out_of_stock",):
            listing.status, listing.sub_status = "active", ()
    return None


def install_item_routes(app: Flask, store: ListingStore, seller_id: int, knobs: Knobs) -> None:
    """The listing routes on the Mercado Libre sandbox app (its auth and throttle hooks apply; writes
    take the write faults of :func:`sandbox.knobs.faulty_write`)."""

    @app.get("/users/<int:user_id>/items/search")
    def search_items(user_id: int):
        if user_id != seller_id:
            return _error(403, "forbidden", "Caller is not the seller of the requested items.")
        offset, limit = request.args.get("offset", "0"), request.args.get("limit", "50")
        if not offset.isdigit() or not limit.isdigit() or int(limit) > SEARCH_LIMIT:
            return _error(400, "bad_request", f"Invalid offset or limit (limit up to {SEARCH_LIMIT}).")
        status = request.args.get("status")
        with store.lock:
            ids = [f"{ITEM_PREFIX}{entry.id}" for entry in store.listings if not status or entry.status == status]
        page = ids[int(offset):int(offset) + int(limit)]
        return jsonify({"seller_id": str(seller_id), "results": page,
                        "paging": {"total": len(ids), "offset": int(offset), "limit": int(limit)}})

    @app.get("/items")
    def multiget_items():
        ids = [i for i in request.args.get("ids", "").split(",") if i]
        if not ids or len(ids) > MULTIGET_LIMIT:
            return _error(400, "bad_request", f"ids must list between 1 and {MULTIGET_LIMIT} items.")
        answers = []
        with store.lock:
            for item_id in ids:
                listing = _listing_of(store, item_id)
                answers.append({"code": 200, "body": item_document(listing, seller_id)} if listing else
                               {"code": 404, "body": {"message": f"Item with id {item_id} not found",
                                                      "error": "not_found", "status": 404, "cause": []}})
        return jsonify(answers)

    @app.get("/items/<item_id>")
    def get_item(item_id: str):
        with store.lock:
            listing = _listing_of(store, item_id)
            if listing is None:
                return _error(404, "not_found", f"Item with id {item_id} not found")
            return jsonify(item_document(listing, seller_id))

    @app.put("/items/<item_id>")
    def update_item(item_id: str):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "bad_request", "Body must be a JSON object.")

        def commit():
            with store.lock:
                listing = _listing_of(store, item_id)
                if listing is None:
                    return _error(404, "not_found", f"Item with id {item_id} not found")
                before = store.quantities(listing)
                refusal = _apply_update(listing, body)
                if refusal is not None:
                    return refusal
                store.accepted(listing, before)
                return jsonify(item_document(listing, seller_id))

        return faulty_write(knobs, commit, kind="stock")
