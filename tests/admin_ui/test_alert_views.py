"""The alerts page (SMTP settings, test e-mail) and the banner, against a local SMTP server."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector import alerts
from connector.errors import InvalidCredentials
from connector.models import AlertSettings
from tests.admin_ui.conftest import page_text
from tests.connector.test_alerts import Inbox, _free_port


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_settings_saved_then_a_test_email_arrives(client, ui_ctx, ui_seller, smtp):
    controller, inbox = smtp
    response = client.post("/alerts", data={
        "smtp_host": "127.0.0.1", "smtp_port": str(controller.port), "security": "none", "smtp_user": "",
        "smtp_password": "clave-secreta-1", "from_address": "alertas@tienda.co", "recipients": "ana@tienda.co",
        "queue_growth_threshold": "5"})
    assert response.status_code == 302
    page = client.get("/alerts").get_data(as_text=True)
    assert "Alertas guardadas." in page and "clave-secreta-1" not in page
    with ui_ctx.db.session() as session:
        row = session.scalar(select(AlertSettings).where(AlertSettings.account_id == ui_seller))
        assert "clave-secreta-1" not in row.smtp_password_encrypted
    response = client.post("/alerts/test")
    assert "Correo de prueba enviado" in page_text(client.get(response.headers["Location"]))
    assert len(inbox.messages) == 1 and inbox.messages[0].rcpt_tos == ["ana@tienda.co"]


def test_bad_settings_are_listed_and_the_test_without_smtp_explains(client, ui_seller):
    response = client.post("/alerts", data={"smtp_host": "smtp.x.co", "smtp_port": "abc", "security": "x",
                                            "from_address": "nadie", "recipients": "", "queue_growth_threshold": "-1"})
    assert response.status_code == 200
    text = page_text(response)
    assert "El puerto debe ser un número" in text and "no parece un correo" in text and "1 y 10000" in text
    response = client.post("/alerts/test")
    assert "Configura primero el servidor de correo" in page_text(client.get(response.headers["Location"]))


def test_the_banner_shows_on_every_page_until_dismissed(client, ui_ctx, ui_seller):
    with ui_ctx.db.transaction() as session:
        alerts.note_error(session, ui_seller, InvalidCredentials("x"), erp_name="Mi ERP")
    html = client.get("/orders").get_data(as_text=True)
    assert 'id="alert-banners"' in html and "Mi ERP rechazó las credenciales" in html
    [alert] = alerts.active_alerts(ui_ctx, ui_seller)
    response = client.post(f"/alerts/{alert.id}/dismiss", data={"next": "/orders"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/orders")
    assert 'id="alert-banners"' not in client.get("/orders").get_data(as_text=True)
    assert client.post("/alerts/99999999999999999999/dismiss").status_code in (302, 404)
