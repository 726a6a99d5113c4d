"""Spanish first, English available: a small message catalog, dates and money as sellers read them.

Templates and views write Spanish (the reference product's words) inside ``_()``; English comes from
:data:`admin_ui.messages_en.MESSAGES`, keyed by the Spanish text. A string missing there shows in
Spanish (a test keeps the catalog complete). Messages the services raise stay in Spanish.

The language is the signed-in user's (saved on the user), else the one chosen on the sign-in page
(kept in the session), else Spanish.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from flask import current_app, g, session

from admin_ui.messages_en import MESSAGES as EN_MESSAGES

LANGUAGES = {"es": "Español", "en": "English"}
DEFAULT_LOCALE = "es"
CATALOGS = {"en": EN_MESSAGES}

# Labels of stored codes, translated when shown.
MATCH_SOURCE_LABELS = {"manual": "asignado a mano", "barcode": "por código de barras", "reference": "por referencia",
                       "variant": "variación"}
INVOICE_STATUS_LABELS = {"open": "Abierta", "draft": "Borrador", "closed": "Cerrada", "void": "Anulada"}
SYNC_RUN_LABELS = {"ok": "Correcta", "failed": "Con errores", "running": "En curso"}
# Life after the invoice (connector/followup.py): e-invoice status, remote writes, delivery routes.
from connector.followup_view import DELIVERY_VIA_LABELS, LEGAL_STATUS_LABELS, WRITE_STATE_LABELS  # noqa: E402

_MONTHS = {
    "es": ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"],
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
}


def current_locale() -> str:
    user = g.get("user")
    locale = user.locale if user is not None else session.get("locale")
    return locale if locale in LANGUAGES else DEFAULT_LOCALE


def gettext(message: str, **values) -> str:
    """``message`` in the current language, with ``%(name)s`` placeholders filled from ``values``."""
    translated = CATALOGS.get(current_locale(), {}).get(message, message)
    return translated % values if values else translated


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("DISPLAY_TIMEZONE", "America/Bogota"))


def format_datetime(value: datetime | str | None) -> str:
    if isinstance(value, str):  # an ISO time kept in JSON (a write's result, a refund's view)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value is None:
        return "—"
    local = value.astimezone(_zone())
    month = _MONTHS[current_locale()][local.month - 1]
    return f"{local.day} {month} {local.year}, {local:%H:%M}"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(_zone()).date()
    return f"{value.day} {_MONTHS[current_locale()][value.month - 1]} {value.year}"


def format_money(value: Decimal | int | float | None, currency: str | None = None) -> str:
    """``$ 129.900`` in Spanish (Colombian style), ``$129,900`` in English; cents only when there are."""
    if value is None:
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    whole = amount == amount.to_integral_value()
    text = f"{abs(amount):,.0f}" if whole else f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    if current_locale() == "es":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
        shown = f"{sign}$ {text}"
    else:
        shown = f"{sign}${text}"
    return f"{shown} {currency}" if currency and currency != "COP" else shown


def format_quantity(value: Decimal | None) -> str:
    if value is None:
        return ""
    value = Decimal(value)
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value.normalize())


def dynamic_messages(*, adapters: bool = True) -> list[str]:
    """Spanish texts translated at runtime (labels of settings, states, codes and, with ``adapters``,
    the credential fields the registered channels and ERPs declare)."""
    from admin_ui import forms
    from connector.states import STATE_LABELS

    messages: list[str] = []
    for field in (*forms.CONFIGURATION_FIELDS, *forms.AUTO_INVOICING_FIELDS):
        messages += [m for m in (field.label, field.help, field.empty, field.group) if m]
        if not isinstance(field.choices, str):
            messages += [label for _value, label in field.choices]
    messages += [label for _value, label in forms.ERP_COUNTRIES]
    messages += list(STATE_LABELS.values())
    for table in (MATCH_SOURCE_LABELS, INVOICE_STATUS_LABELS, SYNC_RUN_LABELS, LEGAL_STATUS_LABELS,
                  WRITE_STATE_LABELS, DELIVERY_VIA_LABELS):
        messages += list(table.values())
    from admin_ui import ORDER_STATUS_LABELS
    from admin_ui.blueprints.settings import TITLES

    messages += list(ORDER_STATUS_LABELS.values()) + list(TITLES.values())
    if adapters:
        from channels.registry import CHANNELS, channel_class
        from connector.oauth import authorization_module
        from erp.registry import ERPS, erp_class

        classes = [channel_class(k) for k in CHANNELS] + [erp_class(k) for k in ERPS]
        fields = [f for cls in classes for f in cls.credential_fields]
        for kind in CHANNELS:
            module = authorization_module(kind)
            if module is not None:
                fields += list(module.AUTHORIZATION_FIELDS)
                messages += [label for choices in getattr(module, "FIELD_CHOICES", {}).values() for _v, label in choices]
        messages += [m for f in fields for m in (f.label, f.help) if m]
    return list(dict.fromkeys(messages))
