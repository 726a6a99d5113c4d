"""Sync status per channel connection, and "Sincronizar ahora" with visible progress."""

from __future__ import annotations

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.i18n import gettext as _
from admin_ui.i18n import ngettext
from connector.states import STATE_LABELS, OrderState
from connector.sync_jobs import SyncJob, SyncJobs, sync_status

bp = signed_in_blueprint("sync", __name__, url_prefix="/sync")


def _jobs() -> SyncJobs:
    return current_app.extensions["sync_jobs"]


def job_message(job: SyncJob) -> str:
    """The job's progress in the person's language."""
    if job.phase == "queued":
        return _("En cola…")
    if job.phase == "pulling":
        done, total = job.steps
        if job.current:
            return _("Leyendo órdenes de %(name)s (%(done)s de %(total)s)…", name=job.current, done=done + 1,
                     total=total - 1)
        return _("Leyendo órdenes de los canales…")
    if job.phase == "processing":
        if job.dispatched:
            return ngettext("%(num)s orden leída; los trabajadores la están facturando.",
                            "%(num)s órdenes leídas; los trabajadores las están facturando.", job.pulled)
        return ngettext("%(num)s orden leída. Emparejando productos y facturando…",
                        "%(num)s órdenes leídas. Emparejando productos y facturando…", job.pulled)
    if job.phase == "failed":
        return _("La sincronización falló: %(error)s", error=job.error)
    failed = [p for p in job.pulls if p.error]
    text = ngettext("Listo: %(num)s orden leída, %(invoiced)s facturadas, %(queue)s en la cola de errores.",
                    "Listo: %(num)s órdenes leídas, %(invoiced)s facturadas, %(queue)s en la cola de errores.",
                    job.pulled, invoiced=job.processed.get(OrderState.INVOICED.value, 0), queue=job.error_queue)
    if failed:
        text += " " + _("No se pudo leer %(names)s.", names=", ".join(p.name for p in failed))
    return text


def job_json(job: SyncJob) -> dict:
    data = job.as_dict()
    data["message"] = job_message(job)
    data["processed_labels"] = {STATE_LABELS[OrderState(k)] if k in OrderState._value2member_map_ else k: v
                                for k, v in job.processed.items()}
    data["status_url"] = url_for("sync.job_status", job_id=job.id)
    return data


@bp.get("")
def index():
    account = security.account_id()
    job = None
    if request.args.get("job"):
        job = _jobs().get(account, request.args["job"])
    job = job or _jobs().latest(account)
    return render_template("sync/index.html", statuses=sync_status(ctx(), account), job=job,
                           job_message=job_message(job) if job else "")


@bp.post("/now")
def start():
    job = _jobs().start(ctx(), security.account_id())
    if security.wants_json():
        return jsonify(job_json(job)), 202
    return redirect(url_for("sync.index", job=job.id), code=303)


@bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    job = _jobs().get(security.account_id(), job_id)
    if job is None:
        abort(404)
    return jsonify(job_json(job))
