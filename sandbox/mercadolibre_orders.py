"""Mercado Libre sandbox documents: a :class:`~sandbox.catalog.SaleSpec` rendered as the documented JSON
of an order, its shipment (old format, or new with ``x-format-new``) and its buyer's billing info.

Dates carry ``-04:00``, amounts are JSON numbers. A sale planned with several refunds is paid with
one payment per refund (:func:`sandbox.mercadolibre_refunds.payment_amounts`).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.catalog import SaleLine, SaleSpec
from sandbox.countries import SandboxCountry
from sandbox.mercadolibre_refunds import payment_amounts

ML_TZ = timezone(timedelta(hours=-4))
ORDER_ID_BASE = 2000008000000
PACK_ID_BASE = 2000004000000
SHIPMENT_ID_BASE = 44100000000
BILLING_INFO_ID_BASE = 677487519924800000
ATTRIBUTE_IDS = {"Color": "COLOR", "Talla": "SIZE"}


def _stable(text: str, modulo: int) -> int:
    return zlib.crc32(text.encode()) % modulo


def _iso(moment: datetime) -> str:
    return moment.astimezone(ML_TZ).isoformat(timespec="milliseconds")


def _num(value: Decimal) -> int | float:
    """ML sends amounts as JSON numbers (integral in COP)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _shipment_status(spec: SaleSpec) -> str:
    if spec.status == "cancelled":
        return "cancelled"
    if spec.status != "paid":
        return "pending"
    if spec.shipped:
        return "delivered" if spec.number % 3 == 0 else "shipped"
    return "ready_to_ship"


def _order_item(line: SaleLine) -> dict[str, Any]:
    key = line.sku or line.title
    variation = line.variation
    return {
        "item": {
            "id": f"MCO{1_000_000_000 + _stable(line.title, 900_000_000)}",
            "title": line.title,
            "category_id": f"MCO{1000 + _stable(line.title, 9000)}",
            "variation_id": 170_000_000_000 + _stable(key, 10**9) if variation else None,
            "variation_attributes": [
                {"id": ATTRIBUTE_IDS.get(name, name.upper()), "name": name,
                 "value_id": str(_stable(value, 10**8)), "value_name": value}
                for name, value in variation.items()
            ],
            "seller_sku": None if line.sku_in_custom_field else line.sku,
            "seller_custom_field": line.sku if line.sku_in_custom_field else None,
            "condition": "new", "warranty": "Garantía del vendedor: 30 días",
        },
        "quantity": line.quantity,
        "unit_price": _num(line.unit_price),
        "full_unit_price": _num(line.unit_price),
        "currency_id": "COP",
        "sale_fee": _num((line.unit_price * Decimal("0.13")).quantize(Decimal("1"), ROUND_HALF_UP)),
        "listing_type_id": "gold_special",
    }


def render_sale(spec: SaleSpec, *, user_id: int) -> tuple[dict, dict, dict | None]:
    """The order, shipment (old format) and billing info documents of one sale."""
    order_id = ORDER_ID_BASE + spec.number
    shipment_id = SHIPMENT_ID_BASE + spec.number
    created = spec.created_at.astimezone(ML_TZ)
    ship_status = _shipment_status(spec)
    updated = created + {"shipped": timedelta(hours=18), "delivered": timedelta(hours=50),
                         "cancelled": timedelta(minutes=45)}.get(ship_status, timedelta(minutes=3))
    buyer = spec.buyer
    buyer_id = 100_000_000 + _stable(buyer.nickname, 900_000_000)
    total = spec.total
    paid = spec.status in ("paid", "cancelled")
    delivered = ship_status == "delivered"
    pack_id = PACK_ID_BASE + spec.number if len(spec.lines) > 1 and spec.number % 2 == 0 else None
    order: dict[str, Any] = {
        "id": order_id, "status": spec.status, "status_detail": None,
        "date_created": _iso(created), "date_closed": _iso(created + timedelta(minutes=3)) if paid else None,
        "last_updated": _iso(updated), "expiration_date": _iso(created + timedelta(days=28)),
        "pack_id": pack_id, "pickup_id": None, "fulfilled": True if delivered else None,
        "order_items": [_order_item(line) for line in spec.lines],
        "total_amount": _num(total),
        "paid_amount": _num(total + spec.shipping_cost) if paid else 0,
        "currency_id": "COP", "shipping_cost": None, "coupon": {"id": None, "amount": 0},
        "shipping": {"id": shipment_id},
        "buyer": {"id": buyer_id, "nickname": buyer.nickname},
        "seller": {"id": user_id},
        "payments": [],
        "tags": [t for t in ("paid" if paid else "not_paid", "delivered" if delivered else "not_delivered",
                             "pack_order" if pack_id else None) if t],
        "context": {"channel": "marketplace", "site": "MCO", "flows": []},
        "taxes": {"amount": None, "currency_id": None, "id": None},
        "feedback": {"buyer": None, "seller": None}, "mediations": [],
    }
    if paid:
        order["payments"].append({
            "id": 90_000_000_000 + spec.number, "order_id": order_id, "payer_id": buyer_id,
            "collector": {"id": user_id}, "currency_id": "COP", "installments": 1,
            "status": "refunded" if spec.status == "cancelled" else "approved",
            "status_detail": "bpp_refunded" if spec.status == "cancelled" else "accredited",
            "transaction_amount": _num(total), "shipping_cost": _num(spec.shipping_cost),
            "total_paid_amount": _num(total + spec.shipping_cost),
            "payment_method_id": "pse" if spec.number % 4 == 0 else "visa",
            "payment_type": "bank_transfer" if spec.number % 4 == 0 else "credit_card",
            "operation_type": "regular_payment", "reason": spec.lines[0].title,
            "date_created": _iso(created + timedelta(minutes=1)),
            "date_approved": _iso(created + timedelta(minutes=3)),
            "date_last_modified": _iso(created + timedelta(minutes=3)),
        })
        _split_payment(order, spec)
    if buyer.id_type:
        order["buyer"]["billing_info"] = {"id": str(BILLING_INFO_ID_BASE + spec.number)}
    shipment = {
        "id": shipment_id, "order_id": order_id, "mode": "me2", "status": ship_status, "substatus": None,
        "logistic_type": "fulfillment" if spec.fulfillment else "cross_docking",
        "date_created": _iso(created), "last_updated": _iso(updated), "order_cost": _num(total),
        "sender_id": user_id, "receiver_id": buyer_id,
        "tracking_number": f"MEL{shipment_id}CO" if ship_status in ("shipped", "delivered") else None,
        "shipping_option": {
            "id": 9_000_000_000 + spec.number, "shipping_method_id": 510745, "name": "Normal a domicilio",
            "currency_id": "COP", "cost": _num(spec.shipping_cost),
            "list_cost": _num(max(spec.shipping_cost, Decimal("12900"))), "delivery_type": "estimated",
        },
        "receiver_address": {
            "address_line": buyer.street, "street_name": buyer.street, "street_number": None,
            "city": {"name": buyer.city}, "state": {"name": buyer.department},
            "country": {"id": "CO", "name": "Colombia"}, "zip_code": None,
        },
    }
    billing = None
    if buyer.id_type:
        # A company: Colombia's NIT, or a buyer the generator made a company (sandbox.catalog._buyer).
        legal = buyer.id_type in ("NIT", "RUC") or buyer.nickname.startswith("EMPRESA")
        billing = {"site_id": "MCO", "seller": {"cust_id": user_id}, "buyer": {"cust_id": buyer_id, "billing_info": {
            "name": buyer.first_name, "last_name": buyer.last_name,
            "identification": {"type": buyer.id_type, "number": buyer.id_number},
            "taxes": {"taxpayer_type": {"id": "01" if legal else "02",
                                        "description": "Persona jurídica" if legal else "Persona natural"}},
            "address": {"street_name": buyer.street, "street_number": None, "city_name": buyer.city,
                        "state": {"code": None, "name": buyer.department}, "zip_code": None,
                        "country_id": "CO", "neighborhood": None, "comment": None},
            "attributes": {"cust_type": "BU" if legal else "CO", "is_normalized": True},
        }}}
    return order, shipment, billing


def _split_payment(order: dict[str, Any], spec: SaleSpec) -> None:
    """One payment per planned refund when a sale has several (see :mod:`sandbox.mercadolibre_refunds`)."""
    amounts = payment_amounts(spec)
    if len(amounts) < 2:
        return
    first = order["payments"].pop()
    for n, amount in enumerate(amounts):
        last = n == len(amounts) - 1
        shipping = spec.shipping_cost if last else Decimal("0")
        order["payments"].append({**first, "id": first["id"] + n * 1_000_000_000, "transaction_amount": _num(amount - shipping),
                                  "shipping_cost": _num(shipping), "total_paid_amount": _num(amount)})


def localize_sale(order: dict[str, Any], shipment: dict[str, Any], billing: dict[str, Any] | None,
                  country: SandboxCountry) -> None:
    """Move a rendered sale to another site (:mod:`sandbox.countries`): its site id, currency and
    country, and the buyer's billing info as that site gives it. Colombia's documents stay as rendered."""
    if country.code == "CO":
        return

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "currency_id" and inner == "COP":
                    value[key] = country.currency
                elif key in ("site", "site_id") and inner == "MCO":
                    value[key] = country.site_id
                elif key in ("id", "category_id") and isinstance(inner, str) and inner.startswith("MCO"):
                    value[key] = country.site_id + inner[3:]
                elif key == "country_id" and inner == "CO":
                    value[key] = country.code
                elif key == "country" and inner == {"id": "CO", "name": "Colombia"}:
                    value[key] = {"id": country.code, "name": country.name}
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)
        return value

    walk(order), walk(shipment), walk(billing)
    if billing is not None:
        info = billing["buyer"]["billing_info"]
        legal = info["taxes"]["taxpayer_type"]["id"] == "01"
        info["address"]["zip_code"] = country.zip_code
        if legal and country.company_document[0] == country.person_document[0]:
            info["attributes"]["cust_type"] = "BU"  # same document type: the taxpayer type tells them apart


def new_format_shipment(shipment: dict[str, Any]) -> dict[str, Any]:
    """``/shipments/{id}`` as answered with ``x-format-new: true``."""
    option = shipment["shipping_option"]
    return {
        "id": shipment["id"], "external_reference": None, "status": shipment["status"],
        "substatus": shipment["substatus"], "date_created": shipment["date_created"],
        "last_updated": shipment["last_updated"], "declared_value": shipment["order_cost"],
        "logistic": {"direction": "forward", "mode": shipment["mode"], "type": shipment["logistic_type"]},
        "source": {"site_id": "MCO", "market_place": "MELI", "application_id": None},
        "tracking_number": shipment["tracking_number"],
        "origin": {"type": "selling_address", "sender_id": shipment["sender_id"]},
        "destination": {"type": "buyer_address", "receiver_id": shipment["receiver_id"],
                        "shipping_address": shipment["receiver_address"]},
        "lead_time": {"cost": option["cost"], "list_cost": option["list_cost"], "currency_id": option["currency_id"],
                      "cost_type": "free" if not option["cost"] else "charged",
                      "shipping_method": {"id": option["shipping_method_id"], "name": option["name"],
                                          "type": "standard"}},
        "tags": [],
    }
