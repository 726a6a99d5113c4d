"""Spanish first, English available: Flask-Babel's gettext catalogs, numbers, money and dates by locale.

Templates and views write Spanish (the reference product's words) inside ``_()``; the msgids are that
Spanish text, and the English lives in ``admin_ui/translations/en/LC_MESSAGES/messages.po`` — with
the words an adapter brings (its credential fields, an ERP's country profiles) in its own package's
catalog (``erp/<name>/translations/...``). ``make translations`` extracts every message
(:mod:`admin_ui.i18n_extract`: Python, templates, the runtime labels of :mod:`admin_ui.i18n_runtime`,
the stored reasons marked with ``reason()``) into the catalog it belongs to and updates each; a test
fails when one has no English. A string missing there shows in Spanish.

The app merges those catalogs and compiles the ``.po`` files itself (in memory, once per process)
instead of loading a ``.mo``: see :mod:`connector.catalogs` for why; the CLI reads the same merged
catalogs from there without Flask.

The language is the signed-in user's (saved on the user), else the one chosen on the sign-in page
(kept in the session), else Spanish.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.numbers import format_decimal
from flask import Flask, current_app, g, has_request_context, session
from flask_babel import Babel, Domain, get_locale, get_timezone, get_translations
from flask_babel import gettext as gettext

from connector.catalogs import DOMAIN, translations_for
from connector.followup_view import DELIVERY_VIA_LABELS, LEGAL_STATUS_LABELS, WRITE_STATE_LABELS
from connector.reasons import code_of, shown

LANGUAGES = {"es": "Español", "en": "English"}
DEFAULT_LOCALE = "es"

# Labels of stored codes, translated when shown.
MATCH_SOURCE_LABELS = {"manual": "asignado a mano", "barcode": "por código de barras", "reference": "por referencia",
                       "variant": "variación"}
INVOICE_STATUS_LABELS = {"open": "Abierta", "draft": "Borrador", "closed": "Cerrada", "void": "Anulada"}
SYNC_RUN_LABELS = {"ok": "Correcta", "failed": "Con errores", "running": "En curso"}
# With the labels of life after the invoice (connector/followup.py): e-invoice status, remote writes,
# delivery routes (admin_ui/i18n_runtime.py lists them all for the catalog).
STORED_CODE_LABELS = (MATCH_SOURCE_LABELS, INVOICE_STATUS_LABELS, SYNC_RUN_LABELS, LEGAL_STATUS_LABELS,
                      WRITE_STATE_LABELS, DELIVERY_VIA_LABELS)


def current_locale() -> str:
    if not has_request_context():
        return DEFAULT_LOCALE
    user = g.get("user")
    locale = user.locale if user is not None else session.get("locale")
    return locale if locale in LANGUAGES else DEFAULT_LOCALE


class _PoDomain(Domain):
    """Flask-Babel's domain, reading our ``.po`` catalogs, the panel's and every adapter's merged (see the
    module docstring for why)."""

    def get_translations(self):
        locale = get_locale()
        return translations_for(str(locale.language) if locale else DEFAULT_LOCALE)  # connector/catalogs.py


class _Babel(Babel):
    @property
    def domain_instance(self):
        return _DOMAIN


_DOMAIN = _PoDomain(domain=DOMAIN)


def init_app(app: Flask) -> None:
    """Flask-Babel on ``app``: the locale and time zone of each request, ``_``/``ngettext`` in templates,
    and this module's filters (``when``, ``day``, ``money``, ``qty``, ``number``, ``said``)."""
    _Babel(app, locale_selector=current_locale, timezone_selector=_zone_name)
    # Flask-Babel installs Jinja's "new style" gettext, which marks every translation as safe HTML
    # (a label such as "meta:<clave>" would become a tag); ours return plain text, escaped on output.
    app.jinja_env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext)
    app.jinja_env.filters.update(when=format_datetime, day=format_date, money=format_money, qty=format_quantity,
                                 number=format_number, said=said)


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    """Flask-Babel's ``ngettext`` (the catalog's plural forms: "1 orden", "3 órdenes"), with ``%(num)s``
    written with the locale's separators ("1.234 órdenes")."""
    text = get_translations().ungettext(singular, plural, num)
    return text % {"num": format_number(num), **variables}


def _zone_name() -> str:
    return _zone().key


def _babel_locale() -> Locale:
    return Locale.parse(current_locale())


def said(value) -> str:
    """A stored reason in the reader's language (connector/reasons.py): ``value`` is an order (its
    ``state_reason``), a trail entry (its ``message``) or plain text. Rows kept before reasons had a
    code show their text as it is."""
    if hasattr(value, "state_reason"):
        return shown(value.state_reason, code_of(getattr(value, "state_reason_msgid", None),
                                                 getattr(value, "state_reason_params", None)), gettext)
    if hasattr(value, "message") and hasattr(value, "to_state"):
        return shown(value.message, code_of(getattr(value, "message_msgid", None),
                                            getattr(value, "message_params", None)), gettext)
    return "" if value is None else str(value)


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
    """``2 nov 2026, 12:05`` / ``Nov 2, 2026, 12:05 PM``: the locale's date and short time, joined as
    the locale joins them, in the display time zone."""
    if isinstance(value, str):  # an ISO time kept in JSON (a write's result, a refund's view)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value is None:
        return "—"
    locale, zone = _babel_locale(), get_timezone()
    day = babel_format_date(value.astimezone(zone).date(), _DATE_FORMAT, locale=locale)
    time = babel_format_time(value, "short", tzinfo=zone, locale=locale)
    return locale.datetime_formats["medium"].format(time, day)


_DATE_FORMAT = "medium"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(get_timezone()).date()
    return babel_format_date(value, _DATE_FORMAT, locale=_babel_locale())


def format_number(value: Decimal | int | float | None) -> str:
    """A count or amount with the locale's separators (``1.234`` / ``1,234``)."""
    if value is None:
        return "—"
    return format_decimal(value, locale=_babel_locale(), group_separator=True)


def format_money(value: Decimal | int | float | None, currency: str | None = None) -> str:
    """``$ 129.900`` in Spanish, ``$129,900`` in English; cents only when there are; the currency's
    code after the amount when it is not the account's usual one. Babel gives the digits (the
    locale's separators); the ``$`` layout is ours because Babel's symbol for a peso differs from one
    locale to another (``COP``, ``$``, ``COL$``) and sellers read ``$``."""
    if value is None:
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    pattern = "#,##0" if amount == amount.to_integral_value() else "#,##0.00"
    digits = format_decimal(abs(amount), format=pattern, locale=_babel_locale(), group_separator=True)
    sign = "-" if amount < 0 else ""
    shown_amount = f"{sign}$ {digits}" if current_locale() == "es" else f"{sign}${digits}"
    return f"{shown_amount} {currency}" if currency and currency != _home_currency() else shown_amount


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
    if value == value.to_integral_value():
        return format_decimal(value, format="#,##0", locale=_babel_locale())
    return format_decimal(value.normalize(), format="#,##0.######", locale=_babel_locale())
