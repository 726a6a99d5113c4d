"""What depends on the country of the Alegra account: one :class:`~erp.base.FiscalProfile` per country.

Alegra serves each country from its own application ("colombia", "mexico", "peru", ...), each speaking
its tax authority's catalog. The connect form's country choices are :data:`COUNTRIES`; the core reads
every code list, default, final consumer and time zone from the profile.

How sure we are of each list (the lead asked us to mark what the public docs do not confirm):

* **Colombia** — identification types, regimes, payment forms/methods and the five credit-note ``type``
  codes as Alegra documents them (DIAN's lists). Two spellings are Alegra's own and must be sent as is:
  ``PARTIALL_DEVOLUTION`` and ``NOT_REPONSIBLE_FOR_CONSUMPTION`` (every public Alegra client we found
  sends the latter; none sends "RESPONSIBLE"). ``NUIP`` added. Final consumer: DIAN's 222222222222.
* **Mexico** (:mod:`erp.alegra.countries_more`), **Peru**, **Panama** — the tax authority's catalogs
  (SAT c_RegimenFiscal / c_UsoCFDI, SUNAT catalogs 06 and 09, DGI's receiver types); *unconfirmed*
  whether Alegra's API takes the authority's codes or words of its own for each: only these tables change.
* **Every other country** — *unconfirmed*: generic lists so a seller can still connect and choose.
"""

from __future__ import annotations

from erp.base import FinalConsumer, FiscalProfile, Option

FULL = "full"  # the credit-note type that voids a whole invoice
PARTIAL = "partial"  # a type that gives some of the goods back (a partial return)
REDUCTION = "reduction"  # a type that lowers what was charged without goods coming back (an amount refunded)

PERSON_KINDS = (Option("PERSON_ENTITY", "Persona natural"), Option("LEGAL_ENTITY", "Persona jurídica"))
# Alegra's payment methods of ``paymentMethod`` on an invoice (the DIAN's list in Colombia).
PAYMENT_METHODS = (
    Option("TRANSFER", "Transferencia"), Option("CASH", "Efectivo"), Option("CREDIT_CARD", "Tarjeta de crédito"),
    Option("DEBIT_CARD", "Tarjeta débito"), Option("CONSIGNMENT", "Consignación"), Option("CHECK", "Cheque"),
    Option("OTHER", "Otro"),
)
CASH_OR_CREDIT = (Option("CASH", "Contado"), Option("CREDIT", "Crédito"))
GENERIC_CREDIT_NOTE_TYPES = (  # unconfirmed placeholders a person must check
    Option("VOID", "Anulación de la factura", FULL),
    Option("PARTIAL_RETURN", "Devolución parcial", PARTIAL),
)

COLOMBIA = FiscalProfile(
    country="CO", country_name="Colombia", time_zone="America/Bogota", currency="COP",
    tax_authority="La DIAN",
    identification_types=(
        Option("CC", "Cédula de ciudadanía"), Option("NIT", "NIT"), Option("CE", "Cédula de extranjería"),
        Option("TI", "Tarjeta de identidad"), Option("PP", "Pasaporte"), Option("RC", "Registro civil"),
        Option("NUIP", "Número único de identificación personal"), Option("TE", "Tarjeta de extranjería"),
        Option("DIE", "Documento de identificación extranjero"), Option("PEP", "Permiso especial de permanencia"),
        Option("FOREIGN_NIT", "NIT de otro país"),
    ),
    person_kinds=PERSON_KINDS,
    regimes=(
        Option("SIMPLIFIED_REGIME", "No responsable de IVA"), Option("COMMON_REGIME", "Responsable de IVA"),
        Option("NATIONAL_CONSUMPTION_TAX", "Impuesto nacional al consumo (INC)"),
        Option("INC_IVA_RESPONSIBLE", "Responsable de IVA e INC"),
        Option("NOT_REPONSIBLE_FOR_CONSUMPTION", "No responsable de INC"),  # sic: Alegra's spelling
        Option("SPECIAL_REGIME", "Régimen especial"),
    ),
    payment_forms=CASH_OR_CREDIT,
    payment_methods=PAYMENT_METHODS,
    credit_note_types=(
        Option("VOID_ELECTRONIC_INVOICE", "Anulación de factura electrónica", FULL),
        Option("PARTIALL_DEVOLUTION", "Devolución parcial de los bienes", PARTIAL),  # sic: Alegra's spelling
        Option("REDUCTION_DISCOUNT_PARTIAL_TOTAL", "Rebaja o descuento parcial o total", REDUCTION),
        Option("PRICE_ADJUSTMENT", "Ajuste de precio"),
        Option("OTHER", "Otros"),
    ),
    final_consumer=FinalConsumer("CC", "222222222222", kind_of_person="PERSON_ENTITY"),
    defaults={"identification_type": "CC", "kind_of_person": "PERSON_ENTITY", "regime": "SIMPLIFIED_REGIME",
              "payment_form": "CASH", "payment_method": "TRANSFER"},
    required_address_fields=("address", "city", "department"),
    # Mercado Libre Colombia (MCO) billing info: CC, NIT, CE, PASAPORTE; Shopify/WooCommerce free text.
    document_types={"CEDULA": "CC", "PASAPORTE": "PP", "PASSPORT": "PP", "PAS": "PP", "RUT": "NIT"},
    legal_identification_types=("NIT", "FOREIGN_NIT"),
)

# SUNAT catalog 09 ("códigos de tipo de nota de crédito electrónica"): see the module docstring.
PERU = FiscalProfile(
    country="PE", country_name="Perú", time_zone="America/Lima", currency="PEN", tax_authority="La SUNAT",
    identification_types=(  # SUNAT catalog 06, by Alegra's names (unconfirmed)
        Option("DNI", "DNI"), Option("RUC", "RUC"), Option("CE", "Carné de extranjería"),
        Option("PP", "Pasaporte"), Option("OTHER", "Otro / sin documento"),
    ),
    person_kinds=PERSON_KINDS,
    regimes=(Option("GENERAL", "Régimen general"), Option("MYPE", "Régimen MYPE tributario"),
             Option("RER", "Régimen especial (RER)"), Option("NRUS", "Nuevo RUS")),
    payment_forms=CASH_OR_CREDIT,
    payment_methods=PAYMENT_METHODS,
    credit_note_types=(
        Option("01", "Anulación de la operación", FULL),
        Option("06", "Devolución total", FULL),
        Option("07", "Devolución por ítem", PARTIAL),
        Option("04", "Descuento global"),
        Option("05", "Descuento por ítem"),
        Option("09", "Disminución en el valor"),
        Option("10", "Otros conceptos"),
    ),
    # A boleta under S/ 700 may name no buyer: SUNAT's "varios" (document 0, number 00000000).
    final_consumer=FinalConsumer("OTHER", "00000000", name="Clientes varios", kind_of_person="PERSON_ENTITY"),
    defaults={"identification_type": "DNI", "kind_of_person": "PERSON_ENTITY", "regime": "GENERAL",
              "payment_form": "CASH", "payment_method": "TRANSFER"},
    required_address_fields=("address",),
    # Mercado Libre Perú (MPE) billing info: DNI, RUC, CE, PASAPORTE.
    document_types={"PASAPORTE": "PP", "PASSPORT": "PP", "CARNET": "CE"},
    legal_identification_types=("RUC",),
    # Who the buyer is decides the document: a RUC gets a factura, anyone else a boleta.
    document_kinds={"RUC": "invoice"}, default_document_kind="receipt",
    unconfirmed="Tipos de documento, regímenes y cómo Alegra Perú elige factura o boleta (suponemos la numeración).",
)


def _generic(country: str, name: str, time_zone: str, currency: str, authority: str) -> FiscalProfile:
    """A country we know only the basics of (unconfirmed code lists)."""
    return FiscalProfile(
        country=country, country_name=name, time_zone=time_zone, currency=currency, tax_authority=authority,
        identification_types=(Option("ID", "Documento de identidad"), Option("TAX_ID", "Identificación tributaria"),
                              Option("PP", "Pasaporte")),
        person_kinds=PERSON_KINDS, regimes=(Option("GENERAL", "Régimen general"),),
        payment_forms=CASH_OR_CREDIT, payment_methods=PAYMENT_METHODS,
        credit_note_types=GENERIC_CREDIT_NOTE_TYPES,
        final_consumer=FinalConsumer("ID", "0000000000"),
        defaults={"identification_type": "ID", "kind_of_person": "PERSON_ENTITY", "regime": "GENERAL",
                  "payment_form": "CASH", "payment_method": "TRANSFER"},
        legal_identification_types=("TAX_ID",),
        unconfirmed="Listas genéricas: revisa los códigos de Alegra para este país.",
    )


def _profiles() -> dict[str, FiscalProfile]:
    from erp.alegra.countries_more import MEXICO, PANAMA

    generic = {
        "CR": _generic("CR", "Costa Rica", "America/Costa_Rica", "CRC", "Hacienda"),
        "AR": _generic("AR", "Argentina", "America/Argentina/Buenos_Aires", "ARS", "ARCA"),
        "DO": _generic("DO", "República Dominicana", "America/Santo_Domingo", "DOP", "La DGII"),
        "CL": _generic("CL", "Chile", "America/Santiago", "CLP", "El SII"),
    }
    return {"CO": COLOMBIA, "MX": MEXICO, "PE": PERU, "PA": PANAMA, **generic}


PROFILES = _profiles()
DEFAULT_COUNTRY = "CO"
# The connect form's choices: (ISO code, name), Colombia first (the default).
COUNTRIES: tuple[tuple[str, str], ...] = tuple((code, p.country_name) for code, p in PROFILES.items())


def country_profile(country: str | None) -> FiscalProfile:
    """The profile of an ISO country code (``"co"`` and ``" CO "`` are Colombia; None is Colombia).
    An unknown code gets generic, unconfirmed lists under its own code."""
    code = (country or DEFAULT_COUNTRY).strip().upper() or DEFAULT_COUNTRY
    if code in PROFILES:
        return PROFILES[code]
    return _generic(code, code, "UTC", "USD", "La autoridad tributaria")


def confirmed_credit_note_types(profile: FiscalProfile) -> bool:
    """Whether the profile's credit-note codes are Alegra's documented ones (then a code outside the
    list is refused before it is sent)."""
    return profile.country == "CO"
