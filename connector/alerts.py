"""Alerts: what a seller must know without opening the panel, as a banner and by e-mail.

Kinds: the error queue grew (by ``queue_growth_threshold`` orders or more since it was last reported
or first seen), an e-invoice was rejected, the ERP refused the credentials, a channel lost its access
(its token expired or its refresh failed). An alert is a row (:class:`~connector.models.Alert`):

* raised where the trouble is seen (``note_error`` by the invoicing code, ``note_channel_error`` by the
  pull) or by :func:`check_account`, which the scheduler's sweep and Celery beat run;
* one open banner per kind: while an alert of a kind raised within the hour is not dismissed, a new
  occurrence updates it instead of adding another;
* e-mailed **at most once per kind per hour and account**: before sending, the alerts table is asked
  whether one of that kind went out within the hour; if so the new one is ``suppressed`` (still
  shown in the panel).

E-mail goes through the standard library (``smtplib``, ``email.message``): a single message per
alert to the account's recipients, over STARTTLS, SSL or plain (a local relay), with a timeout. What
the seller reads of a failure is ours, never the library's text. The message is written in the
account's language (:func:`connector.users.account_language`: the one its users chose in the panel,
the recipients' first), through the same gettext catalogs as the panel and the CLI.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.catalogs import SOURCE_LANGUAGE, gettext_for
from connector.context import AppContext
from connector.errors import ConfigurationError, ConnectorError, InvalidCredentials
from connector.models import Account, Alert, AlertSettings, Order, utcnow
from connector.reasons import N_
from connector.states import ERROR_QUEUE_STATES, OrderState
from connector.users import account_language

log = logging.getLogger(__name__)

EMAIL_EVERY = timedelta(hours=1)
BANNER_FOR = timedelta(hours=24)
SMTP_TIMEOUT = 10.0
SECURITY_CHOICES = ("starttls", "ssl", "none")

# What each kind says (Spanish msgids: the panel shows them in the reader's language, the e-mail in the
# account's).
ALERT_TEXT = {
    "error_queue": N_("La cola de errores creció: %(count)s órdenes esperan una corrección (eran %(before)s)."),
    "einvoice_rejected": N_("La autoridad rechazó %(count)s facturas electrónicas: corrige la causa y reenvíalas."),
    "erp_auth": N_("%(erp)s rechazó las credenciales: revisa la conexión del ERP; no se factura hasta entonces."),
    "channel_auth": N_("La conexión «%(channel)s» perdió el acceso (token vencido o revocado): vuelve a conectarla."),
    "test": N_("Correo de prueba de las alertas: si lo recibes, las alertas llegarán aquí."),
}
SUBJECT = N_("Alerta de facturación: %(text)s")
SIGNATURE = N_("Facturación de marketplaces")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str
    password: str
    security: str
    from_address: str
    recipients: tuple[str, ...]


def alert_text(alert: Alert, language: str = SOURCE_LANGUAGE) -> str:
    """What the alert says, in ``language``; stored parameters that no longer fit never stop an e-mail."""
    gettext = gettext_for(language)
    try:
        return gettext(ALERT_TEXT[alert.kind]) % alert.params
    except (KeyError, TypeError, ValueError):
        return gettext(ALERT_TEXT[alert.kind]) if alert.kind in ALERT_TEXT else alert.kind


def email_of(text: str, language: str) -> tuple[str, str]:
    """(subject, body) of the e-mail saying ``text``, in ``language`` (``text`` is already in it)."""
    gettext = gettext_for(language)
    return gettext(SUBJECT) % {"text": text[:120]}, f"{text}\n\n— {gettext(SIGNATURE)}\n"


# -- raising -------------------------------------------------------------------------------------


def raise_alert(session: Session, account_id: int, kind: str, **params: Any) -> Alert:
    """Record an alert of ``kind``; an open one of the same kind from the last hour is updated instead."""
    now = utcnow()
    open_alert = session.scalar(select(Alert).where(
        Alert.account_id == account_id, Alert.kind == kind, Alert.dismissed_at.is_(None),
        Alert.raised_at > now - EMAIL_EVERY).order_by(Alert.id.desc()).limit(1))
    if open_alert is not None:
        open_alert.params = dict(params)
        return open_alert
    alert = Alert(account_id=account_id, kind=kind, params=dict(params), raised_at=now)
    session.add(alert)
    session.flush()
    return alert


def note_error(session: Session, account_id: int, exc: ConnectorError, *, erp_name: str) -> None:
    """Called where an ERP call failed: credentials the ERP refused become an alert."""
    if isinstance(exc, InvalidCredentials):
        raise_alert(session, account_id, "erp_auth", erp=erp_name)


def note_channel_error(session: Session, account_id: int, exc: ConnectorError, *, channel_name: str) -> None:
    """Called where a pull failed: a channel that refused the token (or its refresh) becomes an alert."""
    if isinstance(exc, InvalidCredentials):
        raise_alert(session, account_id, "channel_auth", channel=channel_name)


def check_account(ctx: AppContext, account_id: int) -> list[str]:
    """Raise the alerts the database shows (queue growth, rejected e-invoices), then e-mail what is
    pending. Returns the e-mail states of the alerts handled (for logs and tests)."""
    now = utcnow()
    with ctx.db.transaction() as session:
        settings = _settings_row(session, account_id)
        queue = session.scalar(select(func.count()).select_from(Order).where(
            Order.account_id == account_id, Order.state.in_([s.value for s in ERROR_QUEUE_STATES]))) or 0
        baseline = settings.queue_baseline
        if baseline is None or queue < baseline:
            settings.queue_baseline = queue  # first look, or the seller fixed some: grow from here
        elif queue - baseline >= max(1, settings.queue_growth_threshold):
            raise_alert(session, account_id, "error_queue", count=queue, before=baseline)
            settings.queue_baseline = queue
        since = settings.last_checked_at or now - EMAIL_EVERY
        rejected = session.scalar(select(func.count()).select_from(Order).where(
            Order.account_id == account_id, Order.state == OrderState.REJECTED.value, Order.updated_at > since)) or 0
        if rejected:
            raise_alert(session, account_id, "einvoice_rejected", count=rejected)
        settings.last_checked_at = now
    return send_pending(ctx, account_id)


def check_alerts(ctx: AppContext) -> dict[str, int]:
    """Every account's check (the sweep's and beat's job). One account's trouble never stops the rest."""
    with ctx.db.session() as session:
        account_ids = list(session.scalars(select(Account.id)))
    counts: dict[str, int] = {}
    for account_id in account_ids:
        try:
            for state in check_account(ctx, account_id):
                counts[state] = counts.get(state, 0) + 1
        except Exception:  # noqa: BLE001 - an alert check must never stop invoicing
            log.exception("account %s: alert check failed", account_id)
            counts["crashed"] = counts.get("crashed", 0) + 1
    return counts


# -- e-mail --------------------------------------------------------------------------------------


def send_pending(ctx: AppContext, account_id: int) -> list[str]:
    """E-mail the account's pending alerts, at most one per kind per hour (the alerts table decides)."""
    with ctx.db.session() as session:
        pending = list(session.scalars(select(Alert).where(Alert.account_id == account_id,
                                                           Alert.email_state == "pending").order_by(Alert.id)))
        config = smtp_config(ctx, session, account_id)
        language = account_language(session, account_id, config.recipients if config else ())
        session.expunge_all()
    states = []
    for alert in pending:
        with ctx.db.transaction() as session:
            row = session.get(Alert, alert.id)
            if row is None or row.email_state != "pending":
                continue
            recent = session.scalar(select(Alert.id).where(
                Alert.account_id == account_id, Alert.kind == row.kind, Alert.email_state == "sent",
                Alert.emailed_at > utcnow() - EMAIL_EVERY).limit(1))
            if recent is not None:
                row.email_state = "suppressed"
            elif config is None:
                row.email_state = "no_smtp"
            else:
                # Marked before sending, committed with the decision: a crash mid-send loses one e-mail
                # rather than repeating it every sweep.
                row.email_state, row.emailed_at = "sent", utcnow()
            state, text = row.email_state, alert_text(row, language)
        if state == "sent":
            try:
                send_email(config, *email_of(text, language))
            except ConfigurationError as exc:
                with ctx.db.transaction() as session:
                    row = session.get(Alert, alert.id)
                    row.email_state, row.email_error = "failed", exc.user_message
                state = "failed"
        states.append(state)
    return states


def send_email(config: SmtpConfig, subject: str, body: str) -> None:
    """One message to the configured recipients; a failure is a :class:`ConfigurationError` in the
    seller's words (the library's own message goes to the log only)."""
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, config.from_address, ", ".join(config.recipients)
    message.set_content(body)
    try:
        if config.security == "ssl":
            client = smtplib.SMTP_SSL(config.host, config.port, timeout=SMTP_TIMEOUT,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT)
        with client:
            if config.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.user:
                client.login(config.user, config.password)
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        log.warning("SMTP login refused: %s", exc)
        raise ConfigurationError("El servidor de correo rechazó el usuario o la contraseña.") from None
    except smtplib.SMTPRecipientsRefused as exc:
        log.warning("SMTP recipients refused: %s", exc)
        raise ConfigurationError("El servidor de correo rechazó los destinatarios.") from None
    except smtplib.SMTPSenderRefused as exc:
        log.warning("SMTP sender refused: %s", exc)
        raise ConfigurationError("El servidor de correo rechazó el remitente.") from None
    except smtplib.SMTPNotSupportedError as exc:
        log.warning("SMTP feature missing: %s", exc)
        raise ConfigurationError("El servidor de correo no admite STARTTLS o inicio de sesión: revisa la "
                                 "seguridad elegida.") from None
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        log.warning("SMTP error: %s", exc)
        raise ConfigurationError("El servidor de correo no aceptó el mensaje; revisa la configuración.") from None
    except (TimeoutError, OSError) as exc:
        log.warning("SMTP connection failed: %s", exc)
        raise ConfigurationError(f"No se pudo conectar con el servidor de correo {config.host}:{config.port}.") \
            from None


def smtp_config(ctx: AppContext, session: Session, account_id: int) -> SmtpConfig | None:
    row = session.scalar(select(AlertSettings).where(AlertSettings.account_id == account_id))
    if row is None or not row.smtp_host or not row.from_address or not row.recipients:
        return None
    password = ctx.vault.decrypt(row.smtp_password_encrypted).get("password", "") if row.smtp_password_encrypted \
        else ""
    return SmtpConfig(row.smtp_host, row.smtp_port, row.smtp_user, password, row.security, row.from_address,
                      tuple(row.recipients))


def _settings_row(session: Session, account_id: int) -> AlertSettings:
    row = session.scalar(select(AlertSettings).where(AlertSettings.account_id == account_id))
    if row is None:
        row = AlertSettings(account_id=account_id, recipients=[])
        session.add(row)
        session.flush()
    return row


# -- what the panel and the CLI do ---------------------------------------------------------------


def parse_addresses(text: str) -> list[str]:
    """Recipients separated by commas, semicolons or lines; each must look like an address."""
    found = [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    bad = [a for a in found if not _looks_like_address(a)]
    if bad:
        raise ConfigurationError(f"«{bad[0][:80]}» no parece un correo electrónico.")
    return found


def _looks_like_address(text: str) -> bool:
    _, address = parseaddr(text)
    local, _, domain = address.partition("@")
    return bool(local) and "." in domain and address == text and " " not in text


def save_alert_settings(ctx: AppContext, account_id: int, values: dict[str, str]) -> list[str]:
    """Save the SMTP settings and recipients. Returns every problem at once (nothing saved then); an
    empty password keeps the one stored."""
    problems = []
    host = values.get("smtp_host", "").strip()
    port_text = values.get("smtp_port", "").strip() or "587"
    port = int(port_text) if port_text.isdigit() and len(port_text) < 6 else 0
    if not 0 < port < 65536:
        problems.append("El puerto debe ser un número entre 1 y 65535.")
    security = values.get("security", "starttls")
    if security not in SECURITY_CHOICES:
        problems.append("Elige la seguridad de la conexión: STARTTLS, SSL o ninguna.")
    sender = values.get("from_address", "").strip()
    if sender and not _looks_like_address(sender):
        problems.append(f"El remitente «{sender[:80]}» no parece un correo electrónico.")
    try:
        recipients = parse_addresses(values.get("recipients", ""))
    except ConfigurationError as exc:
        problems.append(exc.user_message)
        recipients = []
    if host and (not sender or not recipients):
        problems.append("Con un servidor de correo hacen falta el remitente y al menos un destinatario.")
    threshold_text = values.get("queue_growth_threshold", "").strip() or "5"
    threshold = int(threshold_text) if threshold_text.isdigit() and len(threshold_text) < 6 else 0
    if not 1 <= threshold <= 10000:
        problems.append("El aumento de la cola que dispara la alerta debe ser un número entre 1 y 10000.")
    if len(host) > 255 or len(values.get("smtp_user", "")) > 255:
        problems.append("El servidor y el usuario pueden tener hasta 255 caracteres.")
    if problems:
        return problems
    with ctx.db.transaction() as session:
        row = _settings_row(session, account_id)
        row.smtp_host, row.smtp_port, row.security = host, port, security
        row.smtp_user, row.from_address, row.recipients = values.get("smtp_user", "").strip(), sender, recipients
        row.queue_growth_threshold = threshold
        password = values.get("smtp_password", "")
        if password:
            row.smtp_password_encrypted = ctx.vault.encrypt({"password": password})
        elif values.get("clear_password"):
            row.smtp_password_encrypted = ""
    return []


def alert_settings_view(ctx: AppContext, account_id: int) -> dict[str, Any]:
    """The form's values (never the password: only whether one is stored)."""
    with ctx.db.session() as session:
        row = session.scalar(select(AlertSettings).where(AlertSettings.account_id == account_id))
        if row is None:
            return {"smtp_host": "", "smtp_port": 587, "smtp_user": "", "security": "starttls", "from_address": "",
                    "recipients": "", "queue_growth_threshold": 5, "has_password": False}
        return {"smtp_host": row.smtp_host, "smtp_port": row.smtp_port, "smtp_user": row.smtp_user,
                "security": row.security, "from_address": row.from_address, "recipients": ", ".join(row.recipients),
                "queue_growth_threshold": row.queue_growth_threshold, "has_password": bool(row.smtp_password_encrypted)}


def send_test_email(ctx: AppContext, account_id: int) -> None:
    """The "send test e-mail" button: sends now (not rate-limited, nothing shown as a banner)."""
    with ctx.db.session() as session:
        config = smtp_config(ctx, session, account_id)
        language = account_language(session, account_id, config.recipients if config else ())
    if config is None:
        raise ConfigurationError("Configura primero el servidor de correo, el remitente y los destinatarios.")
    text = gettext_for(language)(ALERT_TEXT["test"])
    error = ""
    try:
        send_email(config, *email_of(text, language))
    except ConfigurationError as exc:
        error = exc.user_message
    with ctx.db.transaction() as session:
        now = utcnow()
        session.add(Alert(account_id=account_id, kind="test", params={}, raised_at=now, dismissed_at=now,
                          email_state="failed" if error else "sent", emailed_at=now, email_error=error))
    if error:
        raise ConfigurationError(error)


def active_alerts(ctx: AppContext, account_id: int) -> list[Alert]:
    """What the banner shows: alerts of the last day not dismissed, newest first."""
    with ctx.db.session() as session:
        return list(session.scalars(select(Alert).where(
            Alert.account_id == account_id, Alert.dismissed_at.is_(None), Alert.kind != "test",
            Alert.raised_at > utcnow() - BANNER_FOR).order_by(Alert.id.desc()).limit(10)))


def dismiss_alert(ctx: AppContext, account_id: int, alert_id: int) -> bool:
    with ctx.db.transaction() as session:
        alert = session.get(Alert, alert_id) if 0 < alert_id < 2**63 else None
        if alert is None or alert.account_id != account_id:
            return False
        alert.dismissed_at = alert.dismissed_at or utcnow()
        return True


def recent_emails(ctx: AppContext, account_id: int, since: datetime) -> list[Alert]:
    with ctx.db.session() as session:
        return list(session.scalars(select(Alert).where(Alert.account_id == account_id, Alert.emailed_at >= since)
                                    .order_by(Alert.id)))
