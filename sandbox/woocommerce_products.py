"""WooCommerce products in the sandbox (REST v3): ``GET /products`` and ``/products/{id}/variations`` (pages
of up to 100, ``X-WP-Total``/``X-WP-TotalPages``), one product or variation by id, and the batch
endpoints ``POST /products/batch`` and ``POST /products/{id}/variations/batch`` (``{"update": [...]}``,
100 objects at most) that write ``stock_quantity`` (and ``regular_price``).

As WooCommerce does, a batch answers 200 with one entry per object: the object as saved, or ``{"id",
"error": {"code", "message", "data": {"status"}}}`` for an object it refused (unknown id, a quantity that
is not an integer). A simple product is a listing of :mod:`sandbox.listings`; a variable one has its
variations, the parent keeps no stock (``manage_stock`` false).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask, jsonify, request

from sandbox.knobs import Knobs, faulty_write
from sandbox.listings import Listing, ListingStore, Variation

API = "/wp-json/wc/v3"
PAGE_LIMIT = 100
BATCH_LIMIT = 100


def _error(status: int, code: str, message: str):
    return jsonify({"code": code, "message": message, "data": {"status": status}}), status


def _price_text(price: Decimal) -> str:
    """As WooCommerce keeps it: the text it was given (whole pesos without decimals)."""
    return f"{price:.0f}" if price == price.to_integral_value() else f"{price:.2f}"


def _stock_status(quantity: int) -> str:
    return "instock" if quantity > 0 else "outofstock"


def product_document(listing: Listing) -> dict[str, Any]:
    variable = bool(listing.variations)
    return {
        "id": listing.id, "name": listing.title, "slug": listing.key, "type": "variable" if variable else "simple",
        "status": "publish" if listing.status == "active" else "draft", "sku": listing.sku or "",
        "price": _price_text(listing.price), "regular_price": "" if variable else _price_text(listing.price),
        "manage_stock": not variable, "stock_quantity": None if variable else listing.quantity,
        "stock_status": _stock_status(sum(v.quantity for v in listing.variations) if variable else listing.quantity),
        "variations": [v.id for v in listing.variations],
        "attributes": [{"id": 0, "name": name, "variation": True,
                        "options": sorted({v.options[name] for v in listing.variations})}
                       for name in (listing.variations[0].options if variable else {})],
    }


def variation_document(listing: Listing, variation: Variation) -> dict[str, Any]:
    return {
        "id": variation.id, "sku": variation.sku, "price": _price_text(listing.price),
        "regular_price": _price_text(listing.price), "status": "publish", "manage_stock": True,
        "stock_quantity": variation.quantity, "stock_status": _stock_status(variation.quantity),
        "attributes": [{"id": 0, "name": name, "option": value} for name, value in variation.options.items()],
    }


def _page(records: list[dict[str, Any]]):
    page, per_page = request.args.get("page", "1"), request.args.get("per_page", "10")
    if not page.isdigit() or not per_page.isdigit() or not 1 <= int(per_page) <= PAGE_LIMIT or int(page) < 1:
        return _error(400, "rest_invalid_param", f"Parámetro(s) no válido(s): per_page (1-{PAGE_LIMIT}), page")
    start = (int(page) - 1) * int(per_page)
    response = jsonify(records[start:start + int(per_page)])
    response.headers["X-WP-Total"] = str(len(records))
    response.headers["X-WP-TotalPages"] = str(max(1, math.ceil(len(records) / int(per_page))))
    return response


def _updates():
    body = request.get_json(silent=True)
    updates = body.get("update") if isinstance(body, dict) else None
    if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
        return None, _error(400, "rest_invalid_param", "Parámetro(s) no válido(s): update")
    if len(updates) > BATCH_LIMIT:
        return None, _error(413, "rest_request_entity_too_large",
                            f"No se pueden procesar más de {BATCH_LIMIT} objetos por petición.")
    return updates, None


def _apply(holder: Listing | Variation, update: dict[str, Any], listing: Listing) -> dict[str, Any] | None:
    """Apply one update; its error entry when refused (nothing changed)."""
    quantity, price = holder.quantity, listing.price
    if "stock_quantity" in update:
        value = update["stock_quantity"]
        if isinstance(value, bool) or not isinstance(value, int):
            return {"code": "rest_invalid_param", "message": "stock_quantity no es del tipo integer.",
                    "data": {"status": 400}}
        quantity = value
    if "regular_price" in update:
        try:
            price = Decimal(str(update["regular_price"]))
        except InvalidOperation:
            return {"code": "rest_invalid_param", "message": "regular_price no es válido.", "data": {"status": 400}}
    holder.quantity, listing.price = quantity, price
    return None


def install_product_routes(app: Flask, store: ListingStore, knobs: Knobs) -> None:
    """The product routes on the WooCommerce sandbox app (its auth hooks apply)."""

    @app.get(f"{API}/products")
    def list_products():
        with store.lock:
            return _page([product_document(p) for p in store.listings])

    @app.get(f"{API}/products/<int:product_id>")
    def get_product(product_id: int):
        with store.lock:
            listing = store.find(product_id)
            if listing is None:
                return _error(404, "woocommerce_rest_product_invalid_id", "ID no válido.")
            return jsonify(product_document(listing))

    @app.get(f"{API}/products/<int:product_id>/variations")
    def list_variations(product_id: int):
        with store.lock:
            listing = store.find(product_id)
            if listing is None:
                return _error(404, "woocommerce_rest_product_invalid_id", "ID no válido.")
            return _page([variation_document(listing, v) for v in listing.variations])

    @app.get(f"{API}/products/<int:product_id>/variations/<int:variation_id>")
    def get_variation(product_id: int, variation_id: int):
        with store.lock:
            listing = store.find(product_id)
            variation = next((v for v in listing.variations if v.id == variation_id), None) if listing else None
            if variation is None:
                return _error(404, "woocommerce_rest_product_variation_invalid_id", "ID de variación no válido.")
            return jsonify(variation_document(listing, variation))

    @app.post(f"{API}/products/batch")
    def batch_products():
        updates, refusal = _updates()
        if refusal is not None:
            return refusal

        def commit():
            return jsonify({"update": _batch_products(updates)})

        return faulty_write(knobs, commit, kind="stock")

    def _batch_products(updates):
        answers = []
        with store.lock:
            for update in updates:
                listing = store.find(update.get("id")) if isinstance(update.get("id"), int) else None
                if listing is None or listing.variations:
                    answers.append({"id": update.get("id", 0), "error": {
                        "code": "woocommerce_rest_product_invalid_id", "message": "ID no válido.",
                        "data": {"status": 400}}})
                    continue
                before = store.quantities(listing)
                error = _apply(listing, update, listing)
                if error is None:
                    store.accepted(listing, before)
                answers.append({"id": listing.id, "error": error} if error else product_document(listing))
        return answers

    @app.post(f"{API}/products/<int:product_id>/variations/batch")
    def batch_variations(product_id: int):
        updates, refusal = _updates()
        if refusal is not None:
            return refusal
        with store.lock:
            if store.find(product_id) is None:
                return _error(404, "woocommerce_rest_product_invalid_id", "ID no válido.")

        def commit():
            return jsonify({"update": _batch_variations(product_id, updates)})

        return faulty_write(knobs, commit, kind="stock")

    def _batch_variations(product_id, updates):
        answers = []
        with store.lock:
            listing = store.find(product_id)
            for update in updates:
                variation = next((v for v in listing.variations if v.id == update.get("id")), None)
                if variation is None:
                    answers.append({"id": update.get("id", 0), "error": {
                        "code": "woocommerce_rest_product_variation_invalid_id",
                        "message": "ID de variación no válido.", "data": {"status": 400}}})
                    continue
                before = store.quantities(variation)
                error = _apply(variation, update, listing)
                if error is None:
                    store.accepted(variation, before)
                answers.append({"id": variation.id, "error": error} if error else
                               variation_document(listing, variation))
        return answers
