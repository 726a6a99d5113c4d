"""What Siigo declares to the core (see :mod:`erp.base`): its connect form, setup help, the settings it
honours and its one country's fiscal profile, in Siigo's own codes (``API_FACTS.md``)."""

from __future__ import annotations

from erp.base import FinalConsumer, FiscalProfile, Option
from integrations.declarations import CredentialField

SETUP_HELP = ("En Siigo Nube: menú Alianzas › Mi credencial API. Ahí están el usuario de la API (un correo) y "
              "su access key. Siigo solo factura en Colombia; la empresa de pruebas de Siigo admite 10 "
              "peticiones por minuto, una empresa en producción 100.")

CREDENTIAL_FIELDS = (
    CredentialField("username", "Usuario de la API de Siigo",
                    help="El correo del usuario API: Siigo Nube › Alianzas › Mi credencial API."),
    CredentialField("access_key", "Access key de la API", secret=True,
                    help="Siigo Nube › Alianzas › Mi credencial API."),
)

# What Siigo's invoices take. Left out, because Siigo has no place for them: a price list and a
# warehouse per invoice (each product carries its own), the payment "method" apart from the payment
# form, and a printed note apart from the observations (Siigo has one text; both go there).
SUPPORTED_SETTINGS = frozenset({
    "apply_taxes", "credit_note_stamp", "credit_note_type_full", "credit_note_type_partial", "credit_notes",
    "default_document", "default_email", "default_phone", "deliver_invoice", "due_days", "enabled",
    "final_consumer_document", "identification_type", "invoice_fulfillment", "invoice_shipping", "invoice_status",
    "kind_of_person", "match_by", "number_template_id", "observations", "order_states", "origin_channels",
    "payment_account_id", "payment_form", "payment_method", "record_payment", "regime", "shipping_item_id", "stamp",
})

FULL, PARTIAL, REDUCTION = "full", "partial", "reduction"

# The DIAN's credit-note reasons, which Siigo takes as ``reason`` (1-7; 5 is not listed by Siigo).
CREDIT_NOTE_REASONS = (
    Option("1", "Devolución parcial de los bienes y/o no aceptación parcial del servicio", PARTIAL),
    Option("2", "Anulación de factura electrónica", FULL),
    Option("3", "Rebaja o descuento parcial o total", REDUCTION),
    Option("4", "Ajuste de precio"),
    Option("6", "Descuento comercial por pronto pago"),
    Option("7", "Descuento comercial por volumen de ventas"),
)

COLOMBIA = FiscalProfile(
    country="CO", country_name="Colombia", time_zone="America/Bogota", currency="COP", tax_authority="La DIAN",
    identification_types=(  # Siigo's id_type codes (the DIAN's), as its docs list them for Colombia
        Option("13", "Cédula de ciudadanía"), Option("31", "NIT"), Option("22", "Cédula de extranjería"),
        Option("41", "Pasaporte"), Option("12", "Tarjeta de identidad"), Option("11", "Registro civil"),
        Option("91", "NUIP"), Option("21", "Tarjeta de extranjería"),
        Option("42", "Documento de identificación extranjero"), Option("50", "NIT de otro país"),
        Option("47", "Permiso especial de permanencia (PEP)"), Option("48", "Permiso protección temporal (PPT)"),
        Option("43", "Sin identificación del exterior"),
    ),
    person_kinds=(Option("PERSON_ENTITY", "Persona natural"), Option("LEGAL_ENTITY", "Persona jurídica")),
    # Siigo keeps only whether the customer is responsible for IVA (``vat_responsible``).
    regimes=(Option("NOT_VAT_RESPONSIBLE", "No responsable de IVA"), Option("VAT_RESPONSIBLE", "Responsable de IVA")),
    payment_forms=(Option("CASH", "Contado"), Option("CREDIT", "Crédito (con vencimiento)")),
    # Siigo's payment forms are the company's own (ids from /v1/payment-types): the adapter picks the
    # recorded payment's form, else the first credit or immediate form by ``payment_form``.
    payment_methods=(Option("AUTO", "Según la forma de pago (contado o crédito)"),),
    credit_note_types=CREDIT_NOTE_REASONS,
    final_consumer=FinalConsumer("13", "222222222222", kind_of_person="PERSON_ENTITY"),
    defaults={"identification_type": "13", "kind_of_person": "PERSON_ENTITY", "regime": "NOT_VAT_RESPONSIBLE",
              "payment_form": "CASH", "payment_method": "AUTO"},
    # Siigo requires an address and a coded city on every customer; the adapter files a buyer without
    # them under "Sin dirección", Bogotá, rather than hold the order.
    required_address_fields=(),
    document_types={"CC": "13", "CEDULA": "13", "NIT": "31", "RUT": "31", "CE": "22", "PASAPORTE": "41",
                    "PASSPORT": "41", "PAS": "41", "PP": "41", "TI": "12", "RC": "11", "NUIP": "91", "TE": "21",
                    "DIE": "42", "PEP": "47", "PPT": "48", "FOREIGN_NIT": "50"},
    legal_identification_types=("31", "50"),
    unconfirmed="Ciudades fuera de las capitales se registran en Bogotá; el DIAN responde al crear la factura.",
)
