"""The sandbox's world per country: what Alegra serves (taxes, prices in the local currency, number
templates, the final consumer) and what Mercado Libre's site of that country sells (site id, currency,
the buyers' billing-info documents), so ``connector demo --country MX`` runs a Mexican account end to end.

Colombia is the seeded world of :mod:`sandbox.catalog` unchanged. Every other country reuses its
products (same barcodes and references) re-priced: the Colombian price before tax divided by
``price_divisor`` (rounded to whole units) under the country's own taxes — IVA 16 % in Mexico, IGV 18 %
in Peru, ITBMS 7 % in Panama. Catalog tax ids: 1 the general rate, 2 Colombia's reduced 5 % (the
general rate elsewhere), 3 exempt.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def _tax(tax_id: int, name: str, percentage: str, description: str) -> dict[str, Any]:
    return {"id": tax_id, "name": name, "percentage": percentage, "description": description, "type": name,
            "status": "active"}


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))


@dataclass(frozen=True)
class SandboxCountry:
    """One country of the sandbox. ``person_document``/``company_document``: the billing-info document
    type Mercado Libre's site gives for a person / a company and how to draw a number."""

    code: str
    name: str
    site_id: str
    currency: str
    taxes: tuple[dict[str, Any], ...]
    tax_of: dict[int, int]  # catalog tax id -> this country's tax id
    price_divisor: Decimal
    cities: tuple[tuple[str, str], ...]
    person_document: tuple[str, Callable[[random.Random], str]]
    company_document: tuple[str, Callable[[random.Random], str]]
    final_consumer: tuple[str, str]  # (identification type, number) of the seeded "final consumer" contact
    number_templates: tuple[dict[str, Any], ...] = ()
    zip_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The credit-note ``type`` codes Alegra takes in this country, and those that give goods back.
    credit_note_types: tuple[str, ...] = ("VOID_ELECTRONIC_INVOICE", "PARTIALL_DEVOLUTION",
                                          "REDUCTION_DISCOUNT_PARTIAL_TOTAL", "PRICE_ADJUSTMENT", "OTHER")
    credit_note_return_types: tuple[str, ...] = ("VOID_ELECTRONIC_INVOICE", "PARTIALL_DEVOLUTION")

    def local_price(self, colombian_price: Decimal) -> Decimal:
        if self.price_divisor == 1:
            return colombian_price
        return max(Decimal("1"), (colombian_price / self.price_divisor).quantize(Decimal("1"), ROUND_HALF_UP))

    def tax_rate(self, catalog_tax_id: int) -> Decimal:
        tax_id = self.tax_of[catalog_tax_id]
        return Decimal(next(t["percentage"] for t in self.taxes if t["id"] == tax_id))


def _template(template_id: int, name: str, prefix: str, kind: str, default: bool) -> dict[str, Any]:
    return {"id": template_id, "name": name, "prefix": prefix, "nextInvoiceNumber": 1, "documentType": kind,
            "isElectronic": True, "isDefault": default, "status": "active"}


COLOMBIA = SandboxCountry(
    code="CO", name="Colombia", site_id="MCO", currency="COP",
    taxes=(_tax(1, "IVA", "19.00", "IVA general"), _tax(2, "IVA", "5.00", "IVA reducido"),
           _tax(3, "Exento", "0.00", "Exento de IVA")),
    tax_of={1: 1, 2: 2, 3: 3}, price_divisor=Decimal("1"),
    cities=(("Medellín", "Antioquia"), ("Bogotá D.C.", "Bogotá"), ("Cali", "Valle del Cauca"),
            ("Barranquilla", "Atlántico"), ("Bucaramanga", "Santander"), ("Pereira", "Risaralda")),
    person_document=("CC", lambda rng: str(rng.randrange(10_000_000, 1_200_000_000))),
    company_document=("NIT", lambda rng: str(900100000 + rng.randrange(99999))),
    final_consumer=("CC", "222222222222"),
)

MEXICO = SandboxCountry(
    code="MX", name="México", site_id="MLM", currency="MXN",
    taxes=(_tax(1, "IVA", "16.00", "IVA general"), _tax(3, "IVA", "0.00", "IVA tasa 0")),
    tax_of={1: 1, 2: 1, 3: 3}, price_divisor=Decimal("220"),
    cities=(("Ciudad de México", "CDMX"), ("Guadalajara", "Jalisco"), ("Monterrey", "Nuevo León"),
            ("Puebla", "Puebla")),
    # RFC: 4 letters + birth date + 3 characters (a person), 3 letters + date + 3 (a company).
    person_document=("RFC", lambda rng: _letters(rng, 4) + f"{rng.randrange(60, 99)}0{rng.randrange(1, 9)}1"
                     f"{rng.randrange(1, 9)}" + _letters(rng, 2) + _digits(rng, 1)),
    company_document=("RFC", lambda rng: _letters(rng, 3) + "1905" + f"{rng.randrange(10, 28)}" + _letters(rng, 2)
                      + _digits(rng, 1)),
    final_consumer=("RFC", "XAXX010101000"), zip_code="06600",
    credit_note_types=("01", "02", "03"), credit_note_return_types=("02", "03"),
)

PERU = SandboxCountry(
    code="PE", name="Perú", site_id="MPE", currency="PEN",
    taxes=(_tax(1, "IGV", "18.00", "IGV"), _tax(3, "Exonerado", "0.00", "Exonerado del IGV")),
    tax_of={1: 1, 2: 1, 3: 3}, price_divisor=Decimal("1000"),
    cities=(("Lima", "Lima"), ("Arequipa", "Arequipa"), ("Trujillo", "La Libertad"), ("Cusco", "Cusco")),
    person_document=("DNI", lambda rng: _digits(rng, 8)),
    company_document=("RUC", lambda rng: "20" + _digits(rng, 9)),
    final_consumer=("OTHER", "00000000"),
    credit_note_types=("01", "04", "05", "06", "07", "09", "10"), credit_note_return_types=("01", "06", "07"),
    # A factura (F001) for a buyer with RUC, a boleta (B001) for anyone else.
    number_templates=(_template(1, "Factura electrónica", "F001", "invoice", True),
                      _template(2, "Boleta de venta electrónica", "B001", "receipt", False)),
)

PANAMA = SandboxCountry(
    code="PA", name="Panamá", site_id="MPA", currency="USD",
    taxes=(_tax(1, "ITBMS", "7.00", "ITBMS"), _tax(3, "Exento", "0.00", "Exento de ITBMS")),
    tax_of={1: 1, 2: 1, 3: 3}, price_divisor=Decimal("4000"),
    cities=(("Ciudad de Panamá", "Panamá"), ("Colón", "Colón"), ("David", "Chiriquí")),
    person_document=("CEDULA", lambda rng: f"8{rng.randrange(100, 999)}{rng.randrange(1000, 9999)}"),
    company_document=("RUC", lambda rng: f"155{_digits(rng, 6)}22021"),
    final_consumer=("CIP", "0-000-000"), extra={"district": "Bella Vista"},
    credit_note_types=("VOID", "PARTIAL_RETURN", "DISCOUNT"), credit_note_return_types=("VOID", "PARTIAL_RETURN"),
)

COUNTRIES = {c.code: c for c in (COLOMBIA, MEXICO, PERU, PANAMA)}


def sandbox_country(code: str | None) -> SandboxCountry:
    """The sandbox country of an ISO code (None: Colombia); ``ValueError`` for one it does not serve."""
    key = (code or "CO").strip().upper()
    if key not in COUNTRIES:
        raise ValueError(f"El sandbox no tiene el país «{key}»; tiene: {', '.join(COUNTRIES)}.")
    return COUNTRIES[key]
