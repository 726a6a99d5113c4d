"""Daily work in a real browser (Debian's Chromium driven by Playwright): the settings form listing
several problems at once, "Facturar seleccionadas" on the orders list, and search — each on a desktop
and on a 390×844 phone screen, with screenshots in ``test-artifacts/admin_ui/`` (git-ignored)."""

from __future__ import annotations

import re

import pytest

from admin_ui import serve_in_thread
from connector import services
from connector.states import OrderState
from connector.sync import sync_once
from tests.admin_ui.conftest import SANDBOX_CREDENTIALS, fresh_seller, new_user
from tests.admin_ui.test_browser import browser, shot, sign_in  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": {"viewport": {"width": 1280, "height": 900}},
             "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                       "has_touch": True}}


@pytest.fixture(scope="module")
def served(ui_ctx, ui_sandbox):
    url, server = serve_in_thread(ui_ctx, API_BASE_URLS=ui_sandbox.urls(), SANDBOX_CREDENTIALS=SANDBOX_CREDENTIALS)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def synced(ui_ctx, ui_sandbox):
    account = fresh_seller(ui_ctx, ui_sandbox)
    sync_once(ui_ctx, account)
    return account, new_user(ui_ctx, account)


def _page(browser, url, email, size):  # noqa: F811
    context = browser.new_context(locale="es-CO", **VIEWPORTS[size])
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, url, email)
    return context, page


def _fits(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_settings_form_lists_several_problems_at_once(browser, served, ui_ctx, synced, size):  # noqa: F811
    from playwright.sync_api import expect

    account, email = synced
    before = services.show_settings(ui_ctx, account)
    context, page = _page(browser, served, email, size)
    page.goto(f"{served}/settings/configuration")
    page.locator("#f-default_email").fill("")
    page.locator("#f-due_days").fill("-2")
    page.locator("#f-observations").fill("Venta {canal} orden {order_id}")
    page.get_by_role("button", name="Guardar", exact=True).click()
    summary = page.locator("#settings-problems")
    expect(summary).to_be_visible()
    expect(page.get_by_text("No se guardó: hay 3 problemas que corregir.")).to_be_visible()
    assert summary.locator("li").count() == 3
    expect(page.locator("#err-default_email")).to_contain_text("Expedir")
    expect(page.locator("#err-due_days")).to_contain_text("debe ser 0 o más")
    expect(page.locator("#err-observations")).to_contain_text("{canal}")
    assert page.locator("#f-due_days").get_attribute("aria-invalid") == "true"
    assert "due_days" not in summary.inner_text() and "Input should" not in page.content()
    _fits(page)
    shot(page, f"{size}-settings-problems")
    summary.get_by_role("link", name="Días de plazo").click()  # each problem links to its field
    assert page.url.endswith("#f-due_days")
    assert services.show_settings(ui_ctx, account) == before
    context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_facturar_seleccionadas_in_the_browser(browser, served, ui_ctx, synced, size):  # noqa: F811
    from playwright.sync_api import expect

    account, email = synced
    held = services.error_queue(ui_ctx, account)[0]
    waiting = (services.list_orders(ui_ctx, account, states=["skipped"])
               or services.list_orders(ui_ctx, account, states=["waiting_rule"]))[0]
    context, page = _page(browser, served, email, size)
    page.goto(f"{served}/orders")
    for order in (held, waiting):
        page.get_by_label(f"Seleccionar la orden {order.external_id}").check()
    shot(page, f"{size}-orders-selected")
    page.get_by_role("button", name="Facturar seleccionadas").click()
    page.wait_for_url(re.compile(r".*/orders/bulk$"))
    expect(page.locator("#bulk-summary")).to_contain_text("de 2 órdenes quedaron facturadas")
    table = page.locator(".bulk-table")
    expect(table).to_contain_text(held.external_id)
    expect(table).to_contain_text(waiting.external_id)
    assert services.get_order(ui_ctx, held.id, account).state == OrderState.ERROR  # its SKU is still unknown
    _fits(page)
    shot(page, f"{size}-bulk-result")
    context.close()


def test_select_all_checks_every_row_with_javascript(browser, served, ui_ctx, synced):  # noqa: F811
    _account, email = synced
    context, page = _page(browser, served, email, "desktop")
    page.goto(f"{served}/orders?state=error")
    page.get_by_label("Seleccionar todas").check()
    boxes = page.locator("input[name=order_id]")
    assert boxes.count() == 3 and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_search_without_accents_and_past_the_last_page(browser, served, ui_ctx, synced, size):  # noqa: F811
    from playwright.sync_api import expect

    account, email = synced
    velas = [o for o in services.list_orders(ui_ctx, account) if any("aromática" in li.title for li in o.lines)]
    invoiced = services.list_orders(ui_ctx, account, states=["invoiced"])[0]
    context, page = _page(browser, served, email, size)
    page.goto(f"{served}/orders")
    page.get_by_label("Buscar").fill("AROMATICA")
    page.get_by_role("button", name="Filtrar").click()
    for order in velas:
        expect(page.locator(".orders-table")).to_contain_text(order.external_id)
    _fits(page)
    shot(page, f"{size}-search-accents")
    page.get_by_label("Buscar").fill(invoiced.invoice.number)
    page.get_by_role("button", name="Filtrar").click()
    expect(page.locator(".orders-table")).to_contain_text(invoiced.external_id)
    page.goto(f"{served}/orders?page=9")
    expect(page.locator("#beyond-the-end")).to_contain_text("La página 9 no existe")
    shot(page, f"{size}-page-beyond-the-end")
    context.close()
