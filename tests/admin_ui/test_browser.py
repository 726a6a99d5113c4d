"""The whole flow in a real browser (Debian's Chromium driven by Playwright) against the app and the
sandbox on loopback: sign in, connect Alegra, configure the rules, connect Mercado Libre by OAuth,
sync now, see an errored order, search and pick the ERP item, click "Facturar", see it invoiced —
then the main pages again on a 390×844 phone screen.

Screenshots of every main page go to ``test-artifacts/admin_ui/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from admin_ui import serve_in_thread
from connector import services
from connector.sync import sync_once
from sandbox import server as sandbox_server
from tests.admin_ui.conftest import PASSWORD, SANDBOX_CREDENTIALS, fresh_seller, new_account, new_user

CHROMIUM = os.environ.get("CONNECTOR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin_ui"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"The browser tests need Chromium at {CHROMIUM}. Install Debian's package: "
                    "apt-get install -y chromium (make test's scripts/test-services does it when it may).", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The browser tests need the playwright package: pip install -e '.[dev]'.", pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served(ui_ctx, ui_sandbox):
    """The admin UI on loopback, over the module's database and sandbox, with a brand-new seller."""
    url, server = serve_in_thread(ui_ctx, API_BASE_URLS=ui_sandbox.urls(), SANDBOX_CREDENTIALS=SANDBOX_CREDENTIALS)
    account = new_account(ui_ctx)
    email = new_user(ui_ctx, account)
    ui_sandbox.ml_state.refresh_token = sandbox_server.ML_REFRESH_TOKEN
    yield url, account, email
    server.shutdown()
    server.server_close()


def shot(page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page draws the sticky header mid-page
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, url: str, email: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{url}/")


def pick_item(container, text: str, item_name: str) -> None:
    """Type in an ERP item picker and choose a result, like a person does."""
    container.locator(".picker-input").first.fill(text)
    container.locator(".picker-results li[role=option]", has_text=item_name).first.click()
    container.locator(".picker-chosen-label", has_text=item_name).first.wait_for()


def test_the_whole_flow_in_the_browser(browser, served, ui_ctx, ui_sandbox):
    from playwright.sync_api import expect

    url, account, email = served
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="es-CO")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Chromium also logs the 400/401 answers this flow provokes on purpose (a wrong password, a wrong
    # token) as "Failed to load resource"; anything else on the console is a script error.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)

    # -- sign in
    page.goto(f"{url}/login")
    shot(page, "01-login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill("no-es-la-clave")
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("alert")).to_have_text("Correo o contraseña incorrectos.")
    sign_in(page, url, email)
    expect(page.get_by_role("heading", name="Primeros pasos")).to_be_visible()
    shot(page, "02-inicio-cuenta-nueva")

    # -- connect Alegra: a wrong token first, then the right one
    page.get_by_role("link", name="Conectar el ERP").click()  # two ERPs registered: the connections page
    page.get_by_role("link", name="Conectar Alegra").click()
    page.get_by_label("Correo del usuario de Alegra").fill(sandbox_server.ALEGRA_EMAIL)
    page.get_by_label("Token de la API").fill("token-equivocado")
    page.get_by_role("button", name="Siguiente").click()
    expect(page.get_by_role("alert")).to_contain_text("Alegra rechazó las credenciales")
    expect(page.get_by_label("Correo del usuario de Alegra")).to_have_value(sandbox_server.ALEGRA_EMAIL)
    shot(page, "03-alegra-credencial-incorrecta")
    page.get_by_label("Token de la API").fill(sandbox_server.ALEGRA_TOKEN)
    page.get_by_role("button", name="Siguiente").click()
    page.wait_for_url(re.compile(r".*/settings/configuration$"))
    expect(page.locator(".alert-success")).to_contain_text("Alegra conectado: Tienda Cafetera S.A.S.")

    # -- configure: Configuración (shipping item picked from the catalog), then Facturación automática
    expect(page.get_by_label("Bodega")).to_contain_text("Bodega principal")  # dropdown filled from Alegra
    page.get_by_label("Ver observaciones en la factura (PDF)").check()
    page.get_by_label("Email por defecto").fill("facturas@tiendacafetera.co")  # e-invoices need one
    page.get_by_label("Teléfono por defecto").fill("6045550000")
    pick_item(page.locator(".field", has=page.locator("#f-shipping_item_id")), "ENVIO", "Envío")
    shot(page, "04-configuracion")
    page.get_by_role("button", name="Guardar y seguir").click()
    page.wait_for_url(re.compile(r".*/settings/auto-invoicing$"))
    page.get_by_label("Facturación automática", exact=True).check()
    page.get_by_label("Mandar factura en estado abierta").check()
    page.get_by_label("Expedir / Emitir factura").check()
    page.get_by_role("button", name="Guardar").click()
    expect(page.locator(".alert-success")).to_have_text("Cambios guardados.")
    shot(page, "05-facturacion-automatica")
    settings = services.show_settings(ui_ctx, account)
    assert settings.enabled and settings.invoice_status == "open" and settings.stamp
    assert settings.shipping_item_id and settings.show_observations_on_pdf and settings.default_phone == "6045550000"

    # -- connect Mercado Libre: OAuth round trip through the sandbox's consent page
    page.get_by_role("link", name="Conexiones").click()
    page.get_by_role("link", name="Conectar Mercado Libre").click()
    page.locator("#oauth-client_id").fill(sandbox_server.ML_CLIENT_ID)
    page.locator("#oauth-client_secret").fill(sandbox_server.ML_CLIENT_SECRET)
    shot(page, "06-conectar-mercado-libre")
    page.get_by_role("button", name="Ir a Mercado Libre para autorizar").click()
    page.wait_for_url(re.compile(re.escape(ui_sandbox.ml_url) + r"/authorization\?.*"))
    page.get_by_role("button", name="Permitir").click()
    page.wait_for_url(f"{url}/connections")
    expect(page.locator(".alert-success")).to_contain_text("Mercado Libre conectado: TIENDACAFETERA")
    assert sandbox_server.ML_CLIENT_SECRET not in page.content()
    shot(page, "07-conexiones")

    # -- sync now, with visible progress
    page.get_by_role("link", name="Sincronización").click()
    page.get_by_role("button", name="Sincronizar ahora").click()
    expect(page.locator("#sync-progress")).to_be_visible()
    expect(page.locator("#sync-message")).to_contain_text("Listo: 12 órdenes leídas", timeout=30_000)
    page.wait_for_url(re.compile(r".*/sync\?job=.*"))
    expect(page.locator("#sync-message")).to_contain_text("3 en la cola de errores")
    shot(page, "08-sincronizacion")

    # -- the error queue: an order held by an unknown SKU; search the catalog, pick, "Facturar"
    page.get_by_role("link", name=re.compile("Cola de errores")).click()
    card = page.locator("article.queue-item", has_text="VELA-AROM-02").first
    expect(card.locator(".reason-box")).to_contain_text("no coincide con ningún producto del ERP")
    shot(page, "09-cola-de-errores")
    external_id = card.locator("a.strong").inner_text().replace("Orden ", "")
    card.locator(".picker-input").fill("VEL-SOY")
    expect(card.locator(".picker-results li[role=option]").first).to_contain_text("Vela aromática de soya 200 g")
    shot(page, "10-buscar-producto")
    card.locator(".picker-results li[role=option]").first.click()
    expect(card.locator(".picker-chosen-label")).to_contain_text("Vela aromática de soya 200 g")
    card.get_by_role("button", name="Facturar").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Orden {external_id} facturada: factura")
    shot(page, "11-facturada-desde-la-cola")

    # -- the order is invoiced: its detail shows the invoice, the item and the trail
    page.get_by_role("link", name="Órdenes", exact=True).click()
    page.get_by_role("link", name=external_id).click()
    expect(page.locator("h1 .badge")).to_have_text("Facturada")
    expect(page.locator(".facts").nth(1)).to_contain_text("FEV")
    products = page.locator("section.card", has=page.get_by_role("heading", name="Productos", exact=True))
    expect(products.locator("table")).to_contain_text("asignado a mano")  # (the money table is another)
    expect(page.locator(".timeline")).to_contain_text(f"web:{email}")
    shot(page, "12-orden-facturada")

    # -- SKU mismatches: the remaining SKU blocks two orders; map it once, both are invoiced
    page.get_by_role("link", name="SKU sin producto").click()
    row = page.locator("article.mismatch", has_text="VELA-AROM-01")
    expect(row.locator(".blocked")).to_contain_text("2")
    shot(page, "13-sku-sin-producto")
    pick_item(row, "vela", "Vela aromática de soya 200 g")
    row.get_by_role("button", name="Asignar producto").click()
    expect(page.locator(".alert-success").last).to_contain_text("2 órdenes facturadas.")
    assert services.error_queue(ui_ctx, account) == []
    page.get_by_role("link", name="Órdenes", exact=True).click()
    shot(page, "14-ordenes")
    page.get_by_role("link", name="Inicio").click()
    shot(page, "15-inicio")

    # -- English, one click away
    page.get_by_role("button", name="EN").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shot(page, "16-home-english")
    page.get_by_role("button", name="ES").click()
    assert not errors, errors
    context.close()


PHONE_PAGES = [("inicio", "/"), ("ordenes", "/orders"), ("cola-de-errores", "/errors"),
               ("sku-sin-producto", "/mismatches"), ("sincronizacion", "/sync"), ("conexiones", "/connections"),
               ("configuracion", "/settings/configuration"), ("facturacion-automatica", "/settings/auto-invoicing")]


def test_the_main_pages_fit_a_phone(browser, served, ui_ctx, ui_sandbox):
    """A second seller, synced but not fixed yet (so the error queue has work), on a phone."""
    url, _account, _email = served
    account = fresh_seller(ui_ctx, ui_sandbox)
    sync_once(ui_ctx, account)
    email = new_user(ui_ctx, account)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="es-CO")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/login")
    shot(page, "phone-01-login")
    sign_in(page, url, email)
    order = services.list_orders(ui_ctx, account, states=["invoiced"])[0]
    for index, (name, path) in enumerate(PHONE_PAGES + [("orden", f"/orders/{order.id}")], start=2):
        page.goto(url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone screen"
        sticking_out = page.evaluate("""() => [...document.querySelectorAll(
            '.card input:not([type=hidden]), .card select, .card button')].filter(el => {
                const card = el.closest('.card').getBoundingClientRect(), box = el.getBoundingClientRect();
                return box.width > 0 && box.right > card.right + 1; }).map(el => el.name || el.id || el.textContent)""")
        assert not sticking_out, f"{path}: {sticking_out} stick out of their card"
        shot(page, f"phone-{index:02d}-{name}")
    # The menu scrolls sideways instead of wrapping; every entry is reachable.
    page.get_by_role("link", name="Configuración").scroll_into_view_if_needed()
    page.get_by_role("link", name="Configuración").click()
    page.wait_for_url(re.compile(r".*/settings/configuration$"))
    context.close()
