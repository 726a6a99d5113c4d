"""Shopify sandbox documents: a :class:`~sandbox.catalog.SaleSpec` rendered as a documented Admin REST
order. Amounts are strings; ``taxes_included`` follows the store's setting; discounts live in each
line's and shipping line's ``discount_allocations`` (a 10 % code on some orders, half-price shipping
on some). The money helpers here are shared with the WooCommerce sandbox.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.catalog import PRODUCTS, TAX_RATES, SaleLine, SaleSpec

SHOP_TZ = timezone(timedelta(hours=-5))
ORDER_ID_BASE = 5_100_000_000
CENT = Decimal("0.01")
LINE_DISCOUNT = Decimal("0.10")  # "BIENVENIDA10" on orders whose number % 4 == 1

_RATES_BY_SKU = {p.barcode: TAX_RATES[p.tax_id] for p in PRODUCTS if p.barcode}
_RATES_BY_SKU.update({barcode: TAX_RATES[p.tax_id] for p in PRODUCTS for _, barcode in p.variants})


def sku_tax_rate(sku: str | None) -> Decimal:
    """The IVA rate (percent) of the catalog product a SKU is; 19 for SKUs the catalog does not know."""
    return _RATES_BY_SKU.get(sku or "", Decimal("19"))


def stable_id(text: str, base: int, modulo: int = 10**9) -> int:
    return base + zlib.crc32(text.encode()) % modulo


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def tax_part(gross: Decimal, rate: Decimal) -> Decimal:
    """The tax inside a tax-included amount, to the cent."""
    return cents(gross - gross / (1 + rate / 100))


def _iso(moment: datetime) -> str:
    return moment.astimezone(SHOP_TZ).isoformat(timespec="seconds")


def _line(spec: SaleSpec, index: int, line: SaleLine, taxes_included: bool) -> tuple[dict, Decimal]:
    """A line item and what the buyer paid for it (tax included)."""
    rate = sku_tax_rate(line.sku)
    gross = line.unit_price * line.quantity
    discount_gross = cents(gross * LINE_DISCOUNT) if spec.number % 4 == 1 else Decimal("0")
    paid = gross - discount_gross
    if taxes_included:
        price, discount, tax = line.unit_price, discount_gross, tax_part(paid, rate)
    else:
        price = cents(line.unit_price / (1 + rate / 100))
        discount = cents(price * line.quantity * LINE_DISCOUNT) if discount_gross else Decimal("0")
        tax = cents((price * line.quantity - discount) * rate / 100)
        paid = price * line.quantity - discount + tax
    variant_title = " / ".join(line.variation.values()) or None
    base_title = line.title.removesuffix(" " + " ".join(line.variation.values())) if line.variation else line.title
    item = {
        "id": ORDER_ID_BASE * 10 + spec.number * 10 + index, "admin_graphql_api_id": None,
        "variant_id": stable_id(line.sku or line.title, 40_000_000_000), "product_id": stable_id(base_title, 7_000_000_000),
        "title": base_title, "variant_title": variant_title,
        "name": f"{base_title} - {variant_title}" if variant_title else base_title,
        "sku": line.sku or "", "vendor": "Tienda Cafetera", "quantity": line.quantity, "current_quantity": line.quantity,
        "price": money(price), "total_discount": "0.00", "fulfillable_quantity": 0 if spec.shipped else line.quantity,
        "fulfillment_status": "fulfilled" if spec.shipped else None, "requires_shipping": True, "taxable": rate > 0,
        "gift_card": False, "grams": 500, "properties": [], "product_exists": True, "duties": [],
        "tax_lines": [{"title": "IVA", "price": money(tax), "rate": float(rate / 100), "channel_liable": False}],
        "discount_allocations": [{"amount": money(discount), "discount_application_index": 0}] if discount else [],
    }
    item["admin_graphql_api_id"] = f"gid://shopify/LineItem/{item['id']}"
    return item, paid


def _shipping(spec: SaleSpec, taxes_included: bool, discount_index: int) -> tuple[list[dict], Decimal]:
    if spec.shipping_cost <= 0:
        return [{"id": stable_id(f"free{spec.number}", 4_000_000_000), "title": "Envío gratis", "code": "GRATIS",
                 "source": "shopify", "price": "0.00", "discounted_price": "0.00", "discount_allocations": [],
                 "tax_lines": []}], Decimal("0")
    gross = spec.shipping_cost
    discount_gross = cents(gross / 2) if spec.number % 3 == 0 else Decimal("0")  # "ENVIOMITAD"
    if taxes_included:
        price, discount = gross, discount_gross
        paid = price - discount
        tax = tax_part(paid, Decimal("19"))
    else:
        price = cents(gross / Decimal("1.19"))
        discount = cents(price / 2) if discount_gross else Decimal("0")
        tax = cents((price - discount) * Decimal("0.19"))
        paid = price - discount + tax
    allocations = [{"amount": money(discount), "discount_application_index": discount_index}] if discount else []
    return [{"id": stable_id(f"ship{spec.number}", 4_000_000_000), "title": "Envío estándar", "code": "ESTANDAR",
             "source": "shopify", "price": money(price), "discounted_price": money(price - discount),
             "discount_allocations": allocations,
             "tax_lines": [{"title": "IVA", "price": money(tax), "rate": 0.19, "channel_liable": False}]}], paid


def render_sale(spec: SaleSpec, *, taxes_included: bool = True, shop_tz=SHOP_TZ) -> dict[str, Any]:
    """The Admin REST order of one sale."""
    order_id = ORDER_ID_BASE + spec.number
    created = spec.created_at.astimezone(shop_tz)
    lines = [_line(spec, i, line, taxes_included) for i, line in enumerate(spec.lines)]
    shipping_lines, shipping_paid = _shipping(spec, taxes_included, 1 if spec.number % 4 == 1 else 0)
    delivered = spec.shipped and spec.number % 3 == 0
    updated = created + (timedelta(hours=50) if delivered else timedelta(hours=18) if spec.shipped
                         else timedelta(minutes=45) if spec.status == "cancelled" else timedelta(minutes=3))
    buyer = spec.buyer
    email = f"{buyer.nickname.lower()}@correo.example"
    name = " ".join(p for p in (buyer.first_name, buyer.last_name) if p) or buyer.nickname.title()
    legal = buyer.id_type == "NIT"
    financial = {"paid": "paid", "cancelled": "refunded"}.get(spec.status, "pending")
    total = sum((paid for _, paid in lines), Decimal("0")) + shipping_paid
    discount_applications = []
    if spec.number % 4 == 1:
        discount_applications.append({"type": "discount_code", "code": "BIENVENIDA10", "value": "10.0",
                                      "value_type": "percentage", "allocation_method": "across",
                                      "target_selection": "all", "target_type": "line_item"})
    if any(s["discount_allocations"] for s in shipping_lines):
        discount_applications.append({"type": "discount_code", "code": "ENVIOMITAD", "value": "50.0",
                                      "value_type": "percentage", "allocation_method": "each",
                                      "target_selection": "all", "target_type": "shipping_line"})
    address = {"first_name": buyer.first_name or buyer.nickname.title(), "last_name": buyer.last_name or "",
               "name": name, "company": buyer.first_name if legal else None, "address1": buyer.street,
               "address2": None, "city": buyer.city, "province": buyer.department, "country": "Colombia",
               "country_code": "CO", "zip": None, "phone": buyer.phone or "+57 300 555 0101"}
    notes = []
    if buyer.id_type:
        notes.append({"name": "NIT" if legal else "Cédula", "value": buyer.id_number})
    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}", "name": f"#{1001 + spec.number}",
        "order_number": 1001 + spec.number, "email": email, "contact_email": email, "phone": None,
        "created_at": _iso(created), "updated_at": _iso(updated), "processed_at": _iso(created),
        "cancelled_at": _iso(created + timedelta(minutes=45)) if spec.status == "cancelled" else None,
        "cancel_reason": "customer" if spec.status == "cancelled" else None,
        "closed_at": _iso(updated) if delivered else None, "currency": "COP", "presentment_currency": "COP",
        "financial_status": financial, "fulfillment_status": "fulfilled" if spec.shipped else None,
        "taxes_included": taxes_included, "test": False, "source_name": "web", "tags": "",
        "total_price": money(total), "total_tax": money(sum((Decimal(t["price"]) for item, _ in lines
                                                              for t in item["tax_lines"]), Decimal("0"))),
        "total_discounts": money(sum((Decimal(a["amount"]) for item, _ in lines for a in item["discount_allocations"]),
                                     Decimal("0"))),
        "discount_applications": discount_applications,
        "discount_codes": [{"code": d["code"], "type": "percentage"} for d in discount_applications if d.get("code")],
        "note": None, "note_attributes": notes,
        "line_items": [item for item, _ in lines], "shipping_lines": shipping_lines,
        "billing_address": address, "shipping_address": {**address, "company": None},
        "customer": {"id": stable_id(buyer.nickname, 6_000_000_000), "email": email, "first_name": address["first_name"],
                     "last_name": address["last_name"], "phone": None, "state": "enabled", "currency": "COP"},
        "fulfillments": [{"id": stable_id(f"f{spec.number}", 5_000_000_000), "order_id": order_id, "status": "success",
                          "shipment_status": "delivered" if delivered else "in_transit",
                          "tracking_company": "Servientrega", "tracking_number": f"SV{order_id}"}]
        if spec.shipped else [],
        "refunds": [],
    }
