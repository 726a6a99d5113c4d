"""Invoice creation in the Alegra sandbox: lines and totals computed the way Alegra does, inline payments,
numbering and stamping when the invoice is created open."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sandbox.alegra_documents import payments_total, read_inline_payments, record_payment
from sandbox.alegra_http import AlegraError, day_field, decimal_field, find_record, money, ref_id
from sandbox.catalog import BOGOTA
from sandbox.knobs import Knobs

if TYPE_CHECKING:
    from sandbox.alegra import AlegraState

TEXT_LIMIT = 500


def invoice_line(state: AlegraState, raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise AlegraError(400, f"El ítem {index} de la factura no es válido", 3005)
    item = state.items.get(ref_id(raw.get("id")) or -1)
    if item is None:
        raise AlegraError(400, f"El ítem con id {raw.get('id')} no existe", 3006)
    if item["type"] == "variantParent":
        raise AlegraError(400, f"El ítem {item['name']} tiene variantes: selecciona una de ellas", 3007)
    quantity = decimal_field(raw.get("quantity"), "quantity")
    price = decimal_field(raw.get("price", item["price"][0]["price"]), "price")
    discount = decimal_field(raw.get("discount") or 0, "discount")
    if quantity <= 0:
        raise AlegraError(400, "La cantidad de los ítems debe ser mayor que cero", 3008)
    if price < 0:
        raise AlegraError(400, "El precio de los ítems no puede ser negativo", 3009)
    if not 0 <= discount <= 100:
        raise AlegraError(400, "El descuento debe estar entre 0 y 100", 3011)
    # An explicit "tax" list is used as sent (even empty); without the key the item's own taxes apply.
    taxes = [find_record(state.taxes, t, "El impuesto") for t in raw["tax"]] if "tax" in raw else item["tax"]
    subtotal = price * quantity
    discount_value = subtotal * discount / 100
    tax_value = (subtotal - discount_value) * sum(Decimal(str(t["percentage"])) for t in taxes) / 100
    return {
        "id": item["id"], "name": item["name"], "description": raw.get("description") or item["description"],
        "reference": raw.get("reference") or item["reference"], "price": float(price), "discount": float(discount),
        "quantity": float(quantity), "tax": copy.deepcopy(taxes), "_subtotal": subtotal,
        "_discount": discount_value, "_tax": tax_value, "total": money(subtotal - discount_value + tax_value),
    }


def store_invoice(state: AlegraState, body: dict[str, Any], knobs: Knobs) -> dict[str, Any]:
    """``POST /invoices``: validate everything, then store the invoice (caller holds the lock)."""
    issued, due = day_field(body.get("date"), "date"), day_field(body.get("dueDate"), "dueDate")
    payments = read_inline_payments(state, body)
    status = body.get("status", "open" if payments else "draft")  # Alegra: draft unless status or payments
    if status not in ("open", "draft"):
        raise AlegraError(400, "El estado de la factura debe ser open o draft", 3012)
    if payments and status != "open":
        raise AlegraError(400, "Solo las facturas abiertas pueden recibir pagos", 4005)
    for key in ("observations", "anotation"):
        if len(str(body.get(key) or "")) > TEXT_LIMIT:
            raise AlegraError(400, f"El campo {key} no puede tener más de {TEXT_LIMIT} caracteres", 3013)
    client = state.contacts.get(ref_id(body.get("client")) or -1)
    if client is None:
        raise AlegraError(400, "El cliente indicado no existe", 3003)
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise AlegraError(400, "La factura debe tener al menos un ítem", 3005)
    lines = [invoice_line(state, raw, i + 1) for i, raw in enumerate(raw_items)]
    template = (find_record(state.number_templates, body["numberTemplate"], "La numeración")
                if body.get("numberTemplate") else next(t for t in state.number_templates if t["isDefault"]))
    warehouse = find_record(state.warehouses, body["warehouse"], "La bodega") if body.get("warehouse") else None
    price_list = find_record(state.price_lists, body["priceList"], "La lista de precios") if body.get("priceList") else None
    wants_stamp = isinstance(body.get("stamp"), dict) and bool(body["stamp"].get("generateStamp"))
    if wants_stamp and status == "open" and not template["isElectronic"]:
        raise AlegraError(400, "La numeración seleccionada no es de facturación electrónica", 3014)
    invoice = {
        "id": len(state.invoices) + 1, "date": issued, "dueDate": due,
        "datetime": datetime.now(BOGOTA).strftime("%Y-%m-%d %H:%M:%S"), "status": status,
        "client": {k: client.get(k) for k in ("id", "name", "identification")},
        "observations": body.get("observations") or "", "anotation": body.get("anotation") or "",
        "paymentForm": body.get("paymentForm"), "paymentMethod": body.get("paymentMethod"),
        "warehouse": {"id": warehouse["id"], "name": warehouse["name"]} if warehouse else None,
        "priceList": {"id": price_list["id"], "name": price_list["name"]} if price_list else None,
        "currency": dict(state.company["currency"]), "stamp": None, "payments": [],
        "numberTemplate": {"id": str(template["id"]), "prefix": template["prefix"], "number": None,
                           "fullNumber": None, "isElectronic": template["isElectronic"]},
    }
    subtotal = sum((line.pop("_subtotal") for line in lines), Decimal("0"))
    discount = sum((line.pop("_discount") for line in lines), Decimal("0"))
    tax = sum((line.pop("_tax") for line in lines), Decimal("0"))
    total = (subtotal - discount + tax).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    invoice.update(items=lines, subtotal=money(subtotal), discount=money(discount), tax=money(tax),
                   total=float(total), totalPaid=0, balance=float(total))
    if payments_total([{"amount": p["amount"]} for p in payments]) > total:
        raise AlegraError(400, "El valor de los pagos supera el total de la factura", 4006)
    invoice["status"] = "draft"  # opened (numbered, maybe stamped) below, like a draft that leaves draft
    if status == "open":
        state.open_invoice(invoice, knobs, stamp=wants_stamp)
    state.invoices.append(invoice)
    for payment in payments:
        record_payment(state, invoice, payment, payment["amount"])
    return invoice
