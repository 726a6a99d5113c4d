"""The Alegra sandbox's master data: items, contacts, and the lists a seller picks from (warehouses,
price lists, taxes, number templates).

Routes (installed by :func:`install_master_data_routes` into :func:`sandbox.alegra.create_app`):

* ``GET /items`` (``query`` in the name or reference), ``GET|PUT|DELETE /items/{id}``, ``POST /items``
  (a name and a positive price required; a reference another item has is refused);
* ``GET /warehouses``, ``/price-lists``, ``/taxes``, ``/number-templates``;
* ``GET /contacts`` (``identification`` contained, ``query`` in the name), ``GET|PUT|DELETE
  /contacts/{id}``, ``POST /contacts`` (a name and an identification required).

Every change is told to the webhook subscribers (:mod:`sandbox.alegra_webhooks`); writes run under
:func:`sandbox.knobs.faulty_write`, like invoice creation.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, request

from sandbox.alegra_http import AlegraError, json_body, page_of, ref_id
from sandbox.knobs import Knobs, faulty_write

if TYPE_CHECKING:
    from sandbox.alegra import AlegraState

API = "/api/v1"


def identification_of(contact: dict[str, Any]) -> str | None:
    """The contact's identification number, from ``identificationObject`` or a plain ``identification``."""
    for key in ("identificationObject", "identification"):
        value = contact.get(key)
        if isinstance(value, dict):
            value = value.get("number")
        if value not in (None, ""):
            return str(value).strip()
    return None


def install_master_data_routes(app: Flask, state: AlegraState, knobs: Knobs) -> None:
    """Add the item, contact and settings-list routes to the Alegra sandbox app."""

    def _one(records: dict[int, dict[str, Any]], record_id: int, what: str):
        with state.lock:
            record = records.get(record_id)
            if record is None:
                raise AlegraError(404, f"{what} no existe", 404)
            return jsonify(copy.deepcopy(record))

    @app.get(f"{API}/items")
    def list_items():
        query = request.args.get("query", "").casefold()
        with state.lock:
            found = [i for i in state.items.values()
                     if not query or query in i["name"].casefold() or query in (i["reference"] or "").casefold()]
            return jsonify(page_of(found))

    @app.get(f"{API}/items/<int:item_id>")
    def get_item(item_id: int):
        return _one(state.items, item_id, "El ítem")

    @app.post(f"{API}/items")
    def create_item():
        """A new product: ``name`` and a positive ``price`` (number or ``[{idPriceList, price}]``) are
        required; ``tax`` ids must exist. Alegra refuses a reference another item has."""
        body = json_body()
        name = str(body.get("name") or "").strip()
        if not name:
            raise AlegraError(400, "El nombre del ítem es obligatorio", 3001)
        raw_prices = body.get("price")
        prices = raw_prices if isinstance(raw_prices, list) else [{"idPriceList": 1, "price": raw_prices}]
        try:
            price_list = [{"idPriceList": ref_id(p.get("idPriceList")) or 1, "name": "General",
                           "price": float(Decimal(str(p.get("price"))))} for p in prices if isinstance(p, dict)]
        except (ArithmeticError, ValueError):
            raise AlegraError(400, "El precio del ítem no es válido", 3002) from None
        if not price_list or price_list[0]["price"] <= 0:
            raise AlegraError(400, "El precio del ítem es obligatorio", 3002)
        reference = str(body.get("reference") or "").strip() or None

        def commit():
            with state.lock:
                taxes = []
                for wanted in body.get("tax") or []:
                    tax = next((t for t in state.taxes if t["id"] == ref_id(wanted)), None)
                    if tax is None:
                        raise AlegraError(400, "El impuesto indicado no existe", 3003)
                    taxes.append(copy.deepcopy(tax))
                if reference and any(i.get("reference") == reference for i in state.items.values()):
                    raise AlegraError(400, "Ya existe un ítem con esa referencia", 3004)
                item = {"id": max(state.items, default=0) + 1, "name": name, "description": "",
                        "reference": reference, "type": "product", "status": "active", "tax": taxes,
                        "customFields": [], "price": price_list}
                state.items[item["id"]] = item
                state.webhooks.notify("new-item", "item", item)
                return jsonify(copy.deepcopy(item)), 201

        return faulty_write(knobs, commit)

    @app.put(f"{API}/items/<int:item_id>")
    def update_item(item_id: int):
        return jsonify(state.edit_item(item_id, json_body()))

    @app.delete(f"{API}/items/<int:item_id>")
    def delete_item(item_id: int):
        if not state.delete_item(item_id):
            raise AlegraError(404, "El ítem no existe", 404)
        return jsonify({"code": 200, "message": "El ítem fue eliminado correctamente"})

    for path, attribute in (("warehouses", "warehouses"), ("price-lists", "price_lists"), ("taxes", "taxes"),
                            ("number-templates", "number_templates")):
        def list_settings(attribute: str = attribute):
            with state.lock:
                return jsonify(page_of(getattr(state, attribute)))

        app.add_url_rule(f"{API}/{path}", f"list_{attribute}", list_settings, methods=["GET"])

    @app.get(f"{API}/contacts")
    def list_contacts():
        identification = request.args.get("identification", "").strip()
        query = request.args.get("query", "").casefold()
        with state.lock:
            found = [c for c in state.contacts.values()
                     if identification in (identification_of(c) or "")
                     and (not query or query in c["name"].casefold())]
            return jsonify(page_of(found))

    @app.get(f"{API}/contacts/<int:contact_id>")
    def get_contact(contact_id: int):
        return _one(state.contacts, contact_id, "El contacto")

    @app.delete(f"{API}/contacts/<int:contact_id>")
    def delete_contact(contact_id: int):
        if not state.delete_contact(contact_id):
            raise AlegraError(404, "El contacto no existe", 404)
        return jsonify({"code": 200, "message": "El contacto fue eliminado correctamente"})

    def _contact_body() -> dict[str, Any]:
        body = json_body()
        name_object = body.get("nameObject") if isinstance(body.get("nameObject"), dict) else {}
        name = str(body.get("name") or " ".join(str(v) for v in name_object.values() if v)).strip()
        if not name:
            raise AlegraError(400, "El nombre del contacto es obligatorio", 2001)
        if not identification_of(body):
            raise AlegraError(400, "La identificación del contacto es obligatoria", 2002)
        return {**body, "name": name}

    @app.post(f"{API}/contacts")
    def create_contact():
        return jsonify(state.add_contact(_contact_body())), 201

    @app.put(f"{API}/contacts/<int:contact_id>")
    def update_contact(contact_id: int):
        """Replace the contact's data (the next stamp of its invoices is judged on it)."""
        body = _contact_body()

        def commit():
            with state.lock:
                if contact_id not in state.contacts:
                    raise AlegraError(404, "El contacto no existe", 404)
                return jsonify(state.replace_contact(contact_id, body))

        return faulty_write(knobs, commit)
