"""Connecting Siigo from the panel: the form is Siigo's declaration (no Siigo line in admin_ui/), the
credentials are checked against the sandbox before saving, and the access key never comes back."""

from sandbox import server as sandbox_server
from tests.admin_ui.conftest import page_text


def test_the_siigo_form_comes_from_its_declaration(bare_client):
    text = page_text(bare_client.get("/connections/erp/siigo"))
    assert "Usuario de la API de Siigo" in text and "Access key de la API" in text
    assert "Alianzas" in text  # its setup help


def test_a_refused_access_key_is_said_in_siigos_words_and_never_echoed(bare_client, ui_sandbox):
    response = bare_client.post("/connections/erp/siigo", data={
        "username": sandbox_server.SIIGO_USERNAME, "access_key": "clave-equivocada-123",
        "base_url": ui_sandbox.siigo_url})
    assert response.status_code == 400
    assert "Siigo rechazó las credenciales" in page_text(response)
    assert "clave-equivocada-123" not in response.get_data(as_text=True)


def test_connecting_siigo_saves_it_with_a_masked_hint(bare_client, ui_sandbox):
    response = bare_client.post("/connections/erp/siigo", data={
        "username": sandbox_server.SIIGO_USERNAME, "access_key": sandbox_server.SIIGO_ACCESS_KEY,
        "base_url": ui_sandbox.siigo_url})
    assert response.status_code == 302
    html = bare_client.get("/connections").get_data(as_text=True)
    assert sandbox_server.SIIGO_ACCESS_KEY not in html
    assert "••••" + sandbox_server.SIIGO_ACCESS_KEY[-4:] in page_text(bare_client.get("/connections"))
