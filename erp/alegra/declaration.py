"""What Alegra declares to the core (see :mod:`erp.base`): its connect form, setup help, the settings
it honours and, per country, its fiscal profile (:mod:`erp.alegra.countries`)."""

from __future__ import annotations

from erp.alegra.countries import COUNTRIES, DEFAULT_COUNTRY
from integrations.declarations import CredentialField

SETUP_HELP = ("En Alegra: Configuración › Integraciones › API. Ahí están el correo del usuario que usa la API "
              "y su token (puedes generar uno nuevo). El país es el de tu cuenta de Alegra: define los "
              "tipos de documento, regímenes y formas de pago de tus facturas.")

CREDENTIAL_FIELDS = (
    CredentialField("email", "Correo del usuario de Alegra", help="El correo con el que entras a Alegra."),
    CredentialField("token", "Token de la API", secret=True,
                    help="En Alegra: Configuración › Integraciones › API."),
    CredentialField("country", "País de la cuenta", required=False, choices=COUNTRIES, default=DEFAULT_COUNTRY,
                    help="El país de tu cuenta de Alegra."),
)
COUNTRY_CREDENTIAL = "country"

# Alegra honours every invoicing setting of the reference product (seed 004).
SUPPORTED_SETTINGS = frozenset({
    "apply_taxes", "auto_price_list_id", "auto_warehouse_id", "credit_note_stamp", "credit_note_type_full",
    "credit_note_type_partial", "credit_notes", "default_document", "default_email", "default_phone",
    "deliver_invoice", "due_days", "enabled", "final_consumer_document", "identification_type",
    "invoice_fulfillment", "invoice_shipping", "invoice_status", "kind_of_person", "match_by",
    "number_template_id", "observations", "order_states", "origin_channels", "payment_account_id",
    "payment_account_method", "payment_form", "payment_method", "price_list_id", "record_payment", "regime",
    "shipping_item_id", "show_observations_on_pdf", "stamp", "warehouse_id",
})
