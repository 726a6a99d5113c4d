"""The Siigo sandbox's product writes and stock: ``GET /v1/account-groups``, ``POST /v1/products`` (the
documented required fields and rules, a code another product has refused with ``already_exists``) and
the stock an invoice takes out of a warehouse.

*Unconfirmed*: Siigo's blueprint documents a product's stock per warehouse (``warehouses[{id, name,
quantity}]``, ``available_quantity``), an invoice item's optional ``warehouse`` and the ``product_settings``
error for a warehouse sent with a product without stock control, but it does not state in words that a
sales invoice lowers the stock. The sandbox assumes it does (what an invoice of goods does in Siigo Nube):
in the item's ``warehouse``, or in the product's first warehouse when the item names none.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify

from sandbox.knobs import Knobs, faulty_write
from sandbox.siigo_http import SiigoError, json_body, money, number

if TYPE_CHECKING:
    from sandbox.siigo import SiigoState

ACCOUNT_GROUPS = [{"id": 1253, "name": "Productos", "active": True},
                  {"id": 1254, "name": "Servicios", "active": True}]
PRODUCT_TYPES = ("Product", "Service", "ConsumerGood", "Combo")
_SPACE = re.compile(r"\s")


def new_product(state: SiigoState, body: dict[str, Any]) -> dict[str, Any]:
    """A product from a ``POST /v1/products`` body, validated as documented (caller holds the lock)."""
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise SiigoError(400, "parameter_required", "The field code is required", ["code"])
    if _SPACE.search(code) or len(code) > 30:
        raise SiigoError(400, "invalid_code", "code: no spaces, at most 30 characters", ["code"])
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SiigoError(400, "parameter_required", "The field name is required", ["name"])
    if len(name) > 100:
        raise SiigoError(400, "length_max", "name: at most 100 characters", ["name"])
    group = next((g for g in ACCOUNT_GROUPS if g["id"] == body.get("account_group")), None)
    if group is None or not group["active"]:
        raise SiigoError(400, "invalid_reference", "The account_group does not exist or is inactive",
                         ["account_group"])
    kind = body.get("type") or "Product"
    if kind not in PRODUCT_TYPES:
        raise SiigoError(400, "invalid_type", "type: Product, Service, ConsumerGood or Combo", ["type"])
    taxes = []
    for ref in body.get("taxes") or []:
        tax = next((t for t in state.taxes if isinstance(ref, dict) and t["id"] == ref.get("id")), None)
        if tax is None or not tax["active"]:
            raise SiigoError(400, "invalid_reference", f"The tax {ref} does not exist", ["taxes.id"])
        taxes.append({k: tax[k] for k in ("id", "name", "type", "percentage")})
    prices = []
    for group_prices in body.get("prices") or []:
        entries = []
        for entry in (group_prices or {}).get("price_list") or []:
            position = entry.get("position") if isinstance(entry, dict) else None
            if not isinstance(position, int) or not 1 <= position <= 12:
                raise SiigoError(400, "invalid_range", "price_list.position: 1 to 12", ["prices.price_list.position"])
            value = number(entry.get("value"), "prices.price_list.value", places=2)
            if value < 0:
                raise SiigoError(400, "invalid_value", "A price cannot be negative", ["prices.price_list.value"])
            listed = next((p for p in state.price_lists if p["position"] == position), None)
            entries.append({"position": position, "name": listed["name"] if listed else f"Precio {position}",
                            "value": money(value)})
        prices.append({"currency_code": str(group_prices.get("currency_code") or "COP"), "price_list": entries})
    if code in state.products:
        raise SiigoError(400, "already_exists", f"The product code {code} already exists", ["code"])
    additional = body.get("additional_fields") if isinstance(body.get("additional_fields"), dict) else {}
    return {
        "id": f"{len(state.products) + 1:08d}-4ebc-49de-bf75-6a6cc968a96d", "code": code, "name": name.strip(),
        "account_group": {"id": group["id"], "name": group["name"]}, "type": kind,
        "stock_control": bool(body.get("stock_control", False)), "active": body.get("active", True) is not False,
        "tax_classification": body.get("tax_classification") or "Taxed", "tax_included": bool(body.get("tax_included")),
        "taxes": taxes, "prices": prices, "unit": {"code": str(body.get("unit") or "94"), "name": "unidad"},
        "unit_label": body.get("unit_label") or "unidad", "reference": body.get("reference") or "",
        "description": body.get("description") or "",
        "additional_fields": {k: str(additional.get(k) or "") for k in ("barcode", "brand", "tariff", "model")},
        "available_quantity": 0, "warehouses": [],
        "metadata": {"created": datetime.now(UTC).isoformat(timespec="seconds"), "last_updated": None},
    }


def lower_stock(state: SiigoState, raw_items: list[dict[str, Any]]) -> None:
    """Take an invoice's quantities out of stock (see the module docstring: *unconfirmed*). Every item is
    checked before anything moves, so a refused invoice moves nothing (caller holds the lock)."""
    moves = []
    for raw in raw_items:
        product = state.products[str(raw.get("code"))]
        wanted = raw.get("warehouse")
        if wanted is not None:
            if not product["stock_control"]:
                raise SiigoError(400, "product_settings", f"The product {product['code']} has no stock control: "
                                 "do not send a warehouse", ["items.warehouse"])
            if not any(w["id"] == wanted and w["active"] for w in state.warehouses):
                raise SiigoError(400, "invalid_reference", f"The warehouse {wanted} does not exist",
                                 ["items.warehouse"])
        if product["stock_control"] and product["type"] in ("Product", "ConsumerGood"):
            warehouse_id = wanted if wanted is not None else next(
                (w["id"] for w in product["warehouses"]), state.warehouses[0]["id"])
            moves.append((product, warehouse_id, Decimal(str(raw.get("quantity")))))
    for product, warehouse_id, quantity in moves:
        row = next((w for w in product["warehouses"] if w["id"] == warehouse_id), None)
        if row is None:
            name = next((w["name"] for w in state.warehouses if w["id"] == warehouse_id), "")
            product["warehouses"].append(row := {"id": warehouse_id, "name": name, "quantity": 0})
        row["quantity"] = money(Decimal(str(row["quantity"])) - quantity)
        product["available_quantity"] = money(sum((Decimal(str(w["quantity"])) for w in product["warehouses"]),
                                                  Decimal(0)))
        product["metadata"]["last_updated"] = datetime.now(UTC).isoformat(timespec="seconds")
        state.notify_product("public.siigoapi.products.stock.update", product)


def install_product_routes(app: Flask, state: SiigoState, knobs: Knobs) -> None:
    @app.get("/v1/account-groups")
    def account_groups():
        return jsonify(copy.deepcopy(ACCOUNT_GROUPS))

    @app.post("/v1/products")
    def create_product():
        body = json_body()

        def commit():
            with state.lock:
                product = new_product(state, body)
                state.products[product["code"]] = product
                state.notify_product("public.siigoapi.products.create", product)
                return jsonify(copy.deepcopy(product)), 201

        return faulty_write(knobs, commit)
