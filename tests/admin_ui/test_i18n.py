"""Spanish by default, English available: the catalog is complete, dates and money read naturally."""

import ast
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from flask import g, session
from jinja2 import Environment

import admin_ui
from admin_ui import i18n
from admin_ui.messages_en import MESSAGES

ROOT = Path(admin_ui.__file__).parent


def _translatable() -> dict[str, str]:
    """Every text the UI passes through ``_()``: in templates (Jinja's extractor), in Python (the
    AST), and the labels translated at runtime (settings forms, states, codes)."""
    found: dict[str, str] = {}
    env = Environment(extensions=["jinja2.ext.i18n"])
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for _line, _func, message in env.extract_translations(path.read_text()):
            if isinstance(message, str):
                found.setdefault(message, path.name)
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "gettext")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, path.name)
    for message in i18n.dynamic_messages(adapters=False):
        found.setdefault(message, "runtime")
    return found


def test_every_ui_text_has_an_english_version():
    missing = {m: where for m, where in _translatable().items() if m not in MESSAGES}
    assert not missing, missing


def test_english_placeholders_match_the_spanish_ones():
    import re

    for spanish, english in MESSAGES.items():
        assert sorted(re.findall(r"%\((\w+)\)s", spanish)) == sorted(re.findall(r"%\((\w+)\)s", english)), spanish


def test_mercado_libre_and_erp_declarations_are_translated_too():
    """What every adapter declares (fields, choices, an ERP's setup help and country code lists) has its
    English, in the panel's catalog or in the ERP's own (merged by admin_ui.i18n)."""
    i18n._load_plugin_catalogs()
    missing = [m for m in i18n.dynamic_messages(adapters=True) if m not in i18n.CATALOGS["en"]]
    assert not missing, missing


@pytest.fixture
def request_in(app):
    def use(locale: str):
        app.config["DISPLAY_TIMEZONE"] = "America/Bogota"  # else the account's ERP country decides
        context = app.test_request_context("/")
        context.push()
        g.user = None
        session["locale"] = locale
        return context
    return use


def test_money_and_dates_in_spanish(request_in):
    context = request_in("es")
    try:
        assert i18n.format_money(Decimal("129900")) == "$ 129.900"
        assert i18n.format_money(Decimal("1234.5")) == "$ 1.234,50"
        assert i18n.format_money(Decimal("10"), "USD") == "$ 10 USD"
        assert i18n.format_datetime(datetime(2026, 11, 2, 17, 5, tzinfo=UTC)) == "2 nov 2026, 12:05"  # Bogotá
        assert i18n.format_datetime(None) == "—"
        assert i18n.gettext("Órdenes") == "Órdenes"
    finally:
        context.pop()


def test_money_and_dates_in_english(request_in):
    context = request_in("en")
    try:
        assert i18n.format_money(Decimal("129900")) == "$129,900"
        assert i18n.format_datetime(datetime(2026, 11, 2, 17, 5, tzinfo=UTC)) == "2 Nov 2026, 12:05"
        assert i18n.gettext("Órdenes") == "Orders"
        assert i18n.gettext("Orden %(id)s", id="77") == "Order 77"
        assert i18n.gettext("un texto sin traducción") == "un texto sin traducción"
    finally:
        context.pop()
