"""The connection page shows the ERP's notifications (the mirror's webhook subscriptions) and lets the
seller take them off and subscribe them again."""

from __future__ import annotations

import pytest

from sandbox import server as sandbox_server
from tests.admin_ui.conftest import page_text

ALEGRA_FORM = {"name": "Alegra (mi tienda)", "email": sandbox_server.ALEGRA_EMAIL, "country": "CO"}


@pytest.fixture
def public_url(ui_ctx):
    ui_ctx.settings.public_url = "http://127.0.0.1:9"  # nothing listens: deliveries fail fast, harmlessly
    yield ui_ctx.settings.public_url
    ui_ctx.settings.public_url = None


def test_without_a_public_address_the_page_says_the_catalog_is_read_by_age(bare_client, ui_sandbox):
    bare_client.post("/connections/erp/alegra", data={**ALEGRA_FORM, "token": sandbox_server.ALEGRA_TOKEN,
                                                      "base_url": ui_sandbox.alegra_url})
    text = page_text(bare_client.get("/connections"))
    assert "Notificaciones del ERP" in text and "Sin dirección pública configurada" in text


def test_connected_notifications_show_one_state_per_change_and_can_be_taken_off(bare_client, ui_sandbox,
                                                                                public_url):
    bare_client.post("/connections/erp/alegra", data={**ALEGRA_FORM, "token": sandbox_server.ALEGRA_TOKEN,
                                                      "base_url": ui_sandbox.alegra_url})
    text = page_text(bare_client.get("/connections"))
    assert "Al día" in text and text.count("Suscrito") == 7
    assert "Productos creados: Suscrito" in text and "Contactos eliminados: Suscrito" in text
    assert "new-item" not in text  # the ERP's own event names stay out of the seller's page

    response = bare_client.post("/connections/erp/webhooks", data={"action": "off"})
    assert response.status_code == 302
    text = page_text(bare_client.get("/connections"))
    assert "Se retiraron las notificaciones del ERP" in text and "Sin suscribir" in text
    bare_client.post("/connections/erp/webhooks", data={"action": "on"})
    assert page_text(bare_client.get("/connections")).count("Suscrito") == 7
    bare_client.post("/connections/erp/webhooks", data={"action": "off"})  # leave the shared sandbox clean
