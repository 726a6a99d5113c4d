"""Alegra's Mexico and Panama profiles (split from :mod:`erp.alegra.countries` to keep it small).

* **Mexico** — SAT catalogs: the RFC is the only tax id; the contact carries its ``régimen fiscal``
  (c_RegimenFiscal), the ``uso CFDI`` (c_UsoCFDI) and its ``código postal`` (CFDI 4.0 requires the
  receiver's postal code). "Público en general": RFC XAXX010101000, régimen 616, uso S01. Payment forms
  are SAT's métodos de pago PUE/PPD; payment methods its formas de pago (01 efectivo, 03 transferencia...).
  *Unconfirmed*: the field names Alegra México's API uses for these (we send ``regime`` and
  ``cfdiUse``), and its credit-note types (we use CFDI's tipos de relación 01/03).
* **Panama** (seed 003) — the receiver type (contribuyente, consumidor final, gobierno, extranjero),
  the taxpayer type (natural / jurídico: the person kind), the RUC with its check digit (DV) and the
  corregimiento. *Unconfirmed*: Alegra Panamá's codes for each list and its credit-note types.
"""

from __future__ import annotations

from erp.base import ContactField, FinalConsumer, FiscalProfile, Option

FULL, PARTIAL, REDUCTION = "full", "partial", "reduction"  # as in erp.alegra.countries
PERSON_KINDS = (Option("PERSON_ENTITY", "Persona física"), Option("LEGAL_ENTITY", "Persona moral"))

MEXICO_REGIMES = (
    Option("601", "General de Ley Personas Morales"), Option("603", "Personas Morales con Fines no Lucrativos"),
    Option("605", "Sueldos y Salarios"), Option("606", "Arrendamiento"),
    Option("612", "Personas Físicas con Actividades Empresariales y Profesionales"),
    Option("616", "Sin obligaciones fiscales"), Option("621", "Incorporación Fiscal"),
    Option("625", "Actividades Empresariales con ingresos a través de Plataformas Tecnológicas"),
    Option("626", "Régimen Simplificado de Confianza"),
)
CFDI_USES = (
    Option("G01", "Adquisición de mercancías"), Option("G03", "Gastos en general"),
    Option("I01", "Construcciones"), Option("S01", "Sin efectos fiscales"), Option("CP01", "Pagos"),
)

MEXICO = FiscalProfile(
    country="MX", country_name="México", time_zone="America/Mexico_City", currency="MXN", tax_authority="El SAT",
    identification_types=(Option("RFC", "RFC"), Option("FOREIGN", "Identificación fiscal extranjera")),
    person_kinds=PERSON_KINDS,
    regimes=MEXICO_REGIMES,
    payment_forms=(Option("PUE", "Pago en una sola exhibición"), Option("PPD", "Pago en parcialidades o diferido")),
    payment_methods=(Option("01", "Efectivo"), Option("02", "Cheque nominativo"),
                     Option("03", "Transferencia electrónica"), Option("04", "Tarjeta de crédito"),
                     Option("28", "Tarjeta de débito"), Option("99", "Por definir")),
    credit_note_types=(Option("01", "Nota de crédito de los documentos relacionados", REDUCTION),
                       Option("03", "Devolución de mercancía", PARTIAL),
                       Option("02", "Cancelación (sustitución) del CFDI", FULL)),
    final_consumer=FinalConsumer("RFC", "XAXX010101000", name="Público en general", kind_of_person="PERSON_ENTITY"),
    defaults={"identification_type": "RFC", "kind_of_person": "PERSON_ENTITY", "regime": "616",
              "payment_form": "PUE", "payment_method": "03"},
    required_address_fields=("zip_code",),
    contact_fields=(ContactField("cfdi_use", "Uso CFDI", CFDI_USES, default="S01",
                                 help="El uso que el comprador dará a la factura (catálogo c_UsoCFDI del SAT)."),),
    # Mercado Libre México (MLM) billing info: RFC (CURP is no tax id: it falls back to the default).
    document_types={},
    legal_identification_types=(),
    unconfirmed="Nombres de campo de Alegra México para régimen, uso CFDI y tipos de nota de crédito.",
)

RECEIVER_TYPES = (
    Option("01", "Contribuyente"), Option("02", "Consumidor final"), Option("03", "Gobierno"),
    Option("04", "Extranjero"),
)

PANAMA = FiscalProfile(
    country="PA", country_name="Panamá", time_zone="America/Panama", currency="USD", tax_authority="La DGI",
    identification_types=(Option("RUC", "RUC"), Option("CIP", "Cédula de identidad personal"),
                          Option("PP", "Pasaporte"), Option("FOREIGN", "Identificación extranjera")),
    person_kinds=(Option("PERSON_ENTITY", "Natural"), Option("LEGAL_ENTITY", "Jurídico")),
    regimes=(Option("TAXPAYER", "Contribuyente"), Option("NON_TAXPAYER", "No contribuyente")),
    payment_forms=(Option("CASH", "Contado"), Option("CREDIT", "Crédito")),
    payment_methods=(Option("CASH", "Efectivo"), Option("TRANSFER", "Transferencia"),
                     Option("CREDIT_CARD", "Tarjeta de crédito"), Option("DEBIT_CARD", "Tarjeta débito"),
                     Option("OTHER", "Otro")),
    credit_note_types=(Option("VOID", "Anulación de la factura", FULL),
                       Option("PARTIAL_RETURN", "Devolución parcial", PARTIAL),
                       Option("DISCOUNT", "Descuento o rebaja", REDUCTION)),
    final_consumer=FinalConsumer("CIP", "0-000-000", name="Consumidor final", kind_of_person="PERSON_ENTITY"),
    defaults={"identification_type": "CIP", "kind_of_person": "PERSON_ENTITY", "regime": "NON_TAXPAYER",
              "payment_form": "CASH", "payment_method": "TRANSFER"},
    required_address_fields=("address", "district"),  # the corregimiento
    contact_fields=(ContactField("receiver_type", "Tipo de receptor", RECEIVER_TYPES, default="02",
                                 help="Contribuyente, consumidor final, gobierno o extranjero (DGI)."),),
    # Mercado Libre Panamá (MPA) billing info: cédula, RUC, pasaporte (unconfirmed names).
    document_types={"CEDULA": "CIP", "CI": "CIP", "PASAPORTE": "PP", "PASSPORT": "PP"},
    legal_identification_types=("RUC",),
    unconfirmed="Códigos de Alegra Panamá para tipo de receptor, régimen y notas crédito; el DV del RUC "
                "se envía como lo da el comprador (no se calcula).",
)
