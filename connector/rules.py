"""The seller's invoicing settings (seed 004) and the auto-invoicing decision.

Settings live on the ERP connection (in the reference product Alegra is "connected as a channel"
and holds both the configuration and the auto-invoicing form); a channel connection may override
any field for its own orders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.canonical import OrderStatus
from connector.errors import ConfigurationError
from connector.reasons import N_, reason
from connector.settings_check import (
    SettingProblem,
    SettingsProblems,
    problems_from_validation,
    validation_in_words,
)

# Labels shown to sellers for each setting (Spanish, as in the reference product).
SETTING_LABELS: dict[str, str] = {
    "show_observations_on_pdf": "Ver observaciones en la factura (PDF)",
    "observations": "Texto de observaciones ({channel}, {order_id} y {pack_id} se reemplazan)",
    "match_by": "SKU por código de barras (barcode) o por código de referencia (reference)",
    "apply_taxes": "Usar impuestos",
    "price_list_id": "Lista de precios",
    "warehouse_id": "Bodega",
    "default_email": "Email por defecto",
    "default_phone": "Teléfono por defecto",
    "default_document": "Documento por defecto",
    "enabled": "Facturación automática",
    "origin_channels": "Canales de origen (vacío = todos)",
    "order_states": "Estados de las órdenes (vacío = todos)",
    "invoice_fulfillment": "Facturar órdenes de fulfillment",
    "invoice_status": "Mandar factura en estado abierta (open) o borrador (draft)",
    "auto_warehouse_id": "Inventario / depósito para la facturación automática",
    "auto_price_list_id": "Lista de precios para la facturación automática",
    "stamp": "Expedir / emitir factura electrónica",
    "number_template_id": "Numeración de facturas",
    "identification_type": "Tipo de identificación",
    "kind_of_person": "Tipo de persona",
    "regime": "Régimen",
    "payment_form": "Forma de pago",
    "payment_method": "Método de pago",
    "invoice_shipping": "Facturar el costo de envío",
    "shipping_item_id": "Producto del ERP que factura el envío",
    "due_days": "Días de plazo (fecha de vencimiento)",
    "final_consumer_document": "Documento del consumidor final",
    "deliver_invoice": "Enviar la factura al comprador",
    "record_payment": "Registrar el pago",
    "payment_account_id": "Cuenta bancaria o caja del pago",
    "payment_account_method": "Método del pago registrado",
    "credit_notes": "Notas crédito de reembolsos y cancelaciones: off, automatic o approval (por aprobar)",
    "credit_note_stamp": "Emitir la nota crédito electrónica (cuando su factura lo es)",
    "credit_note_type_full": "Tipo de nota crédito para una anulación total",
    "credit_note_type_partial": "Tipo de nota crédito para una devolución parcial",
}


PAYMENT_ACCOUNT_REQUIRED = N_("para registrar el pago elige la cuenta bancaria o caja donde entra el dinero")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class MatchBy(StrEnum):
    BARCODE = "barcode"
    REFERENCE = "reference"


class InvoicingSettings(BaseModel):
    """Every field of the reference product's configuration and auto-invoicing forms."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # -- Configuración
    show_observations_on_pdf: bool = False
    observations: str = Field("Venta {channel} orden {order_id}", max_length=400)
    match_by: MatchBy = MatchBy.BARCODE
    apply_taxes: bool = True
    price_list_id: str | None = None
    warehouse_id: str | None = None
    default_email: str | None = None
    default_phone: str | None = None
    default_document: str | None = None
    # -- Facturación automática
    enabled: bool = False
    origin_channels: list[str] = Field(default_factory=list)  # channel kinds or connection ids
    # Paid sales by default (pending shipment, shipped, completed): not unpaid or cancelled orders.
    order_states: list[OrderStatus] = Field(
        default_factory=lambda: [OrderStatus.PENDING, OrderStatus.SHIPPED, OrderStatus.COMPLETED])
    invoice_fulfillment: bool = False
    invoice_status: Literal["open", "draft"] = "draft"
    auto_warehouse_id: str | None = None
    auto_price_list_id: str | None = None
    stamp: bool = False
    number_template_id: str | None = None
    # Codes of the ERP country's lists (its fiscal profile, erp/base.py); None: the country's default.
    # The profile's lists are not complete everywhere (see each one's ``unconfirmed``), so any code is kept.
    identification_type: str | None = None
    kind_of_person: str | None = None
    regime: str | None = None
    payment_form: str | None = None
    payment_method: str | None = None
    # -- Envío
    invoice_shipping: bool = True
    shipping_item_id: str | None = None
    due_days: int = Field(0, ge=0, le=365)
    final_consumer_document: str | None = None  # None: the country's final consumer (its profile)
    # -- Después de la factura (per channel through its overrides)
    deliver_invoice: bool = False  # attach it on the marketplace, or have the ERP e-mail the buyer
    record_payment: bool = False  # the marketplace collected the money: record it in the ERP
    payment_account_id: str | None = None
    payment_account_method: str = "transfer"

    # -- Notas crédito (per channel through its overrides)
    credit_notes: Literal["off", "automatic", "approval"] = "approval"
    credit_note_stamp: bool = True
    credit_note_type_full: str | None = None  # None: the ERP's own type for voiding a whole invoice
    credit_note_type_partial: str | None = None  # None: the ERP's own type for a partial return

    @model_validator(mode="after")
    def _payment_needs_an_account(self) -> InvoicingSettings:
        if self.record_payment and not self.payment_account_id:
            raise ValueError(PAYMENT_ACCOUNT_REQUIRED)
        return self

    @field_validator("default_phone", "default_document", "final_consumer_document", "identification_type",
                     "kind_of_person", "regime", "payment_form", "payment_method", "price_list_id", "warehouse_id", "auto_warehouse_id",
                     "auto_price_list_id", "number_template_id", "shipping_item_id", "payment_account_id",
                     "credit_note_type_full", "credit_note_type_partial", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return str(value).strip() if value is not None else None

    @field_validator("default_email", mode="before")
    @classmethod
    def _email_shape(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
            raise ValueError("no es un e-mail válido")
        return value.strip()

    @property
    def invoice_warehouse_id(self) -> str | None:
        return self.auto_warehouse_id or self.warehouse_id

    @property
    def invoice_price_list_id(self) -> str | None:
        return self.auto_price_list_id or self.price_list_id


def effective_settings(erp_settings: dict[str, Any], overrides: dict[str, Any] | None) -> InvoicingSettings:
    """The ERP connection's settings with the channel connection's overrides on top."""
    merged = {**(erp_settings or {}), **(overrides or {})}
    try:
        return InvoicingSettings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigurationError("La configuración de facturación no es válida: "
                                 f"{validation_in_words(exc, SETTING_LABELS)}") from exc


def parse_setting_assignments(current: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings (CLI) to a settings dict; lists are comma-separated; ``key=`` clears.

    Every problem is reported at once (:class:`~connector.settings_check.SettingsProblems`), each at
    its field and in words; nothing is applied when there is one."""
    updated = dict(current)
    fields = InvoicingSettings.model_fields
    problems: list[SettingProblem] = []
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            problems.append(SettingProblem("", "«%(key)s» no es un ajuste que exista. Ajustes válidos: %(known)s.",
                                           {"key": key, "known": ", ".join(sorted(fields))}))
            continue
        annotation = str(fields[key].annotation)
        if "list" in annotation:
            updated[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif value.strip() == "" and fields[key].default is None:
            updated[key] = None
        else:
            updated[key] = value.strip()
    try:
        parsed = InvoicingSettings.model_validate(updated)
    except ValidationError as exc:
        # The model's own cross-field rule (a payment needs its account) is said at its field by
        # connector.settings_check.implied_problems; here it would be a sentence without a field.
        problems += [p for p in problems_from_validation(exc) if p.field or p.text != PAYMENT_ACCOUNT_REQUIRED]
        parsed = None
    if problems or parsed is None:
        raise SettingsProblems(problems or [SettingProblem("payment_account_id", PAYMENT_ACCOUNT_REQUIRED)],
                               SETTING_LABELS)
    return parsed.model_dump(mode="json")


def lenient_settings(values: dict[str, Any]) -> InvoicingSettings:
    """The settings with every value that does not parse left at its default, for checking what the
    others imply while the bad ones are reported on their own (the cross-field rule of the model is
    left to :func:`connector.settings_check.implied_problems`, which says it at its field)."""
    data = dict(values)
    while True:
        try:
            return InvoicingSettings.model_validate({**data, "record_payment": False}).model_copy(
                update={"record_payment": str(data.get("record_payment", False)).lower() in ("true", "1")})
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
            if not bad & set(data):
                raise
            data = {k: v for k, v in data.items() if k not in bad}


STATUS_LABELS = {
    OrderStatus.PENDING: "pendiente",
    OrderStatus.SHIPPED: "enviada",
    OrderStatus.COMPLETED: "completada",
    OrderStatus.CANCELLED: "cancelada",
    OrderStatus.OTHER: "otra",
}


@dataclass(frozen=True)
class RuleDecision:
    """``invoice`` now, ``wait`` (may become invoiceable when the order or the rules change) or ``skip``."""

    action: Literal["invoice", "wait", "skip"]
    reason: str = ""


def decide_auto_invoicing(settings: InvoicingSettings, *, channel_kind: str, channel_connection_id: int,
                          status: OrderStatus, is_fulfillment: bool) -> RuleDecision:
    """Whether the seller's rules let this order be invoiced automatically, and why not."""
    if settings.origin_channels:
        allowed = {c.lower() for c in settings.origin_channels}
        if channel_kind.lower() not in allowed and str(channel_connection_id) not in allowed:
            return RuleDecision("skip", reason("El canal %(channel)s no está entre los canales de origen a facturar.",
                                               channel=channel_kind))
    if is_fulfillment and not settings.invoice_fulfillment:
        return RuleDecision("skip", reason("Orden de fulfillment: la configuración indica no facturarlas."))
    if settings.order_states and status not in settings.order_states:
        chosen = ", ".join(STATUS_LABELS[s] for s in settings.order_states)
        return RuleDecision(
            "wait", reason("Estado «%(state)s» no está entre los estados a facturar (%(chosen)s).",
                           state=STATUS_LABELS[status], chosen=chosen))
    if not settings.enabled:
        return RuleDecision("wait", reason("La facturación automática está desactivada; se puede facturar a mano."))
    return RuleDecision("invoice")
