"""Spanish by default, English available: the gettext catalog is complete, dates and money read by locale."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import g, session

import admin_ui
from admin_ui import i18n

ROOT = Path(admin_ui.__file__).parent.parent
PO = ROOT / "admin_ui" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "reason": None, "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> Catalog:
    """What ``make translations`` extracts (babel.cfg: Python, templates, the runtime labels, the stored
    reasons marked with ``reason()``), as a catalog template."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options = parse_mapping_cfg(cfg)
    template = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(str(ROOT), method_map, options,
                                                                          keywords=KEYWORDS):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def english() -> Catalog:
    with PO.open("rb") as handle:
        return read_po(handle)


def untranslated(template: Catalog, catalog: Catalog) -> dict[str, str]:
    """Each msgid of ``template`` with no usable English in ``catalog`` → why (where it was found)."""
    problems = {}
    for message in template:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
        entry = catalog.get(message.id)
        if entry is None:
            problems[key] = f"missing ({where})"
        elif entry.fuzzy:
            problems[key] = f"fuzzy ({where})"
        else:
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if not all(strings):
                problems[key] = f"no English ({where})"
    return problems


@pytest.fixture(scope="module")
def template() -> Catalog:
    return extracted()


def test_every_message_in_the_code_has_an_english_translation(template):
    assert len(template) > 400  # the extraction found the panel (templates, views, runtime labels)
    problems = untranslated(template, english())
    assert not problems, problems


def test_the_check_fails_on_a_message_without_english(template):
    catalog = english()
    template.add("Un texto nuevo sin traducción %(n)s", None, [("admin_ui/templates/x.html", 1)])
    first = next(m for m in catalog if m.id and isinstance(m.id, str))
    first.string = ""
    problems = untranslated(template, catalog)
    assert set(problems) == {"Un texto nuevo sin traducción %(n)s", first.id}


def test_stored_reasons_and_runtime_labels_are_extracted(template):
    from channels.mercadolibre.adapter import MercadoLibreAdapter
    from channels.mercadolibre.authorization import AUTHORIZATION_FIELDS
    from connector.states import STATE_LABELS
    from erp.alegra.adapter import AlegraAdapter

    labels = [f.label for f in (*MercadoLibreAdapter.credential_fields, *AlegraAdapter.credential_fields,
                                *AUTHORIZATION_FIELDS)]
    for message in [*labels, *STATE_LABELS.values(), "La cuenta no tiene un ERP conectado.", "%(cause)s Se reintentará automáticamente."]:
        assert template.get(message) is not None, message


def test_english_placeholders_match_the_spanish_ones():
    for entry in english():
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) <= wanted, entry.id


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


def test_money_numbers_and_dates_in_spanish(request_in):
    context = request_in("es")
    try:
        assert i18n.format_money(Decimal("129900")) == "$ 129.900"
        assert i18n.format_money(Decimal("1234.5")) == "$ 1.234,50"
        assert i18n.format_money(Decimal("-2000")) == "-$ 2.000"
        assert i18n.format_money(Decimal("10"), "USD") == "$ 10 USD"
        assert i18n.format_number(1234) == "1.234"
        assert i18n.format_quantity(Decimal("1.50")) == "1,5"
        assert i18n.format_datetime(datetime(2026, 11, 2, 17, 5, tzinfo=UTC)) == "2 nov 2026, 12:05"  # Bogotá
        assert i18n.format_date(datetime(2026, 11, 3, 2, 0, tzinfo=UTC)) == "2 nov 2026"  # still the 2nd there
        assert i18n.format_datetime(None) == "—"
        assert i18n.gettext("Órdenes") == "Órdenes"
    finally:
        context.pop()


def test_money_numbers_and_dates_in_english(request_in):
    context = request_in("en")
    try:
        assert i18n.format_money(Decimal("129900")) == "$129,900"
        assert i18n.format_money(Decimal("1234.5")) == "$1,234.50"
        assert i18n.format_number(1234) == "1,234"
        assert i18n.format_quantity(Decimal("1.50")) == "1.5"
        assert i18n.format_datetime(datetime(2026, 11, 2, 17, 5, tzinfo=UTC)) == "Nov 2, 2026, 12:05\u202fPM"
        assert i18n.format_date(datetime(2026, 11, 2, 17, 5, tzinfo=UTC)) == "Nov 2, 2026"
        assert i18n.gettext("Órdenes") == "Orders"
        assert i18n.gettext("Orden %(id)s", id="77") == "Order 77"
        assert i18n.gettext("un texto sin traducción") == "un texto sin traducción"
    finally:
        context.pop()


def test_dates_follow_the_display_time_zone(app):
    app.config["DISPLAY_TIMEZONE"] = "America/Mexico_City"
    with app.test_request_context("/"):
        g.user = None
        assert i18n.format_datetime(datetime(2026, 11, 2, 17, 5, tzinfo=UTC)) == "2 nov 2026, 11:05"


def test_plural_forms(request_in):
    """"1 orden", not "1 órdenes" (issue 14): counts go through ngettext and the catalog's plural forms."""
    singular, plural = "%(num)s orden facturada.", "%(num)s órdenes facturadas."
    for locale, one, many in (("es", "1 orden facturada.", "3 órdenes facturadas."),
                              ("en", "1 order invoiced.", "3 orders invoiced.")):
        context = request_in(locale)
        try:
            assert i18n.ngettext(singular, plural, 1) == one
            assert i18n.ngettext(singular, plural, 3) == many
            assert i18n.ngettext(singular, plural, 1234).startswith("1.234 " if locale == "es" else "1,234 ")
        finally:
            context.pop()


def test_templates_get_plain_text_escaped_on_output(app):
    """A translation is text, not HTML: a help text such as ``meta:<clave>`` is shown, not parsed."""
    with app.test_request_context("/"):
        g.user = None
        session["locale"] = "es"
        html = app.jinja_env.from_string("{{ _('auto, meta:<clave>, billing_company o none.') }}").render()
    assert "meta:&lt;clave&gt;" in html


def test_stored_reasons_read_in_each_readers_language(app, ui_ctx, synced_seller, seller_email):
    """The error queue's reasons are stored with their template: English readers read them in English,
    Spanish readers in Spanish, and a row kept before (text only) shows its text."""
    from connector import services
    from connector.models import Order
    from tests.admin_ui.conftest import client_for, page_text

    queue = services.error_queue(ui_ctx, synced_seller)
    assert queue and all(o.state_reason_msgid for o in queue)
    spanish = queue[0].state_reason
    client = client_for(app, seller_email)
    assert spanish in page_text(client.get("/errors"))
    client.post("/language", data={"locale": "en", "next": "/errors"})
    english_page = page_text(client.get("/errors"))
    assert spanish not in english_page and "matches no ERP product by" in english_page
    detail = page_text(client.get(f"/orders/{queue[0].id}"))
    assert "matches no ERP product by" in detail
    with ui_ctx.db.transaction() as session:  # a row written before reasons had a code
        order = session.get(Order, queue[1].id)
        order.state_reason_msgid, order.state_reason_params = None, None
    assert queue[1].state_reason in page_text(client.get("/errors"))


def test_the_language_picked_on_the_sign_in_page_is_kept(app, ui_ctx, bare_email):
    """Picking English on the sign-in page, then signing in: the panel stays in English, and the choice
    is saved to the user (the next sign-in, without picking, is in English too). A language left in the
    browser by someone else is not a pick: another user reads their own."""
    from connector.models import User
    from tests.admin_ui.conftest import PASSWORD, client_for, new_account, new_user, page_text

    client = client_for(app)
    client.get("/login")
    client.post("/language", data={"locale": "en", "next": "/login"})
    assert "Sign in" in page_text(client.get("/login"))
    client.post("/login", data={"email": bare_email, "password": PASSWORD})
    assert "Orders" in page_text(client.get("/"))
    with ui_ctx.db.session() as session:
        assert session.query(User).filter_by(email=bare_email).one().locale == "en"
    client.post("/logout")
    client.sign_in(bare_email)
    assert "Orders" in page_text(client.get("/"))
    client.post("/logout")
    other = new_user(ui_ctx, new_account(ui_ctx))  # saved in Spanish, signs in on the same browser
    client.sign_in(other)
    assert "Órdenes" in page_text(client.get("/"))
    with ui_ctx.db.session() as session:
        assert session.query(User).filter_by(email=other).one().locale == "es"


def test_every_stored_code_reads_as_its_stored_text_in_spanish(ui_ctx, synced_seller):
    """A code kept next to a text must be that text's template: rendered in Spanish it gives the text
    back (a stale code under a new text would show the reader an old reason)."""
    from sqlalchemy import select

    from connector.models import ActivityEvent, Order
    from connector.reasons import code_of, shown

    with ui_ctx.db.session() as session:
        orders = session.scalars(select(Order).where(Order.account_id == synced_seller)).all()
        events = session.scalars(select(ActivityEvent).where(ActivityEvent.order_id.in_([o.id for o in orders]))).all()
        rows = [(o.state_reason, code_of(o.state_reason_msgid, o.state_reason_params)) for o in orders]
        rows += [(e.message, code_of(e.message_msgid, e.message_params)) for e in events]
    coded = [(text, code) for text, code in rows if code]
    assert len(coded) > len(rows) / 2  # most of what a sync writes has a code
    for text, code in coded:
        assert shown(text, code, lambda m: m) == text, code
