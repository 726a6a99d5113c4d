"""Refunds and their credit notes: "Notas crédito por aprobar" (approve or decline, one by one or in
bulk) and the latest refunds with what became of each."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.i18n import gettext as _
from admin_ui.i18n import ngettext
from connector import services
from connector.errors import ConnectorError
from connector.refunds import STATE_LABELS

bp = signed_in_blueprint("credit_notes", __name__, url_prefix="/credit-notes")


@bp.get("")
def index():
    account = security.account_id()
    refunds = services.list_refunds(ctx(), account, limit=200)
    waiting = [r for r in refunds if r["state"] == "waiting_approval"]
    return render_template("credit_notes/index.html", waiting=waiting,
                           others=[r for r in refunds if r["state"] != "waiting_approval"][:50],
                           refund_states=STATE_LABELS)


@bp.post("/decide")
def decide():
    """Approve or decline the refunds picked (one button per row, or the selected ones)."""
    action, _sep, one = request.form.get("one", "").partition(":")  # a row's own button: that row only
    if not one:
        action, picked = request.form.get("action", ""), request.form.getlist("refund_id")
    else:
        picked = [one]
    if action not in ("approve", "reject"):
        flash(_("Elige al menos un reembolso."), "error")
        return redirect(url_for("credit_notes.index"))
    approve = action == "approve"
    ids = [int(v) for v in picked if v.strip().isdigit() and len(v.strip()) < 20]  # the service refuses the rest
    if not ids:
        flash(_("Elige al menos un reembolso."), "error")
        return redirect(url_for("credit_notes.index"))
    try:
        rows = services.decide_refunds(ctx(), ids, approve=approve, account_ref=security.account_id(),
                                       actor=security.actor())
    except ConnectorError as exc:  # an unknown refund (another account's, a made-up id) included

        flash(exc.user_message, "error")
        return redirect(url_for("credit_notes.index"))
    if approve:
        flash(ngettext("%(num)s nota crédito aprobada.", "%(num)s notas crédito aprobadas.", len(rows)), "success")
        for row in rows:
            if row["note"] in ("failed", "uncertain", "skipped") and row["detail"]:
                flash(f"{row['external_id']}: {row['detail']}", "error")
    else:
        flash(ngettext("%(num)s reembolso rechazado.", "%(num)s reembolsos rechazados.", len(rows)), "success")
    return redirect(url_for("credit_notes.index"))
