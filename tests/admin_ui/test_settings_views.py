"""The "Configuración" and "Facturación automática" pages (seed 004)."""

import re

import pytest

from admin_ui import forms
from connector import services
from connector.rules import InvoicingSettings
from tests.admin_ui.conftest import client_for, page_text

STALE = "Alguien cambió esta configuración mientras la editabas; recarga la página."


def _form(client, path) -> dict:
    """The page's form as the browser would submit it (checked boxes, selected options, inputs)."""
    page = client.get(path).get_data(as_text=True)
    html = re.search(r'<form method="post" class="form card settings-form".*?</form>', page, flags=re.S).group(0)
    data: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name or name.group(1) == "csrf_token":
            continue
        if kind and kind.group(1) in ("checkbox", "radio") and "checked" not in tag:
            continue
        data.setdefault(name.group(1), []).append(value.group(1) if value else "")
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, flags=re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body) or re.search(r'<option value="([^"]*)"', body)
        data[name] = [chosen.group(1)] if chosen else []
    return data


def test_every_invoicing_setting_is_on_exactly_one_page():
    names = [f.name for f in forms.CONFIGURATION_FIELDS + forms.AUTO_INVOICING_FIELDS]
    assert sorted(names) == sorted(InvoicingSettings.model_fields) and len(names) == len(set(names))


def test_configuration_page_has_the_seed_fields_and_erp_dropdowns(client):
    response = client.get("/settings/configuration")
    assert response.status_code == 200
    text = page_text(response)
    for label in ("Ver observaciones en la factura (PDF)", "Usar código de barras", "Usar código de referencia",
                  "Usar impuestos", "Lista de precios", "Bodega", "Email por defecto", "Teléfono por defecto",
                  "Documento por defecto", "Facturar el costo de envío"):
        assert label in text
    html = response.get_data(as_text=True)
    assert re.search(r'<select id="f-warehouse_id"[^>]*>.*Bodega principal.*</select>', html, flags=re.S)
    assert re.search(r'<select id="f-price_list_id"[^>]*>.*General.*</select>', html, flags=re.S)
    assert "Envío (#" in text  # the shipping item is shown by name


def test_auto_invoicing_page_has_the_seed_fields(client):
    text = page_text(client.get("/settings/auto-invoicing"))
    for label in ("Facturación automática", "Canales de origen", "Estado de las órdenes", "Pendientes", "Enviadas",
                  "Completadas", "Canceladas", "Otras", "Facturar órdenes de fulfillment",
                  "Mandar factura en estado abierta", "Inventario / Depósito", "Expedir / Emitir factura",
                  "Tipo de identificación", "Tipo de persona", "Régimen", "Forma de pago", "Método de pago",
                  "Numeración", "Factura electrónica de venta"):
        assert label in text, label


def test_saving_the_configuration(client, ui_ctx, ui_seller):
    data = _form(client, "/settings/configuration")
    data.update(default_phone=["3001234567"], match_by=["reference"], default_email=["ventas@tienda.co"])
    data.pop("apply_taxes", None)  # unchecked
    response = client.post("/settings/configuration", data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/settings/configuration"
    settings = services.show_settings(ui_ctx, ui_seller)
    assert settings.default_phone == "3001234567" and settings.match_by == "reference"
    assert settings.apply_taxes is False and settings.default_email == "ventas@tienda.co"
    assert settings.shipping_item_id  # untouched fields keep their values
    assert "Cambios guardados." in page_text(client.get("/settings/configuration"))


def test_save_and_continue_goes_to_auto_invoicing(client):
    data = _form(client, "/settings/configuration")
    response = client.post("/settings/configuration", data={**data, "next": "1"})
    assert response.headers["Location"] == "/settings/auto-invoicing"


def test_saving_auto_invoicing(client, ui_ctx, ui_seller):
    data = _form(client, "/settings/auto-invoicing")
    data.update(order_states=["shipped", "completed"], payment_form=["CREDIT"], kind_of_person=["LEGAL_ENTITY"])
    data.pop("invoice_status", None)  # unchecked: draft
    data.pop("enabled", None)
    response = client.post("/settings/auto-invoicing", data=data)
    assert response.status_code == 302
    settings = services.show_settings(ui_ctx, ui_seller)
    assert [s.value for s in settings.order_states] == ["shipped", "completed"]
    assert settings.invoice_status == "draft" and settings.enabled is False
    assert settings.payment_form == "CREDIT" and settings.kind_of_person == "LEGAL_ENTITY"


def test_a_bad_value_is_explained_and_nothing_typed_is_lost(client, ui_ctx, ui_seller):
    data = _form(client, "/settings/configuration")
    data.update(default_email=["esto-no-es-un-correo"], default_phone=["6045551234"], observations=["Venta {order_id}"])
    response = client.post("/settings/configuration", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "no es un e-mail válido" in page_text(response)
    assert 'value="esto-no-es-un-correo"' in html and 'value="6045551234"' in html and 'value="Venta {order_id}"' in html
    assert services.show_settings(ui_ctx, ui_seller).default_phone is None  # nothing was saved


def test_an_erp_choice_that_does_not_exist_is_refused(client, ui_ctx, ui_seller):
    data = _form(client, "/settings/configuration")
    data["warehouse_id"] = ["999"]
    response = client.post("/settings/configuration", data=data)
    assert response.status_code == 400
    assert "La bodega 999 no existe en el ERP" in page_text(response)
    assert '<option value="999" selected>999</option>' in response.get_data(as_text=True)


def test_a_channel_connection_keeps_its_own_values_and_inherits_the_rest(client, ui_ctx, ui_seller):
    [channel] = services.list_channel_connections(ui_ctx, ui_seller)
    path = f"/settings/auto-invoicing?scope={channel.id}"
    page = page_text(client.get(path))
    assert "solo aplican a las órdenes de esta conexión" in page
    data = _form(client, path)
    data["invoice_fulfillment"] = ["true"]
    response = client.post(path, data={**data, "scope": str(channel.id)})
    assert response.status_code == 302
    with ui_ctx.db.session() as session:
        from connector.models import ChannelConnection

        overrides = session.get(ChannelConnection, channel.id).settings_overrides
    assert overrides == {"invoice_fulfillment": True}  # only what changed
    assert services.show_settings(ui_ctx, ui_seller, channel.id).invoice_fulfillment is True
    assert services.show_settings(ui_ctx, ui_seller).invoice_fulfillment is False


def test_settings_without_an_erp_send_you_to_connect_it(bare_client):
    response = bare_client.get("/settings/configuration")
    assert response.status_code == 302 and response.headers["Location"] == "/connections"
    assert "Primero conecta tu ERP" in page_text(bare_client.get("/connections"))


def test_an_unreachable_erp_keeps_the_current_values(client, ui_sandbox):
    import time

    ui_sandbox.alegra_state  # noqa: B018 - the sandbox is up; put Alegra in maintenance
    ui_sandbox.alegra_knobs.maintenance_until = time.time() + 60
    try:
        response = client.get("/settings/configuration")
    finally:
        ui_sandbox.alegra_knobs.maintenance_until = 0
    assert response.status_code == 200
    text = page_text(response)
    assert "No se pudieron leer las opciones de Alegra" in text
    assert re.search(r'<select id="f-warehouse_id"[^>]*>.*<option value="1" selected>1</option>',
                     response.get_data(as_text=True), flags=re.S)


@pytest.mark.parametrize("page", ["configuration", "auto-invoicing"])
def test_an_unknown_scope_is_not_found(client, page):
    assert client.get(f"/settings/{page}?scope=999999").status_code == 404
    assert client.get(f"/settings/{page}?scope=abc").status_code == 404


def test_two_sessions_saving_the_same_form_the_second_is_refused_and_the_first_stays(app, client, seller_email,
                                                                                      ui_ctx, ui_seller):
    other = client_for(app, seller_email)  # the same seller in another tab, or a colleague
    first, second = _form(client, "/settings/configuration"), _form(other, "/settings/configuration")
    first.update(default_phone=["3001111111"])
    second.update(default_phone=["3002222222"], default_email=["otra@tienda.co"])
    assert client.post("/settings/configuration", data=first).status_code == 302
    refused = other.post("/settings/configuration", data=second)
    assert refused.status_code == 409 and STALE in page_text(refused)
    assert 'value="3002222222"' in refused.get_data(as_text=True)  # what they typed is still on the page
    settings = services.show_settings(ui_ctx, ui_seller)
    assert settings.default_phone == "3001111111" and settings.default_email != "otra@tienda.co"
    # After reloading, their save goes through.
    again = _form(other, "/settings/configuration")
    again.update(default_phone=["3002222222"])
    assert other.post("/settings/configuration", data=again).status_code == 302
    assert services.show_settings(ui_ctx, ui_seller).default_phone == "3002222222"


def test_a_channel_form_is_stale_once_the_general_settings_it_shows_change(client, ui_ctx, ui_seller):
    [channel] = services.list_channel_connections(ui_ctx, ui_seller)
    path = f"/settings/auto-invoicing?scope={channel.id}"
    channel_form = _form(client, path)
    general = _form(client, "/settings/auto-invoicing")
    general.pop("enabled", None)  # the account's invoicing turned off
    assert client.post("/settings/auto-invoicing", data=general).status_code == 302
    channel_form["invoice_fulfillment"] = ["true"]  # a form still showing "enabled" inherited as on
    refused = client.post(path, data={**channel_form, "scope": str(channel.id)})
    assert refused.status_code == 409 and STALE in page_text(refused)
    assert services.show_settings(ui_ctx, ui_seller, channel.id).enabled is False  # not put back as an override
    assert services.show_settings(ui_ctx, ui_seller, channel.id).invoice_fulfillment is False


def test_the_stale_form_message_is_in_english_too(app, client, seller_email):
    client.post("/language", data={"locale": "en", "next": "/"})
    form = _form(client, "/settings/configuration")
    other = client_for(app, seller_email)
    other.post("/settings/configuration", data=_form(other, "/settings/configuration") | {"default_phone": ["3001"]})
    refused = client.post("/settings/configuration", data=form)
    assert refused.status_code == 409
    assert "Someone changed these settings while you were editing them; reload the page." in page_text(refused)


# -- the ERP's country decides the fiscal dropdowns --------------------------------------------------


def _fiscal_options(client, name: str) -> list[str]:
    page = client.get("/settings/auto-invoicing").get_data(as_text=True)
    body = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, flags=re.S).group(1)
    return re.findall(r'<option value="([^"]*)"', body)


def test_the_fiscal_dropdowns_are_the_erp_countrys_own_lists(app, ui_ctx, ui_sandbox):
    """A Colombian Alegra account picks DIAN's codes (Alegra's spelling of "no responsable de INC"); a
    Mexican one SAT's régimen fiscal and RFC — the panel holds neither list."""
    from tests.admin_ui.conftest import new_user

    colombian = client_for(app, new_user(ui_ctx, _connected(ui_ctx, ui_sandbox, "CO")))
    regimes = _fiscal_options(colombian, "regime")
    assert "NOT_REPONSIBLE_FOR_CONSUMPTION" in regimes and "SIMPLIFIED_REGIME" in regimes
    assert "NUIP" in _fiscal_options(colombian, "identification_type")

    mexican = client_for(app, new_user(ui_ctx, _connected(ui_ctx, ui_sandbox, "MX")))
    assert "616" in _fiscal_options(mexican, "regime") and "SIMPLIFIED_REGIME" not in _fiscal_options(mexican, "regime")
    assert _fiscal_options(mexican, "identification_type")[1:] == ["RFC", "FOREIGN"]  # after "the country's default"
    assert "PPD" in _fiscal_options(mexican, "payment_form")


def _connected(ctx, box, country: str) -> int:
    from sandbox import server as sandbox_server
    from tests.admin_ui.conftest import new_account

    account_id = new_account(ctx)
    services.connect_erp(ctx, account_id, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                     "token": sandbox_server.ALEGRA_TOKEN, "country": country},
                         base_url=box.alegra_url)
    return account_id
