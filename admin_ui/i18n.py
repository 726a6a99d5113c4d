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
_PLUGIN_CATALOGS_LOADED = False


def _load_plugin_catalogs() -> None:
    """Merge the English texts each registered ERP ships with its declaration (``<package>.messages_en``:
    its form's labels and help, its countries' code lists), so the panel names no ERP itself."""
    global _PLUGIN_CATALOGS_LOADED
    if _PLUGIN_CATALOGS_LOADED:
        return
    import importlib

    from erp.registry import ERPS

    for target in ERPS.values():
        package = target.partition(":")[0].rpartition(".")[0]
        try:
            module = importlib.import_module(f"{package}.messages_en")
        except ModuleNotFoundError:
            continue
        for spanish, english in module.MESSAGES.items():
            EN_MESSAGES.setdefault(spanish, english)
    _PLUGIN_CATALOGS_LOADED = True

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
    _load_plugin_catalogs()
    translated = CATALOGS.get(current_locale(), {}).get(message, message)
    return translated % values if values else translated


def _zone() -> ZoneInfo:
    """Where dates are shown: ``DISPLAY_TIMEZONE`` when configured, else the time zone of the country of
    the signed-in account's ERP (its fiscal profile), else UTC."""
    configured = current_app.config.get("DISPLAY_TIMEZONE")
    if configured:
        return ZoneInfo(configured)
    if "display_zone" not in g:
        g.display_zone = _account_zone()
    return g.display_zone


def display_zone() -> ZoneInfo:
    return _zone()


def _account_zone() -> ZoneInfo:
    from connector.fiscal import fiscal_profile_of
    from connector.services import find_erp_connection

    user = g.get("user")
    erp = find_erp_connection(current_app.extensions["connector"], user.account_id) if user is not None else None
    return ZoneInfo(fiscal_profile_of(erp).time_zone if erp is not None else "UTC")


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
    """``$ 129.900`` in Spanish, ``$129,900`` in English; cents only when there are; the currency's code unless
    it is the account's own."""
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
    return f"{shown} {currency}" if currency and currency != _home_currency() else shown


def _home_currency() -> str | None:
    """The currency of the country of the signed-in account's ERP: amounts in it need no code."""
    if "home_currency" not in g:
        from connector.fiscal import fiscal_profile_of
        from connector.services import find_erp_connection

        user = g.get("user")
        erp = find_erp_connection(current_app.extensions["connector"], user.account_id) if user is not None else None
        g.home_currency = fiscal_profile_of(erp).currency if erp is not None else None
    return g.home_currency


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
        messages += [label for f in fields for _code, label in f.choices]
        for kind in ERPS:
            messages += _erp_declared_texts(erp_class(kind))
    return list(dict.fromkeys(messages))


def _erp_declared_texts(cls) -> list[str]:
    """The texts an ERP declares besides its fields: setup help and every country profile's labels."""
    texts = [cls.setup_help]
    field = next((f for f in cls.credential_fields if f.name == cls.country_credential), None)
    for country in (field.choice_codes() if field is not None else (None,)):
        profile = cls.fiscal_profile(country)
        for name in ("identification_type", "kind_of_person", "regime", "payment_form", "payment_method",
                     "credit_note_type"):
            texts += [o.label for o in profile.options(name)]
        for contact_field in profile.contact_fields:
            texts += [m for m in (contact_field.label, contact_field.help) if m]
            texts += [o.label for o in contact_field.options]
    return texts
