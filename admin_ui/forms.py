"""The two settings forms of the reference product (seed 004): "Configuración" and "Facturación
automática". Each field of :class:`connector.rules.InvoicingSettings` appears on exactly one of them.

This module only describes the widgets and turns a submitted form into the ``key=value`` assignments
``services.update_settings`` takes (the same ones the CLI uses); validation is the service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from connector.canonical import OrderStatus


@dataclass(frozen=True)
class SettingField:
    """One input. ``choices``: an ERP list ("warehouses", "price_lists", "number_templates"), the account's
    channels ("channels"), or fixed (value, label) pairs. ``empty`` labels the blank option of a select."""

    name: str
    widget: str  # checkbox | text | email | number | radio | select | checkboxes | item
    label: str
    help: str = ""
    choices: str | tuple[tuple[str, str], ...] = ()
    empty: str | None = None
    true_value: str = "true"  # a checkbox may stand for something else than a boolean (open/draft)
    false_value: str = "false"
    group: str = ""  # a heading shown before this field


# The fiscal code lists (identification types, person kinds, regimes, payment forms and methods) come
# from the fiscal profile of the ERP account's country (``choices="fiscal:<setting>"``, see
# :func:`fiscal_choices`); a value set from the CLI that is not listed is still shown, selected, so saving
# the form never loses it. Blank: the country's default.
ORDER_STATES = (
    (OrderStatus.PENDING.value, "Pendientes"), (OrderStatus.SHIPPED.value, "Enviadas"),
    (OrderStatus.COMPLETED.value, "Completadas"), (OrderStatus.CANCELLED.value, "Canceladas"),
    (OrderStatus.OTHER.value, "Otras"),
)
CREDIT_NOTE_MODES = (
    ("approval", "Por aprobar: una persona aprueba cada nota"), ("automatic", "Automáticas"), ("off", "Desactivadas"),
)
MATCH_BY = (
    ("barcode", "Usar código de barras"),
    ("reference", "Usar código de referencia"),
)

CONFIGURATION_FIELDS: tuple[SettingField, ...] = (
    SettingField("show_observations_on_pdf", "checkbox", "Ver observaciones en la factura (PDF)",
                 "Si no se selecciona, las observaciones no se verán en la factura en PDF.", group="Factura"),
    SettingField("observations", "text", "Observaciones",
                 "{channel}, {order_id} y {pack_id} se reemplazan por el canal y los números de la orden."),
    SettingField("match_by", "radio", "SKU del producto", choices=MATCH_BY, group="Productos",
                 help="Con código de barras puedes facturar variaciones (cada una tiene su código). Con código "
                      "de referencia todos los productos deben ser sin variaciones."),
    SettingField("apply_taxes", "checkbox", "Usar impuestos",
                 "Si se selecciona, se aplicarán los impuestos al precio del producto y variación."),
    SettingField("price_list_id", "select", "Lista de precios", "Seleccione la lista de precios a utilizar.",
                 choices="price_lists", empty="La del ERP por defecto"),
    SettingField("warehouse_id", "select", "Bodega", "Seleccione la bodega de la cual se obtendrán los inventarios.",
                 choices="warehouses", empty="La del ERP por defecto"),
    SettingField("default_email", "email", "Email por defecto",
                 "Si no se cuenta con el email del comprador, se completará con este valor.",
                 group="Datos del comprador por defecto"),
    SettingField("default_phone", "text", "Teléfono por defecto",
                 "Si no se cuenta con el teléfono del comprador, se completará con este valor."),
    SettingField("default_document", "text", "Documento por defecto",
                 "Si no se cuenta con el documento del comprador, se completará con este valor."),
    SettingField("final_consumer_document", "text", "Documento del consumidor final",
                 "Se usa cuando el comprador no dio documento ni hay documento por defecto. Vacío: el del "
                 "consumidor final del país."),
    SettingField("invoice_shipping", "checkbox", "Facturar el costo de envío",
                 "Si el comprador pagó el envío, se agrega como una línea de la factura.", group="Envío y vencimiento"),
    SettingField("shipping_item_id", "item", "Producto del ERP que factura el envío",
                 "Busca en el catálogo de tu ERP el producto o servicio «Envío»."),
    SettingField("due_days", "number", "Días de plazo", "Días entre la fecha de la factura y su vencimiento."),
)

AUTO_INVOICING_FIELDS: tuple[SettingField, ...] = (
    SettingField("enabled", "checkbox", "Facturación automática",
                 "Activa o desactiva la facturación automática de las órdenes."),
    SettingField("origin_channels", "checkboxes", "Canales de origen", choices="channels", group="Qué órdenes",
                 help="Elige para qué canales se generan las facturas automáticamente. Si deseas todos los "
                      "canales, no selecciones nada."),
    SettingField("order_states", "checkboxes", "Estado de las órdenes", choices=ORDER_STATES,
                 help="Selecciona qué estados se facturan automáticamente. Si no seleccionas ninguno, se "
                      "facturan todas las órdenes sin importar su estado."),
    SettingField("invoice_fulfillment", "checkbox", "Facturar órdenes de fulfillment",
                 "Si se activa, se facturarán las órdenes que el marketplace envía desde su propio depósito "
                 "(fulfillment)."),
    SettingField("invoice_status", "checkbox", "Mandar factura en estado abierta",
                 "Si no se selecciona, se enviará como borrador.", true_value="open", false_value="draft",
                 group="Cómo se factura"),
    SettingField("auto_warehouse_id", "select", "Inventario / Depósito",
                 "Inventario / depósito a usar en la facturación automática.", choices="warehouses",
                 empty="El mismo de Configuración"),
    SettingField("auto_price_list_id", "select", "Lista de precios",
                 "Lista de precios a usar en la facturación automática.", choices="price_lists",
                 empty="La misma de Configuración"),
    SettingField("stamp", "checkbox", "Expedir / Emitir factura",
                 "Emite la factura electrónica ante la autoridad tributaria al crearla."),
    SettingField("number_template_id", "select", "Numeración", "Numeración de facturas del ERP.",
                 choices="number_templates", empty="La numeración preferida del ERP"),
    SettingField("identification_type", "select", "Tipo de identificación",
                 "Tipo de identificación para la facturación automática.", choices="fiscal:identification_type",
                 empty="El del país por defecto", group="Comprador y pago"),
    SettingField("kind_of_person", "select", "Tipo de persona", "Seleccione el tipo de persona.",
                 choices="fiscal:kind_of_person", empty="El del país por defecto"),
    SettingField("regime", "select", "Régimen", "Tipo de régimen para la facturación automática.",
                 choices="fiscal:regime", empty="El del país por defecto"),
    SettingField("payment_form", "select", "Forma de pago", "Forma de pago para la facturación automática.",
                 choices="fiscal:payment_form", empty="La del país por defecto"),
    SettingField("payment_method", "select", "Método de pago", "Método de pago para la facturación automática.",
                 choices="fiscal:payment_method", empty="El del país por defecto"),
    SettingField("deliver_invoice", "checkbox", "Enviar la factura al comprador",
                 "Se adjunta a la orden en el canal cuando el canal lo permite (el canal avisa al comprador); si no, "
                 "el ERP la envía al e-mail del comprador. Una factura electrónica se envía cuando la autoridad "
                 "tributaria la acepta.", group="Después de la factura"),
    SettingField("record_payment", "checkbox", "Registrar el pago",
                 "El canal ya cobró: la factura se crea con su pago (o el pago se registra después, una sola vez)."),
    SettingField("payment_account_id", "select", "Cuenta bancaria o caja del pago",
                 "Dónde entra el dinero del canal, por ejemplo la cuenta de la pasarela de pagos.",
                 choices="bank_accounts", empty="Elige la cuenta"),
    SettingField("payment_account_method", "select", "Método del pago registrado",
                 "Cómo llegó el dinero a esa cuenta.", choices="payment_methods"),
    SettingField("credit_notes", "select", "Notas crédito",
                 "Qué hacer cuando el canal reembolsa o cancela una venta ya facturada.", choices=CREDIT_NOTE_MODES,
                 group="Reembolsos y cancelaciones"),
    SettingField("credit_note_stamp", "checkbox", "Emitir la nota crédito electrónica",
                 "Cuando su factura es electrónica, la nota crédito también se emite ante la autoridad tributaria."),
    SettingField("credit_note_type_full", "select", "Tipo para una anulación total", choices="credit_note_types",
                 empty="El del ERP para anular una factura"),
    SettingField("credit_note_type_partial", "select", "Tipo para una devolución parcial", choices="credit_note_types",
                 empty="El del ERP para una devolución parcial"),
)

PAGES = {"configuration": CONFIGURATION_FIELDS, "auto_invoicing": AUTO_INVOICING_FIELDS}


def as_form_value(field: SettingField, value: Any) -> Any:
    """A stored setting as the form shows it: checkboxes True/False, lists as lists, others as text."""
    if field.widget == "checkbox":
        return value is True or str(value) == field.true_value
    if field.widget == "checkboxes":
        return [str(v) for v in (value or [])]
    return "" if value is None else str(value)


def form_values(fields: tuple[SettingField, ...], settings: dict[str, Any]) -> dict[str, Any]:
    return {f.name: as_form_value(f, settings.get(f.name)) for f in fields}


def submitted_values(fields: tuple[SettingField, ...], form: MultiDict) -> dict[str, Any]:
    """What the person submitted, in the same shape as :func:`form_values` (re-shown on an error)."""
    values: dict[str, Any] = {}
    for f in fields:
        if f.widget == "checkbox":
            values[f.name] = form.get(f.name) is not None
        elif f.widget == "checkboxes":
            values[f.name] = [v for v in form.getlist(f.name) if v]
        elif f.widget == "item":  # the picker's hidden value, or (without JavaScript) the id typed after it
            values[f.name] = next((v.strip() for v in reversed(form.getlist(f.name)) if v.strip()), "")
        else:
            values[f.name] = (form.get(f.name) or "").strip()
    return values


def _assignment_value(field: SettingField, value: Any) -> str:
    if field.widget == "checkbox":
        return field.true_value if value else field.false_value
    if field.widget == "checkboxes":
        return ",".join(value)
    return str(value)


def assignments(fields: tuple[SettingField, ...], submitted: dict[str, Any], current: dict[str, Any] | None = None,
                ) -> list[str]:
    """``key=value`` strings for ``update_settings``. With ``current`` (a channel connection's own
    settings), only what the person changed is sent, so everything else keeps being inherited."""
    out = []
    for f in fields:
        if current is not None and submitted[f.name] == current.get(f.name):
            continue
        out.append(f"{f.name}={_assignment_value(f, submitted[f.name])}")
    return out


def declared_choices(fields) -> dict[str, tuple[tuple[str, str], ...]]:
    """The dropdowns of a credential form: each field declared with choices."""
    return {f.name: f.choices for f in fields if f.choices}


def declared_defaults(fields) -> dict[str, str]:
    """The values a credential form starts with: each field's declared default."""
    return {f.name: f.default for f in fields if f.default}


FISCAL_LISTS = ("identification_type", "kind_of_person", "regime", "payment_form", "payment_method")


def fiscal_choices(profile) -> dict[str, list[dict]]:
    """The profile's code lists as the settings form's dynamic choices (``fiscal:<setting>``)."""
    return {f"fiscal:{name}": [{"id": o.code, "name": o.label} for o in profile.options(name)]
            for name in FISCAL_LISTS}


def supported_fields(fields: tuple[SettingField, ...], supported: frozenset[str]) -> tuple[SettingField, ...]:
    """Only the settings the connected ERP honours (its declared ``supported_settings``)."""
    return tuple(f for f in fields if f.name in supported)
