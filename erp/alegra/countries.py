"""What depends on the country of the Alegra account: the tax authority's name and the fiscal code lists
(the credit-note types). Alegra serves each country from its own application ("colombia", "peru", ...),
and each speaks its authority's catalog.

How sure we are of each list:

* **Colombia** — the five ``type`` codes of ``POST /credit-notes`` as Alegra documents them (DIAN's
  "concepto de corrección"); ``PARTIALL_DEVOLUTION`` is Alegra's own spelling and must be sent as is.
* **Peru** — *unconfirmed* how Alegra Peru names them: we use SUNAT's catalog 09 codes ("01", "06", ...),
  which any Peruvian e-invoicing API ends up sending. If Alegra Peru wants words instead, only this table
  changes.
* **Every other country** — *unconfirmed*: a generic pair (void the invoice / reduce it) so the seller
  can still choose, until that country's codes are known.
"""

from __future__ import annotations

from dataclasses import dataclass

from erp.base import Choice

FULL = "full"  # the type that voids a whole invoice
PARTIAL = "partial"  # a type that gives some of the goods back (a partial return)
REDUCTION = "reduction"  # a type that lowers what was charged without goods coming back (an amount refunded)


@dataclass(frozen=True)
class CreditNoteType:
    """One credit-note type: Alegra's code, the label its interface shows, and its default use."""

    code: str
    label: str
    use: str | None = None  # FULL | PARTIAL | REDUCTION | None (chosen by hand only)

    def as_choice(self) -> Choice:
        return Choice(id=self.code, name=self.label, extra={"use": self.use} if self.use else {})


@dataclass(frozen=True)
class CountryProfile:
    """The fiscal facts of one Alegra country. ``confirmed_credit_note_types``: the codes are Alegra's
    documented ones, so a code outside the list is refused before it is sent."""

    code: str
    tax_authority: str
    credit_note_types: tuple[CreditNoteType, ...]
    confirmed_credit_note_types: bool = False


COLOMBIA_CREDIT_NOTE_TYPES = (
    CreditNoteType("VOID_ELECTRONIC_INVOICE", "Anulación de factura electrónica", FULL),
    CreditNoteType("PARTIALL_DEVOLUTION", "Devolución parcial de los bienes", PARTIAL),  # sic: Alegra's spelling
    CreditNoteType("REDUCTION_DISCOUNT_PARTIAL_TOTAL", "Rebaja o descuento parcial o total", REDUCTION),
    CreditNoteType("PRICE_ADJUSTMENT", "Ajuste de precio"),
    CreditNoteType("OTHER", "Otros"),
)

# SUNAT catalog 09 ("códigos de tipo de nota de crédito electrónica"); see the module docstring.
PERU_CREDIT_NOTE_TYPES = (
    CreditNoteType("01", "Anulación de la operación", FULL),
    CreditNoteType("06", "Devolución total", FULL),
    CreditNoteType("07", "Devolución por ítem", PARTIAL),
    CreditNoteType("04", "Descuento global"),
    CreditNoteType("05", "Descuento por ítem"),
    CreditNoteType("09", "Disminución en el valor"),
    CreditNoteType("10", "Otros conceptos"),
)

# Unconfirmed for every country without its own list: the codes are placeholders a person must check.
GENERIC_CREDIT_NOTE_TYPES = (
    CreditNoteType("VOID", "Anulación de la factura", FULL),
    CreditNoteType("PARTIAL_RETURN", "Devolución parcial", PARTIAL),
)

# How sellers of each Alegra country call their tax authority (the order's trail names it).
TAX_AUTHORITIES = {"CO": "La DIAN", "MX": "El SAT", "PE": "La SUNAT", "PA": "La DGI", "CR": "Hacienda",
                   "DO": "La DGII", "AR": "ARCA"}
DEFAULT_TAX_AUTHORITY = "La autoridad tributaria"

# country -> (its credit-note types, whether they are Alegra's documented codes)
_CREDIT_NOTE_TYPES = {"CO": (COLOMBIA_CREDIT_NOTE_TYPES, True), "PE": (PERU_CREDIT_NOTE_TYPES, False)}


def country_profile(country: str) -> CountryProfile:
    """The profile of an ISO country code (``"co"`` and ``" CO "`` are Colombia); unknown countries get
    the generic, unconfirmed credit-note types."""
    code = (country or "").strip().upper()
    types, confirmed = _CREDIT_NOTE_TYPES.get(code, (GENERIC_CREDIT_NOTE_TYPES, False))
    return CountryProfile(code=code, tax_authority=TAX_AUTHORITIES.get(code, DEFAULT_TAX_AUTHORITY),
                          credit_note_types=types, confirmed_credit_note_types=confirmed)
