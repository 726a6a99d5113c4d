"""Alerts: where they are e-mailed (SMTP settings, recipients, the queue threshold), a test e-mail, the
last ones sent, and "Entendido" on a banner."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.i18n import gettext as _
from connector import alerts
from connector.errors import ConnectorError
from connector.models import utcnow
from connector.reasons import N_

bp = signed_in_blueprint("alerts", __name__, url_prefix="/alerts")

FIELDS = ("smtp_host", "smtp_port", "smtp_user", "smtp_password", "security", "from_address", "recipients",
          "queue_growth_threshold", "clear_password")
EMAIL_STATE_LABELS = {"sent": N_("Enviado"), "suppressed": N_("No enviado (ya se envió uno igual en la última hora)"),
                      "no_smtp": N_("No enviado (sin servidor de correo)"), "failed": N_("Falló"), "pending": "Pendiente"}


def _page(values: dict, problems: list[str]):
    sent = alerts.recent_emails(ctx(), security.account_id(), utcnow() - timedelta(days=7))
    return render_template("alerts/index.html", values=values, problems=problems, recent=list(reversed(sent))[:20],
                           email_state_labels=EMAIL_STATE_LABELS, securities=alerts.SECURITY_CHOICES)


@bp.get("")
def index():
    return _page(alerts.alert_settings_view(ctx(), security.account_id()), [])


@bp.post("")
def save():
    values = {name: request.form.get(name, "")[:2000] for name in FIELDS}
    problems = alerts.save_alert_settings(ctx(), security.account_id(), values)
    if problems:
        shown = {**alerts.alert_settings_view(ctx(), security.account_id()),
                 **{k: v for k, v in values.items() if k != "smtp_password"}}
        return _page(shown, [_(p) for p in problems])
    flash(_("Alertas guardadas."), "success")
    return redirect(url_for("alerts.index"))


@bp.post("/test")
def test_email():
    try:
        alerts.send_test_email(ctx(), security.account_id())
    except ConnectorError as exc:
        flash(_(exc.user_message), "error")
    else:
        flash(_("Correo de prueba enviado: revisa la bandeja de los destinatarios."), "success")
    return redirect(url_for("alerts.index"))


@bp.post("/<int:alert_id>/dismiss")
def dismiss(alert_id: int):
    alerts.dismiss_alert(ctx(), security.account_id(), alert_id)
    return redirect(security.safe_next(request.form.get("next"), url_for("home.index")))
