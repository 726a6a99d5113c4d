"""Every panel page in a real browser in Spanish and in English (Debian's Chromium via Playwright).

The language is switched the way a person does (the EN/ES buttons in the header); on the English pages
no Spanish text that the catalog translates is left showing. Screenshots go to
``test-artifacts/admin_ui/languages/`` (git-ignored).
"""

from __future__ import annotations

import re

import pytest

from connector import services
from connector.sync import sync_once
from tests.admin_ui.conftest import fresh_seller, new_user
from tests.admin_ui.test_browser import ARTIFACTS, PHONE_PAGES, browser, served, sign_in  # noqa: F401 - fixtures
from tests.admin_ui.test_i18n import english

pytestmark = pytest.mark.e2e
PAGES = PHONE_PAGES + [("notas-credito", "/credit-notes"), ("contrasena", "/account/password")]


def translated_spanish() -> set[str]:
    """Spanish msgids whose English differs, long enough not to be a word English shares, without
    placeholders (a filled-in sentence is matched by its fixed part elsewhere)."""
    return {m.id for catalog in english().values() for m in catalog if isinstance(m.id, str) and m.id and m.string
            and m.string != m.id and "%" not in m.id and len(m.id) >= 12}


# Names that are the sandbox ERP's own data (a numbering template), not panel text.
ERP_DATA = ("Factura electrónica de venta",)


def visible_text(page) -> str:
    text = re.sub(r"\s+", " ", page.inner_text("body"))
    for name in ERP_DATA:
        text = text.replace(name, "")
    return text


# The Spanish walk (the panel's own language) runs in `make test`; the English one, which also checks that
# no translated Spanish is left showing, in `make test-slow` (tests/admin_ui/test_i18n.py checks the
# catalogs are complete in `make test`).
@pytest.mark.parametrize("language", ["es", pytest.param("en", marks=pytest.mark.slow)])
def test_every_page_in_the_language_chosen(browser, served, ui_ctx, ui_sandbox, language):  # noqa: F811
    menu = {"es": "Órdenes", "en": "Orders"}[language]  # the menu's first entry, in that language
    url, _account, _email = served
    account = fresh_seller(ui_ctx, ui_sandbox)
    sync_once(ui_ctx, account)
    email = new_user(ui_ctx, account)
    errored = services.error_queue(ui_ctx, account)[0]
    invoiced = services.list_orders(ui_ctx, account, states=["invoiced"])[0]
    pages = PAGES + [("orden-facturada", f"/orders/{invoiced.id}"), ("orden-con-error", f"/orders/{errored.id}")]
    shots = ARTIFACTS / "languages"
    shots.mkdir(parents=True, exist_ok=True)
    spanish_texts = translated_spanish()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, url, email)
    page.locator(f"button[name=locale][value={language}]").first.click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == language
    for name, path in pages:
        response = page.goto(url + path)
        assert response.status == 200, f"{language} {path}: {response.status}"
        text = visible_text(page)
        assert menu in text, f"{language} {path}"
        if language == "en":
            left = sorted(s for s in spanish_texts if s in text)
            assert not left, f"{path} still shows Spanish: {left}"
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / f"{language}-{name}.png"), full_page=True)
    if language == "en":  # the stored reason of the errored order reads in English too
        page.goto(f"{url}/orders/{errored.id}")
        assert errored.state_reason not in visible_text(page)
    context.close()
