"""Alerts by e-mail through a real local SMTP server (aiosmtpd): the mail arrives, at most one per kind
per hour and account, the queue-growth threshold, credentials refused, bad settings explained."""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from connector import alerts, services
from connector.errors import ConfigurationError, InvalidCredentials
from connector.models import Alert, AlertSettings, Order
from connector.scheduler import sweep_due_orders
from connector.states import OrderState
from connector.users import account_language, create_user


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def account(ctx, smtp):
    controller, _ = smtp
    account = services.create_account(ctx, "Tienda").id
    problems = alerts.save_alert_settings(ctx, account, {
        "smtp_host": "127.0.0.1", "smtp_port": str(controller.port), "security": "none", "smtp_user": "",
        "from_address": "alertas@tienda.co", "recipients": "ana@tienda.co, contador@tienda.co",
        "queue_growth_threshold": "3"})
    assert problems == []
    return account


def _errored_orders(ctx, account_id: int, count: int) -> None:
    """``count`` orders in the error queue (what the pipeline leaves there), straight in the database."""
    from connector.models import ChannelConnection

    with ctx.db.transaction() as session:
        channel = session.scalar(select(ChannelConnection).where(ChannelConnection.account_id == account_id))
        if channel is None:
            channel = ChannelConnection(account_id=account_id, kind="x", name="Tienda web", credentials_encrypted="")
            session.add(channel)
            session.flush()
        start = session.query(Order).filter(Order.account_id == account_id).count()
        for i in range(count):
            session.add(Order(account_id=account_id, channel_connection_id=channel.id, external_id=f"E{start + i}",
                              state=OrderState.ERROR.value, state_reason="SKU sin producto"))


def test_the_queue_growing_past_the_threshold_sends_one_mail_per_hour(ctx, smtp, account):
    _, inbox = smtp
    assert alerts.check_account(ctx, account) == []  # first look: the baseline (0)
    _errored_orders(ctx, account, 2)
    assert alerts.check_account(ctx, account) == []  # +2 < threshold 3
    _errored_orders(ctx, account, 1)
    assert alerts.check_account(ctx, account) == ["sent"]
    [mail] = inbox.messages
    assert mail.rcpt_tos == ["ana@tienda.co", "contador@tienda.co"] and mail.mail_from == "alertas@tienda.co"
    body = mail.content.decode()
    assert "La cola de errores creci=C3=B3" in body or "La cola de errores creció" in body
    assert "3 órdenes" in body or "3 =C3=B3rdenes" in body
    # The queue grows again within the hour: a banner, no second e-mail (the rate limit holds).
    with ctx.db.transaction() as session:
        session.execute(update(Alert).values(dismissed_at=Alert.raised_at))  # the seller closed the banner
    _errored_orders(ctx, account, 3)
    assert alerts.check_account(ctx, account) == ["suppressed"]
    assert len(inbox.messages) == 1
    assert [a.kind for a in alerts.active_alerts(ctx, account)] == ["error_queue"]
    # An hour later, the next growth is e-mailed again.
    with ctx.db.transaction() as session:
        for alert in session.scalars(select(Alert)):
            alert.raised_at -= timedelta(hours=1, minutes=1)
            alert.emailed_at = alert.emailed_at and alert.emailed_at - timedelta(hours=1, minutes=1)
    _errored_orders(ctx, account, 3)
    assert alerts.check_account(ctx, account) == ["sent"]
    assert len(inbox.messages) == 2


def test_each_kind_has_its_own_hourly_allowance(ctx, smtp, account):
    _, inbox = smtp
    with ctx.db.transaction() as session:
        alerts.note_error(session, account, InvalidCredentials("rechazadas"), erp_name="Mi ERP")
        alerts.note_channel_error(session, account, InvalidCredentials("token"), channel_name="Tienda web")
        alerts.note_error(session, account, ConfigurationError("otra cosa"), erp_name="Mi ERP")  # not an alert
    assert sorted(alerts.send_pending(ctx, account)) == ["sent", "sent"]
    texts = sorted(m.content.decode("utf-8", "replace") for m in inbox.messages)
    assert any("Mi ERP rechaz" in t for t in texts) and any("Tienda web" in t for t in texts)
    with ctx.db.transaction() as session:  # the same trouble again within the hour: one banner, no mail
        alerts.note_error(session, account, InvalidCredentials("rechazadas"), erp_name="Mi ERP")
    assert alerts.send_pending(ctx, account) == []
    assert len(inbox.messages) == 2


def test_rejected_e_invoices_raise_an_alert(ctx, smtp, account):
    _, inbox = smtp
    alerts.check_account(ctx, account)
    _errored_orders(ctx, account, 1)
    with ctx.db.transaction() as session:
        session.execute(update(Order).values(state=OrderState.REJECTED.value))
    assert alerts.check_account(ctx, account) == ["sent"]
    assert "facturas electr" in inbox.messages[0].content.decode("utf-8", "replace")


def test_the_scheduler_sweep_runs_the_check(ctx, smtp, account):
    _, inbox = smtp
    alerts.check_account(ctx, account)
    _errored_orders(ctx, account, 4)
    counts = sweep_due_orders(ctx)
    assert counts.get("alerts:sent") == 1 and len(inbox.messages) == 1


def test_celery_beat_runs_the_check():
    from connector.tasks import celery_app, check_alerts_task

    assert celery_app.conf.beat_schedule["alerts"]["task"] == check_alerts_task.name == "connector.check_alerts"


def test_without_smtp_settings_alerts_still_show_and_the_test_button_explains(ctx):
    account = services.create_account(ctx, "Sin correo").id
    with ctx.db.transaction() as session:
        alerts.note_error(session, account, InvalidCredentials("x"), erp_name="Mi ERP")
    assert alerts.send_pending(ctx, account) == ["no_smtp"]
    assert [a.kind for a in alerts.active_alerts(ctx, account)] == ["erp_auth"]
    with pytest.raises(ConfigurationError, match="Configura primero el servidor de correo"):
        alerts.send_test_email(ctx, account)


def test_the_test_email_arrives_and_a_dead_server_is_explained(ctx, smtp, account):
    _, inbox = smtp
    alerts.send_test_email(ctx, account)
    assert len(inbox.messages) == 1 and "prueba" in inbox.messages[0].content.decode("utf-8", "replace")
    assert alerts.active_alerts(ctx, account) == []  # a test is no banner
    with ctx.db.transaction() as session:
        session.execute(update(AlertSettings).values(smtp_port=_free_port()))  # nobody listens there
    with pytest.raises(ConfigurationError, match="No se pudo conectar con el servidor de correo 127.0.0.1"):
        alerts.send_test_email(ctx, account)


def test_the_password_is_stored_encrypted_and_kept_when_left_empty(ctx, smtp, account):
    controller, _ = smtp
    values = {"smtp_host": "127.0.0.1", "smtp_port": str(controller.port), "security": "none", "smtp_user": "ana",
              "smtp_password": "s3creta-muy-larga", "from_address": "alertas@tienda.co", "recipients": "ana@tienda.co"}
    assert alerts.save_alert_settings(ctx, account, values) == []
    with ctx.db.session() as session:
        row = session.scalar(select(AlertSettings).where(AlertSettings.account_id == account))
        assert "s3creta" not in row.smtp_password_encrypted
        assert alerts.smtp_config(ctx, session, account).password == "s3creta-muy-larga"
    assert alerts.save_alert_settings(ctx, account, {**values, "smtp_password": ""}) == []
    with ctx.db.session() as session:
        assert alerts.smtp_config(ctx, session, account).password == "s3creta-muy-larga"
    assert alerts.alert_settings_view(ctx, account)["has_password"] is True
    assert "s3creta" not in str(alerts.alert_settings_view(ctx, account))


def test_bad_settings_are_all_listed_and_nothing_is_saved(ctx):
    account = services.create_account(ctx, "Tienda").id
    problems = alerts.save_alert_settings(ctx, account, {
        "smtp_host": "smtp.tienda.co", "smtp_port": "99999", "security": "quantum", "from_address": "no-es-correo",
        "recipients": "ana@tienda.co, =cmd", "queue_growth_threshold": "0"})
    assert len(problems) == 6, problems
    assert any("puerto" in p for p in problems) and any("«=cmd»" in p for p in problems)
    assert alerts.alert_settings_view(ctx, account)["smtp_host"] == ""


def test_a_channel_refusing_the_token_refresh_raises_an_alert(ctx, sandbox):
    from connector.sync import sync_once
    from tests.conftest import connect_seller

    account = connect_seller(ctx, sandbox)
    sandbox.ml_state.refresh_token = "revocado"  # the marketplace revoked the app's access
    sandbox.ml_state.access_tokens.clear()
    sync_once(ctx, account)
    [alert] = alerts.active_alerts(ctx, account)
    [connection] = services.list_channel_connections(ctx, account)
    assert alert.kind == "channel_auth" and alert.params == {"channel": connection.name}


def test_the_erp_refusing_the_credentials_while_invoicing_raises_an_alert(ctx, sandbox):
    from connector.sync import sync_once
    from sandbox import server as sandbox_server
    from tests.conftest import connect_seller

    account = connect_seller(ctx, sandbox)
    sandbox.alegra_state.users[sandbox_server.ALEGRA_EMAIL] = "otro-token"  # the seller changed it in the ERP
    sync_once(ctx, account)
    [alert] = alerts.active_alerts(ctx, account)
    erp = services.find_erp_connection(ctx, account)
    assert alert.kind == "erp_auth" and alert.params == {"erp": erp.name}


# -- the account's language -----------------------------------------------------------------------


def _read(envelope) -> tuple[str, str]:
    """(subject, body) of a received message, decoded (the wire's folding and line ends made plain again)."""
    mail = message_from_bytes(envelope.content, policy=email_policy.default)
    return " ".join(str(mail["Subject"]).split()), mail.get_content().replace("\r\n", "\n")


@pytest.mark.parametrize(("locale", "subject", "body"), [
    ("en", "Invoicing alert: The error queue grew: 3 orders wait for a fix (there were 0).",
     "The error queue grew: 3 orders wait for a fix (there were 0).\n\n— Marketplace invoicing\n"),
    ("es", "Alerta de facturación: La cola de errores creció: 3 órdenes esperan una corrección (eran 0).",
     "La cola de errores creció: 3 órdenes esperan una corrección (eran 0).\n\n— Facturación de marketplaces\n"),
], ids=["en", "es"])
def test_the_alert_email_is_in_the_accounts_language(ctx, smtp, account, locale, subject, body):
    _, inbox = smtp
    create_user(ctx, account, "ana@tienda.co", "una-clave-segura", locale=locale)
    alerts.check_account(ctx, account)
    _errored_orders(ctx, account, 3)
    assert alerts.check_account(ctx, account) == ["sent"]
    assert _read(inbox.messages[0]) == (subject, body)


def test_the_test_email_is_in_the_accounts_language_too(ctx, smtp, account):
    _, inbox = smtp
    create_user(ctx, account, "ana@tienda.co", "una-clave-segura", locale="en")
    alerts.send_test_email(ctx, account)
    subject, body = _read(inbox.messages[0])
    assert subject == "Invoicing alert: Alerts test e-mail: if you get it, alerts will arrive here."
    assert body.startswith("Alerts test e-mail")


def test_the_language_is_the_recipients_then_the_users_then_spanish(ctx):
    account = services.create_account(ctx, "Tienda").id
    with ctx.db.session() as session:
        assert account_language(session, account) == "es"  # no user: the deployment's default
    create_user(ctx, account, "owner@tienda.co", "una-clave-segura", locale="en")
    with ctx.db.session() as session:
        assert account_language(session, account) == "en"
    create_user(ctx, account, "contador@tienda.co", "una-clave-segura", locale="es")
    with ctx.db.session() as session:
        assert account_language(session, account) == "es"  # a tie: the default
        assert account_language(session, account, ["Owner@Tienda.co", "afuera@otra.co"]) == "en"  # who reads it
        assert account_language(session, account, ["afuera@otra.co"]) == "es"  # no reader is a user: all of them
