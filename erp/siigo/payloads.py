"""ERP-neutral drafts -> Siigo request bodies (customers, invoices, credit notes, cash receipts), and the
totals Siigo will compute, so the ``payments`` we send add up to them (Siigo refuses anything else).

Shapes and rules: ``erp/siigo/API_FACTS.md``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.errors import InvalidPayload
from erp.base import ContactDraft, InvoiceLineDraft

CENT = Decimal("0.01")
OBSERVATIONS_LIMIT = 4000

# The identification types the core may hand us (the codes of the seller's fiscal settings) -> Siigo's
# DIAN codes. A code that is already one of Siigo's passes through.
ID_TYPES = {
    "CC": "13", "NIT": "31", "CE": "22", "PP": "41", "PASAPORTE": "41", "TI": "12", "RC": "11", "TE": "21",
    "DIE": "42", "FOREIGN_NIT": "50", "NIT_OTRO_PAIS": "50", "NUIP": "91", "PEP": "47", "PPT": "48",
}
SIIGO_ID_TYPES = frozenset({"11", "12", "13", "21", "22", "31", "41", "42", "43", "47", "48", "50", "89", "91"})

# DANE codes of the cities most buyers write (state code, city code); anything else is filed under
# Bogotá, since Siigo requires a coded city on every customer (*our choice*, see API_FACTS.md).
CITIES = {
    "bogota": ("11", "11001"), "bogota d.c.": ("11", "11001"), "medellin": ("05", "05001"),
    "cali": ("76", "76001"), "barranquilla": ("08", "08001"), "cartagena": ("13", "13001"),
    "bucaramanga": ("68", "68001"), "pereira": ("66", "66001"), "manizales": ("17", "17001"),
    "cucuta": ("54", "54001"), "ibague": ("73", "73001"), "santa marta": ("47", "47001"),
    "villavicencio": ("50", "50001"), "pasto": ("52", "52001"), "monteria": ("23", "23001"),
    "armenia": ("63", "63001"), "neiva": ("41", "41001"), "popayan": ("19", "19001"),
    "tunja": ("15", "15001"), "valledupar": ("20", "20001"),
}
DEFAULT_CITY = ("11", "11001")
# Regimes (the seller's fiscal settings) under which a buyer is responsible for IVA.
VAT_RESPONSIBLE_REGIMES = frozenset({"VAT_RESPONSIBLE", "COMMON_REGIME", "RESPONSIBLE_FOR_IVA"})


def idempotency_key(marker: str) -> str:
    """Siigo's ``Idempotency-Key`` for a document: alphanumeric, at most 30 characters."""
    return hashlib.sha256(marker.encode()).hexdigest()[:30]


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip().lower()


def customer_payload(contact: ContactDraft) -> dict[str, Any]:
    """``POST``/``PUT /v1/customers``: the buyer with every field Siigo requires (a PUT replaces all)."""
    raw_type = (contact.identification_type or "CC").strip().upper()
    id_type = raw_type if raw_type in SIIGO_ID_TYPES else ID_TYPES.get(raw_type, "13")
    company = contact.kind_of_person == "LEGAL_ENTITY" or id_type == "31"
    name = " ".join(contact.name.split())[:200] or "Consumidor final"
    if company:
        names = [name[:100]]
    else:
        first, _, last = name.rpartition(" ")
        names = [(first or last)[:100], (last if first else last)[:100]]
    state, city = CITIES.get(_plain(contact.city or ""), DEFAULT_CITY)
    body: dict[str, Any] = {
        "type": "Customer", "person_type": "Company" if company else "Person", "id_type": id_type,
        "identification": _identification(contact.identification_number), "name": names,
        "vat_responsible": (contact.regime or "").upper() in VAT_RESPONSIBLE_REGIMES,
        "fiscal_responsibilities": [{"code": "R-99-PN"}],
        "address": {"address": (contact.address or "Sin dirección")[:256],
                    "city": {"country_code": "Co", "state_code": state, "city_code": city}},
        "phones": [{"number": digits[:10]}] if (digits := re.sub(r"\D", "", contact.phone or "")) else [],
        # A document needs the customer to have a contact (Siigo: customer_settings).
        "contacts": [{"first_name": names[0][:50], "last_name": names[-1][:50] if not company else "",
                      **({"email": contact.email.strip()} if contact.email else {})}],
    }
    if contact.dv and contact.dv.strip().isdigit():
        body["check_digit"] = contact.dv.strip()
    return body


def _identification(number: str) -> str:
    cleaned = re.sub(r"[^0-9A-Za-z-]", "", number or "")
    if len(cleaned) < 3:
        raise InvalidPayload(f"Siigo no acepta el documento «{number}»: necesita al menos 3 letras o dígitos.",
                             detail="identification too short")
    return cleaned[:50]


@dataclass(frozen=True)
class PricedItem:
    body: dict[str, Any]
    total: Decimal


def priced_items(lines: Iterable[InvoiceLineDraft], tax_rates: Mapping[str, Decimal], *,
                 discount_by_value: bool, warehouse_id: str | None = None) -> list[PricedItem]:
    """Invoice/credit-note items and each item's total as Siigo computes it:
    ``base = round(quantity × price − discount, 2)``, ``tax = round(base × rate / 100, 2)`` per tax."""
    items = []
    for index, line in enumerate(lines, start=1):
        if not line.item_id:
            raise InvalidPayload(f"La línea {index} no tiene producto de Siigo.", detail="empty item code")
        quantity, price = Decimal(line.quantity), Decimal(line.unit_price)
        gross = quantity * price
        discount_value = (gross * line.discount_percent / 100).quantize(CENT, ROUND_HALF_UP)
        base = (gross - discount_value).quantize(CENT, ROUND_HALF_UP)
        taxes = 0
        for tax_id in line.tax_ids:
            rate = tax_rates.get(str(tax_id))
            if rate is None:
                raise InvalidPayload(f"El impuesto {tax_id} no existe en Siigo: vuelve a cargar los impuestos.",
                                     detail=f"unknown tax id {tax_id}")
            taxes += (base * rate / 100).quantize(CENT, ROUND_HALF_UP)
        body: dict[str, Any] = {"code": line.item_id, "quantity": _number(quantity), "price": _number(price)}
        if line.description:
            body["description"] = line.description[:300]
        if line.discount_percent:
            body["discount"] = _number(discount_value if discount_by_value
                                       else line.discount_percent.quantize(CENT, ROUND_HALF_UP))
        if line.tax_ids:
            body["taxes"] = [{"id": _int_id(t)} for t in line.tax_ids]
        if warehouse_id:
            body["warehouse"] = _int_id(warehouse_id)
        items.append(PricedItem(body=body, total=base + taxes))
    if not items:
        raise InvalidPayload("La factura no tiene líneas.", detail="no lines")
    return items


def observations_with(marker: str, *texts: str) -> str:
    """The document's ``observations``: the seller's text and the marker, which must survive the cut."""
    text = " ".join(t.strip() for t in texts if t and t.strip())
    if marker not in text:
        text = f"{text} {marker}".strip()
    if len(text) > OBSERVATIONS_LIMIT:
        text = f"{text[:OBSERVATIONS_LIMIT - len(marker) - 1]} {marker}"
    return text


def split_document_name(name: str | None) -> tuple[str, int] | None:
    """``"FV-2-22"`` -> ``("FV-2", 22)``: the prefix and consecutive a cash receipt pays."""
    match = re.fullmatch(r"\s*(.+)-(\d+)\s*", name or "")
    return (match.group(1), int(match.group(2))) if match else None


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def _int_id(value: str) -> int | str:
    text = str(value).strip()
    return int(text) if text.isdigit() else text
