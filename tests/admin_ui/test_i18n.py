"""Spanish by default, English available: the gettext catalogs (the panel's and each adapter package's)
are complete, dates and money read by locale."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from flask import g, session

from admin_ui import i18n
from admin_ui.i18n_extract import templates
from connector.catalogs import catalog_dir, catalog_dirs, translations_for

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def po_of(folder: Path) -> Path:
    return folder / "en" / "LC_MESSAGES" / "messages.po"


def english() -> dict[Path, Catalog]:
    """Each English catalog by its ``translations`` folder: the panel's and each adapter package's."""
    catalogs = {}
    for folder in catalog_dirs():
        if po_of(folder).exists():
            with po_of(folder).open("rb") as handle:
                catalogs[folder] = read_po(handle)
    return catalogs


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


def untranslated_anywhere(found: dict[Path, Catalog], catalogs: dict[Path, Catalog]) -> dict[str, str]:
    """:func:`untranslated` over every catalog: each package's messages against its own catalog (so an
    adapter's catalog is complete without the others)."""
    problems = {}
    for folder, template in found.items():
        problems |= untranslated(template, catalogs.get(folder, Catalog()))
    return problems


@pytest.fixture(scope="module")
def extracted() -> dict[Path, Catalog]:
    """What ``make translations`` extracts (admin_ui/i18n_extract.py), by catalog folder."""
    return templates()


def test_every_message_in_the_code_has_an_english_translation(extracted):
    assert len(extracted[catalog_dir()]) > 400  # the panel (templates, views, runtime labels)
    assert len(extracted) > 2  # and adapter packages (their declared fields, an ERP's country profiles)
    problems = untranslated_anywhere(extracted, english())
    assert not problems, problems


def test_the_check_fails_on_a_message_without_english(extracted):
    catalogs = english()
    panel, adapter = catalog_dir(), list(extracted)[-1]
    extracted[panel].add("Un texto nuevo sin traducción %(n)s", None, [("admin_ui/templates/x.html", 1)])
    first = next(m for m in catalogs[adapter] if m.id and isinstance(m.id, str))
    first.string = ""
    try:
        assert set(untranslated_anywhere(extracted, catalogs)) == {"Un texto nuevo sin traducción %(n)s", first.id}
        # An adapter's messages count only in its own catalog: without it, they are all missing.
        del catalogs[adapter]
        assert set(untranslated_anywhere(extracted, catalogs)) >= {m.id for m in extracted[adapter] if m.id}
    finally:
        extracted[panel].delete("Un texto nuevo sin traducción %(n)s")


def test_the_merged_catalog_gives_every_catalogs_english():
    """What the panel and the CLI read (connector/catalogs.py) is every catalog at once, and no two
    catalogs disagree on a message."""
    merged = translations_for("en")
    for catalog in english().values():
        for entry in catalog:
            if entry.id and isinstance(entry.id, str) and entry.string and not entry.fuzzy:
                assert merged.gettext(entry.id) == entry.string, entry.id


def test_stored_reasons_and_runtime_labels_are_extracted(extracted):
    """The core's in the panel's catalog; what an adapter declares in its own package's."""
    from channels.mercadolibre.adapter import MercadoLibreAdapter
    from channels.mercadolibre.authorization import AUTHORIZATION_FIELDS
    from connector.states import STATE_LABELS
    from erp.alegra.adapter import AlegraAdapter
    from erp.alegra.payloads import PAYMENT_METHODS

    panel = extracted[catalog_dir()]
    for message in [*STATE_LABELS.values(), "La cuenta no tiene un ERP conectado.", "%(cause)s Se reintentará automáticamente."]:
        assert panel.get(message) is not None, message
    expected = {"channels/mercadolibre": [f.label for f in (*MercadoLibreAdapter.credential_fields, *AUTHORIZATION_FIELDS)],
                "erp/alegra": [*(f.label for f in AlegraAdapter.credential_fields), AlegraAdapter.setup_help,
                               *(label for _code, label in PAYMENT_METHODS)]}  # N_() in the ERP's code
    by_package = {"/".join(folder.parts[-3:-1]): template for folder, template in extracted.items()}
    for package, messages in expected.items():
        for message in messages:
            assert by_package[package].get(message) is not None, (package, message)
            assert panel.get(message) is None, message  # one catalog per message


def test_the_panels_catalog_names_no_erp():
    """An ERP's words live in its package: the panel's catalog could be shipped without any ERP."""
    from erp.registry import ERPS, erp_class

    text = po_of(catalog_dir()).read_text(encoding="utf-8").lower()
    for kind in ERPS:
        assert kind not in text and erp_class(kind).display_name.lower() not in text, kind


def test_english_placeholders_match_the_spanish_ones():
    for catalog in english().values():
        for entry in catalog:
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
