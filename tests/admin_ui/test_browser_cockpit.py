"""The seller's cockpit in a real browser (Debian's Chromium driven by Playwright): the order page that
explains the money, the dashboard's charts, the CSV download, creating the missing product in the ERP
and the alert banner — each on a 1280-pixel desktop and a 390-pixel phone.

Screenshots go to ``test-artifacts/cockpit/`` (git-ignored), ``<page>-desktop.png`` / ``<page>-phone.png``.
"""

from __future__ import annotations

import csv
import io

import pytest

from admin_ui import serve_in_thread
from connector import alerts, services
from connector.errors import InvalidCredentials
from connector.sync import sync_once
from sandbox import server as sandbox_server
from tests.admin_ui.conftest import SANDBOX_CREDENTIALS, fresh_seller, new_user
from tests.admin_ui.test_browser import ARTIFACTS, browser, sign_in  # noqa: F401 - the browser fixture

SHOTS = ARTIFACTS.parent / "cockpit"
SCREENS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cockpit(ui_ctx, ui_sandbox):
    """A seller with the marketplace and the store connected and synced, and the panel on loopback."""
    account = fresh_seller(ui_ctx, ui_sandbox)
    services.connect_channel(ui_ctx, account, "woocommerce", {
        "store_url": ui_sandbox.woo_url, "consumer_key": sandbox_server.WOO_CONSUMER_KEY,
        "consumer_secret": sandbox_server.WOO_CONSUMER_SECRET}, base_url=ui_sandbox.woo_url)
    sync_once(ui_ctx, account)
    email = new_user(ui_ctx, account)
    url, server = serve_in_thread(ui_ctx, API_BASE_URLS=ui_sandbox.urls(), SANDBOX_CREDENTIALS=SANDBOX_CREDENTIALS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield url, account, email
    server.shutdown()
    server.server_close()


def _pages(browser, url: str, email: str):  # noqa: F811 - the fixture's value, by name
    """A signed-in page per screen size (the same session cookie is not shared: each signs in)."""
    for screen, viewport in SCREENS.items():
        context = browser.new_context(viewport=viewport, locale="es-CO")
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        sign_in(page, url, email)
        yield screen, page, errors
        context.close()


def _shot(page, name: str, screen: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}-{screen}.png"), full_page=True)


def _fits_the_screen(page, selector: str = "main") -> bool:
    """``selector`` (and what it holds) no wider than the viewport: no sideways scrolling on a phone."""
    return page.evaluate("""(selector) => {
        const root = document.querySelector(selector);
        const limit = window.innerWidth + 1;
        return [root, ...root.querySelectorAll('*')].every(el => el.getBoundingClientRect().right <= limit);
    }""", selector)


def _fees(order) -> dict:
    document = order.raw.get("order", order.raw)
    return {f["name"]: f["total"] for f in document.get("fee_lines", [])}


def test_the_order_page_explains_the_money(browser, cockpit, ui_ctx):  # noqa: F811
    from playwright.sync_api import expect

    url, account, email = cockpit
    order = next(o for o in services.list_orders(ui_ctx, account, states=["invoiced"], limit=500)
                 if "Pago contra entrega" in _fees(o))
    for screen, page, errors in _pages(browser, url, email):
        page.goto(f"{url}/orders/{order.id}")
        section = page.locator("#money")
        expect(section.get_by_role("heading", name="De lo pagado a lo facturado")).to_be_visible()
        fee_row = section.locator("tr[data-why=fee_left_out]")
        expect(fee_row).to_contain_text("Pago contra entrega")
        expect(fee_row).to_contain_text("no se factura")
        difference = section.locator('[data-money="difference"]').inner_text()
        assert difference == section.locator('[data-money="left-out"]').inner_text() != "$ 0"
        section.scroll_into_view_if_needed()
        _shot(page, "order-money", screen)
        assert _fits_the_screen(page, "#money"), screen
        assert errors == []


def test_the_dashboard_draws_its_charts_on_desktop_and_phone(browser, cockpit):  # noqa: F811
    from playwright.sync_api import expect

    url, _, email = cockpit
    for screen, page, errors in _pages(browser, url, email):
        page.goto(f"{url}/")
        page.get_by_role("link", name="Tablero").first.click()
        page.wait_for_url(f"{url}/dashboard")
        charts = page.locator("svg.chart")
        expect(charts).to_have_count(3)
        width = charts.first.bounding_box()["width"]
        assert width <= SCREENS[screen]["width"] and width > 250  # scaled to the screen, still readable
        expect(page.locator("svg.chart rect.chart-bar").first).to_be_visible()
        expect(page.locator("#queue-age")).to_contain_text("la más antigua espera desde")
        _shot(page, "dashboard", screen)
        assert _fits_the_screen(page, "main"), screen
        assert errors == []


def test_the_csv_download(browser, cockpit, ui_ctx):  # noqa: F811
    url, account, email = cockpit
    screen, page, errors = next(_pages(browser, url, email))
    page.goto(f"{url}/dashboard#export")
    page.locator("select[name=kind]").select_option("invoices")
    page.locator("input[name=from]").fill("2000-01-01")
    page.locator("input[name=to]").fill("2999-12-31")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Descargar CSV").click()
    download = download_info.value
    assert download.suggested_filename == "invoices-2000-01-01-2999-12-31.csv"
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))
    invoiced = [o for o in services.list_orders(ui_ctx, account, limit=1000) if o.invoice is not None]
    assert rows[0][1] == "Número" and len(rows) - 1 == len(invoiced)
    # A range backwards is explained on the page, not a broken download.
    page.goto(f"{url}/dashboard")
    page.locator("input[name=from]").fill("2026-12-01")
    page.locator("input[name=to]").fill("2026-11-01")
    page.get_by_role("button", name="Descargar CSV").click()
    page.get_by_text("es posterior a la final").wait_for()
    _shot(page, "export-bad-range", screen)
    assert errors == []


def test_create_the_missing_product_from_the_order(browser, cockpit, ui_ctx, ui_sandbox):  # noqa: F811
    from playwright.sync_api import expect

    url, account, email = cockpit
    order, line = next((o, ln) for o in services.error_queue(ui_ctx, account) for ln in o.lines
                       if ln.erp_item_id is None and ln.sku)
    before = len(ui_sandbox.alegra_state.items)
    for screen, page, errors in _pages(browser, url, email):
        if screen == "desktop":
            page.goto(f"{url}/orders/{order.id}")
            page.get_by_role("link", name=f"Crear «{line.sku}» en el ERP").click()
            expect(page.get_by_role("heading", name="Crear el producto en el ERP")).to_be_visible()
            expect(page.get_by_label("Código de barras")).to_have_value(line.sku)
            _shot(page, "create-item", screen)
            page.get_by_role("button", name="Crear y facturar").click()
            page.wait_for_url(f"{url}/orders/{order.id}")
            expect(page.locator(".flashes")).to_contain_text("creado en el ERP")
            _shot(page, "create-item-done", screen)
        else:  # the form on a phone, for another unmatched SKU if one is left
            left = [(o, ln) for o in services.error_queue(ui_ctx, account) for ln in o.lines
                    if ln.erp_item_id is None and ln.sku]
            if left:
                other, other_line = left[0]
                page.goto(f"{url}/orders/{other.id}/create-item?sku={other_line.sku_key}")
                expect(page.get_by_role("button", name="Crear y facturar")).to_be_visible()
                _shot(page, "create-item", screen)
                assert _fits_the_screen(page, "main")
        assert errors == []
    assert len(ui_sandbox.alegra_state.items) == before + 1
    assert services.get_order(ui_ctx, order.id, account).state == "invoiced"


def test_the_alert_banner(browser, cockpit, ui_ctx):  # noqa: F811
    from playwright.sync_api import expect

    url, account, email = cockpit
    for screen, page, errors in _pages(browser, url, email):
        with ui_ctx.db.transaction() as session:
            alerts.note_channel_error(session, account, InvalidCredentials("x"), channel_name="Tienda web")
        page.goto(f"{url}/orders")
        banner = page.locator("#alert-banners .alert-banner[data-kind=channel_auth]")
        expect(banner).to_contain_text("La conexión «Tienda web» perdió el acceso")
        _shot(page, "alert-banner", screen)
        assert _fits_the_screen(page, "#alert-banners"), screen
        banner.get_by_role("button", name="Entendido").click()
        page.wait_for_url(f"{url}/orders")
        expect(page.locator("#alert-banners")).to_have_count(0)
        assert errors == []
