"""``connector``: the command line over the same services the admin UI uses.

Every listing takes ``--json`` for scripts. Errors print one clear line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from channels.registry import CHANNELS
from connector.catalogs import languages
from connector.context import AppContext
from connector.errors import ConnectorError
from connector.followup_view import LEGAL_STATUS_LABELS, invoice_after_view
from connector.log_masking import install_log_masking
from connector.logs import configure_logging
from connector.states import STATE_LABELS, OrderState
from erp.registry import ERPS


def _json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _table(rows: list[list[Any]], headers: list[str]) -> None:
    if not rows:
        print("(vacío)")
        return
    cells = [[str(c) if c is not None else "" for c in row] for row in rows]
    widths = [min(60, max(len(h), *(len(r[i]) for r in cells))) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c[:w].ljust(w) for c, w in zip(row, widths, strict=True)))


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def _quantity(value: Decimal) -> str:
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value.normalize())


def _order_dicts(ctx, orders) -> list[dict]:
    from connector.services import credit_notes_of

    notes = credit_notes_of(ctx, [o.id for o in orders])
    return [{**_order_dict(o), "credit_notes": notes.get(o.id, [])} for o in orders]


def _order_dict(order) -> dict:
    invoice = order.invoice
    return {
        "id": order.id, "channel": order.channel_connection.kind, "external_id": order.external_id,
        "state": order.state, "reason": order.state_reason, "status": order.status, "raw_status": order.raw_status,
        "buyer": order.buyer_name, "total_paid": _money(order.total_paid), "fulfillment": order.is_fulfillment,
        "lines": [{"sku": line.sku, "title": line.title, "quantity": _quantity(line.quantity),
                   "unit_price": _money(line.unit_price), "erp_item_id": line.erp_item_id,
                   "erp_item_name": line.erp_item_name, "match": line.match_source} for line in order.lines],
        "invoice": None if invoice is None else {"erp_id": invoice.erp_id, "number": invoice.number,
                                                 "total": _money(invoice.total), "status": invoice.status,
                                                 "recovered": invoice.recovered, **invoice_after_view(invoice)},
    }


# -- commands ------------------------------------------------------------------------------------


def cmd_migrate(ctx: AppContext, args) -> int:
    ctx.db.migrate()
    print("Base de datos al día.")
    return 0


def cmd_account_create(ctx, args) -> int:
    from connector.services import create_account

    account = create_account(ctx, args.name)
    _json({"id": account.id, "name": account.name}) if args.json else print(f"Cuenta {account.id}: {account.name}")
    return 0


def cmd_account_list(ctx, args) -> int:
    from connector.services import list_accounts

    accounts = [{"id": a.id, "name": a.name} for a in list_accounts(ctx)]
    _json(accounts) if args.json else _table([[a["id"], a["name"]] for a in accounts], ["id", "nombre"])
    return 0


def cmd_erp_connect(ctx, args) -> int:
    from connector.services import connect_erp

    credentials = {"email": args.email, "token": args.token or os.environ.get("ALEGRA_TOKEN"), "country": args.country}
    connection = connect_erp(ctx, args.account, args.kind, credentials, name=args.name, base_url=args.base_url)
    print(f"ERP conectado: {connection.name} [{connection.credential_hint}]")
    if getattr(connection, "warning", None):
        print(connection.warning)
    return 0


# Environment variables that may hold a secret instead of its flag (kept from the first CLI).
_LEGACY_SECRET_ENV = {("mercadolibre", "client_secret"): "ML_CLIENT_SECRET",
                      ("mercadolibre", "refresh_token"): "ML_REFRESH_TOKEN"}


def _credential_flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _credential_env(kind: str, field_name: str) -> str:
    return _LEGACY_SECRET_ENV.get((kind, field_name)) or f"{kind}_{field_name}".upper()


def _all_credential_fields() -> dict[str, list[tuple[str, Any]]]:
    """Every credential field of every registered channel: name -> [(kind, field), ...]."""
    from channels.registry import channel_class

    fields: dict[str, list[tuple[str, Any]]] = {}
    for kind in sorted(CHANNELS):
        for field in channel_class(kind).credential_fields:
            fields.setdefault(field.name, []).append((kind, field))
    return fields


def cmd_channel_connect(ctx, args) -> int:
    from channels.registry import channel_class
    from connector.services import connect_channel

    cls = channel_class(args.kind)
    own = {field.name for field in cls.credential_fields}
    foreign = sorted(_credential_flag(name) for name in _all_credential_fields()
                     if name not in own and getattr(args, f"cred_{name}", None) not in (None, ""))
    if foreign:
        raise ConnectorError(f"{', '.join(foreign)} no aplica a {cls.display_name}.")
    credentials = {}
    for field in cls.credential_fields:
        value = getattr(args, f"cred_{field.name}", None)
        if value in (None, "") and field.secret:
            value = os.environ.get(_credential_env(args.kind, field.name))
        if value not in (None, ""):
            credentials[field.name] = value
    connection = connect_channel(ctx, args.account, args.kind, credentials, name=args.name, base_url=args.base_url)
    print(f"Canal conectado: {connection.id} {connection.name} [{connection.credential_hint}]")
    print(f"Webhooks: «connector channel webhook-url --channel {connection.id}» muestra la URL a registrar.")
    return 0


def cmd_channel_webhook_url(ctx, args) -> int:
    from connector.services import find_account, find_channel_connection
    from connector.webhooks import webhook_registration

    with ctx.db.session() as session:
        connection = find_channel_connection(session, find_account(session, args.account), args.channel)
    public_url = args.public_url or os.environ.get("CONNECTOR_PUBLIC_URL") or "http://127.0.0.1:8000"
    registration = webhook_registration(ctx, connection.id, public_url)
    if args.json:
        _json({"channel_connection_id": connection.id, "kind": connection.kind, "url": registration.url,
               "topics": list(registration.topics), "secret": registration.secret,
               "instructions": registration.instructions})
        return 0
    print(f"URL de webhooks de {connection.name}:\n  {registration.url}")
    print(f"Temas: {', '.join(registration.topics)}")
    if registration.secret:
        print(f"Secreto (pégalo al crear el webhook): {registration.secret}")
    print(registration.instructions)
    return 0


def cmd_channel_list(ctx, args) -> int:
    from connector.services import list_channel_connections

    rows = [{"id": c.id, "kind": c.kind, "name": c.name, "remote_account_id": c.remote_account_id,
             "enabled": c.enabled, "credentials": c.credential_hint} for c in list_channel_connections(ctx, args.account)]
    _json(rows) if args.json else _table([[r["id"], r["kind"], r["name"], r["credentials"]] for r in rows],
                                         ["id", "canal", "nombre", "credenciales"])
    return 0


def _print_settings(settings, as_json: bool) -> None:
    from connector.rules import SETTING_LABELS

    data = settings.model_dump(mode="json")
    if as_json:
        _json(data)
        return
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key:26} {shown!s:30} {SETTING_LABELS.get(key, '')}")


def cmd_rules_show(ctx, args) -> int:
    from connector.services import show_settings

    _print_settings(show_settings(ctx, args.account, args.channel), args.json)
    return 0


def cmd_rules_set(ctx, args) -> int:
    from connector.services import update_settings

    settings = update_settings(ctx, args.account, args.assignments, channel_ref=args.channel)
    _print_settings(settings, args.json)
    return 0


def cmd_choices(ctx, args) -> int:
    from connector.services import erp_choices

    choices = erp_choices(ctx, args.account)
    if args.json:
        _json(choices)
        return 0
    for group, items in choices.items():
        print(f"{group}:")
        for item in items:
            print(f"  {item['id']:>4}  {item['name']}")
    return 0


def cmd_catalog_refresh(ctx, args) -> int:
    from connector.services import refresh_erp_catalog

    print(f"Catálogo actualizado: {refresh_erp_catalog(ctx, args.account)} productos.")
    return 0


def cmd_catalog_search(ctx, args) -> int:
    from connector.services import search_catalog

    items = [{"id": i.erp_id, "name": i.name, "reference": i.reference, "barcodes": i.barcodes, "kind": i.kind}
             for i in search_catalog(ctx, args.account, args.text)]
    _json(items) if args.json else _table(
        [[i["id"], i["name"], i["reference"], ",".join(i["barcodes"])] for i in items],
        ["id", "nombre", "referencia", "código de barras"])
    return 0


def cmd_sync(ctx, args) -> int:
    from connector.services import find_account
    from connector.sync import sync_once
    from connector.tasks import run_embedded_worker

    account_id = None
    if args.account:
        with ctx.db.session() as session:
            account_id = find_account(session, args.account).id
    if not args.once:
        run_embedded_worker(ctx, interval=ctx.settings.sync_interval_seconds)
        return 0
    summary = sync_once(ctx, account_id)
    if args.json:
        _json(summary.as_dict())
        return 0
    for pull in summary.pulls:
        status = (f"error: {pull.error}" if pull.error
                  else "otra sincronización de este canal ya está en curso" if pull.busy else "ok")
        print(f"canal {pull.channel_connection_id}: {pull.pulled} órdenes leídas ({pull.new} nuevas, "
              f"{pull.updated} cambiadas) — {status}")
    processed = ", ".join(f"{STATE_LABELS.get(OrderState(k), k) if k in OrderState._value2member_map_ else k}: {v}"
                          for k, v in sorted(summary.processed.items())) or "nada pendiente"
    print(f"procesadas: {processed}")
    print(f"en la cola de errores: {summary.error_queue}")
    return 0 if not any(p.error for p in summary.pulls) else 1


def cmd_orders_list(ctx, args) -> int:
    from connector.services import list_orders

    orders = _order_dicts(ctx, list_orders(ctx, args.account, states=args.state or None, limit=args.limit))
    if args.json:
        _json(orders)
        return 0
    _table([[o["id"], o["channel"], o["external_id"], o["state"], o["status"], o["total_paid"],
             (o["invoice"] or {}).get("number"), o["reason"][:60]] for o in orders],
           ["id", "canal", "orden", "estado", "estado canal", "pagado", "factura", "motivo"])
    return 0


def cmd_orders_show(ctx, args) -> int:
    from connector.services import get_order

    order = get_order(ctx, args.order_id, args.account)
    data = _order_dicts(ctx, [order])[0]
    data["activity"] = [{"at": e.at, "actor": e.actor, "from": e.from_state, "to": e.to_state, "message": e.message}
                        for e in order.activity]
    if getattr(args, "lang", "es") != "es":  # reasons and trail in the asked language (stored as codes)
        from connector.catalogs import gettext_for
        from connector.reasons import code_of, shown

        said = gettext_for(args.lang)
        data["reason"] = shown(order.state_reason, code_of(order.state_reason_msgid, order.state_reason_params), said)
        for entry, event in zip(data["activity"], order.activity, strict=True):
            entry["message"] = shown(event.message, code_of(event.message_msgid, event.message_params), said)
    if args.json:
        _json(data)
        return 0
    print(f"Orden {data['id']} ({data['channel']} {data['external_id']}) — {data['state']}: {data['reason']}")
    for line in data["lines"]:
        print(f"  {line['quantity']} × {line['title']} [{line['sku']}] → "
              f"{line['erp_item_name'] or 'SIN PRODUCTO'} ({line['erp_item_id'] or '-'}, {line['match'] or '-'})")
    if data["invoice"]:
        invoice = data["invoice"]
        print(f"  factura {invoice['number']} total {invoice['total']} ({invoice['status']})")
        print(f"  factura electrónica: {LEGAL_STATUS_LABELS.get(invoice['legal_status'], invoice['legal_status'])}"
              + (f" — CUFE {invoice['cufe']}" if invoice["cufe"] else "")
              + (f" — {' '.join(invoice['legal_reasons'])}" if invoice["legal_reasons"] else ""))
        if invoice["delivery"]:
            delivery = invoice["delivery"]
            print(f"  entrega al comprador ({delivery['via']}): {delivery['status']}"
                  + (f" {delivery['at']}" if delivery["at"] else "") + (f" — {delivery['detail']}" if delivery["detail"] else ""))
        if invoice["payment"]:
            payment = invoice["payment"]
            print(f"  pago registrado: {payment['amount']} en la cuenta {payment['account']} ({payment['at']})")
        elif invoice["payment_status"]:
            print(f"  pago: {invoice['payment_status']}")
    for note in data["credit_notes"]:
        print(f"  reembolso {note['refund_id']} de {note['refunded']}: {note['state']}"
              + (f" — nota crédito {note['number']} por {note['amount']} ({note['type']}, {note['legal_status']})"
                 if note["number"] else (f" — {note['note']}" if note["note"] else "")))
    for event in data["activity"]:
        print(f"  {event['at']:%Y-%m-%d %H:%M:%S} {event['actor']:12} {event['from'] or '':>12} → {event['to']:12} "
              f"{event['message']}")
    return 0


def cmd_errors(ctx, args) -> int:
    from connector.services import error_queue

    orders = _order_dicts(ctx, error_queue(ctx, args.account))
    if args.json:
        _json(orders)
        return 0
    if not orders:
        print("La cola de errores está vacía.")
    for o in orders:  # the reason is the point: never cut it
        print(f"orden {o['id']} ({o['channel']} {o['external_id']}) — {STATE_LABELS[OrderState(o['state'])]}")
        print(f"    {o['reason']}")
    return 0


def cmd_mismatches(ctx, args) -> int:
    from connector.services import list_mismatches

    rows = [{"channel_connection_id": m.channel_connection_id, "sku": m.sku_key, "title": m.title,
             "blocked_orders": m.blocked_orders} for m in list_mismatches(ctx, args.account)]
    _json(rows) if args.json else _table(
        [[r["channel_connection_id"], r["sku"], r["title"], r["blocked_orders"]] for r in rows],
        ["canal", "sku", "título", "órdenes bloqueadas"])
    return 0


def _print_invoiced(ctx, results: dict, as_json: bool) -> int:
    rows = _order_dicts(ctx, list(results.values()))
    if as_json:
        _json(rows)
    else:
        for o in rows:
            invoice = f"factura {o['invoice']['number']}" if o["invoice"] else o["reason"]
            print(f"orden {o['id']} ({o['external_id']}): {o['state']} — {invoice}")
    return 0 if all(o["state"] == OrderState.INVOICED for o in rows) else 1


def cmd_map(ctx, args) -> int:
    from connector.services import map_sku

    mapping, results = map_sku(ctx, args.account, args.sku, args.item_id, channel_ref=args.channel,
                               invoice=not args.no_invoice)
    if not args.json:
        print(f"SKU {mapping.sku_key} → {mapping.erp_item_name} ({mapping.erp_item_id}); "
              f"{len(results)} órdenes facturadas de nuevo.")
    return _print_invoiced(ctx, results, args.json) if results else 0


def cmd_invoice(ctx, args) -> int:
    from connector.services import invoice_orders

    return _print_invoiced(ctx, invoice_orders(ctx, args.order_ids, account_ref=args.account), args.json)


def cmd_retry(ctx, args) -> int:
    from connector.services import retry_error_queue

    return _print_invoiced(ctx, retry_error_queue(ctx, args.account), args.json)


def cmd_resend(ctx, args) -> int:
    from connector.services import invoice_orders

    return _print_invoiced(ctx, invoice_orders(ctx, args.order_ids, account_ref=args.account), args.json)


def _followup_command(kind: str):
    def command(ctx, args) -> int:
        from connector.services import request_followups

        return _print_invoiced(ctx, request_followups(ctx, args.order_ids, kind, account_ref=args.account), args.json)

    return command


def cmd_credit_notes_list(ctx, args) -> int:
    from connector.services import list_refunds

    rows = list_refunds(ctx, args.account, states=args.state or None)
    if args.json:
        _json(rows)
        return 0
    _table([[r["id"], r["channel"], r["external_id"], r["invoice"] or "-", _money(Decimal(r["refunded"])), r["state"],
             r["note"] or "-", r["number"] or "-", (r["reason"] or r["detail"] or "")[:40]] for r in rows],
           ["id", "canal", "orden", "factura", "reembolso", "decisión", "nota", "número", "motivo"])
    return 0


def _decide_refunds(approve: bool):
    def command(ctx, args) -> int:
        from connector.services import decide_refunds

        rows = decide_refunds(ctx, args.refund_ids, approve=approve, account_ref=args.account)
        if args.json:
            _json(rows)
            return 0
        for r in rows:
            note = f"nota {r['number']} por {r['amount']}" if r["number"] else (r["note"] or r["state"])
            print(f"reembolso {r['id']} (orden {r['external_id']}): {r['state']} — {note}"
                  + (f" — {r['detail']}" if r["detail"] else ""))
        return 0

    return command


def cmd_followup(ctx, args) -> int:
    from connector.services import run_followups_now

    counts = run_followups_now(ctx, args.account)
    if args.json:
        _json(counts)
    else:
        print("seguimiento: " + (", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nada pendiente"))
    return 0


def cmd_reconcile(ctx, args) -> int:
    from datetime import date

    from connector.reconcile import reconcile_invoices

    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end or args.start)
    except ValueError:
        print("error: las fechas van como AAAA-MM-DD (por ejemplo 2026-11-20).", file=sys.stderr)
        return 2
    report = reconcile_invoices(ctx, args.account, start, end, repair=args.repair)
    if args.json:
        _json(report.as_dict())
        return 0 if report.clean else 1
    print(f"{report.erp_invoices} facturas en el ERP del {start} al {end}; {report.matched} coinciden.")
    print(f"{report.erp_credit_notes} notas crédito en el ERP; {report.matched_credit_notes} coinciden.")
    for finding in report.findings:
        fixed = " (reparado)" if finding.repaired else ""
        print(f"  {finding.kind:18} {finding.marker} ERP {', '.join(finding.erp_ids)} — {finding.detail}{fixed}")
    if report.clean:
        print("Todo cuadra.")
    return 0 if report.clean else 1


def cmd_keys_check(ctx, args) -> int:
    from connector.key_rotation import check_keys

    usage = check_keys(ctx)
    if args.json:
        _json(usage.as_dict())
        return 0 if not usage.unreadable else 1
    for key in usage.as_dict()["keys"]:
        role = "cifra y descifra" if key["position"] == 1 else "solo descifra"
        print(f"llave {key['position']} (huella {key['fingerprint']}, {role}): {key['rows']} valores guardados")
    if usage.unreadable:
        print(f"{len(usage.unreadable)} valores que ninguna llave abre: {', '.join(usage.unreadable)}")
        return 1
    return 0


def cmd_keys_rotate(ctx, args) -> int:
    from connector.key_rotation import rotate_keys

    report = rotate_keys(ctx)
    if args.json:
        _json(report.as_dict())
    else:
        print(f"Cifrados de nuevo con la primera llave: {report.rotated} "
              f"(ya lo estaban: {report.already_current + report.changed_meanwhile}).")
        if report.unreadable:
            print(f"{len(report.unreadable)} valores que ninguna llave abre (sin cambios): "
                  f"{', '.join(report.unreadable)}")
    return 0 if not report.unreadable else 1


def cmd_prune(ctx, args) -> int:
    from connector.housekeeping import prune_expired

    report = prune_expired(ctx)
    if args.json:
        _json(report.as_dict())
        return 0
    print(f"Borradas: {report.webhook_deliveries} notificaciones de webhooks de más de "
          f"{ctx.settings.webhook_retention_days} días y {report.oauth_states} autorizaciones OAuth usadas o vencidas.")
    return 0


def cmd_worker(ctx, args) -> int:
    if ctx.settings.uses_celery:
        from connector.tasks import celery_app

        argv = ["worker", "--loglevel", ctx.settings.log_level, "--concurrency", str(args.concurrency),
                # Workers share nothing but the database and the queue: no start-up handshake needed.
                "--without-mingle", "--without-gossip"]
        if args.name:
            argv += ["--hostname", f"{args.name}@%h"]  # several workers on one machine need distinct names
        celery_app.worker_main(argv)
        return 0
    import signal

    from connector.scheduler import EmbeddedScheduler, embedded_jobs

    # The same schedule (and the same one-per-database lock) as `connector web` without Redis: with
    # both running, one of them pulls and sweeps and the other stands by.
    print(f"Sin REDIS_URL: sincronizando en este proceso cada {ctx.settings.sync_interval_seconds} s y "
          f"reintentando lo pendiente cada {ctx.settings.sweep_interval_seconds} s (Ctrl+C para salir).", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    scheduler = EmbeddedScheduler(ctx, embedded_jobs(ctx.settings)).start()
    try:
        while scheduler.is_alive():
            scheduler.join(1.0)
    finally:
        scheduler.stop()
    return 0


def cmd_beat(ctx, args) -> int:
    from connector.tasks import celery_app

    if not ctx.settings.uses_celery:
        print("beat necesita REDIS_URL; sin él, «connector web» (o «connector worker») ya sincroniza y reintenta "
              "periódicamente.", file=sys.stderr)
        return 2
    # Beat's schedule file lives with the rest of the data, not in whatever directory it was started from.
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", "--loglevel", ctx.settings.log_level,
                      "--schedule", str(ctx.settings.data_dir / "celerybeat-schedule")])
    return 0


def cmd_demo(ctx, args) -> int:
    from connector.demo import run_demo

    return run_demo(orders=args.orders, keep_running=args.serve)


def _read_password(args) -> str:
    """--password (``user create`` only), else one line from stdin with --password-stdin or when stdin is
    not a terminal (scripts), else asked twice on the terminal."""
    if getattr(args, "password", None):
        return args.password
    if sys.stdin.isatty() and not getattr(args, "password_stdin", False):
        import getpass

        first = getpass.getpass("Contraseña: ")
        if first != getpass.getpass("Repite la contraseña: "):
            from connector.errors import ConfigurationError

            raise ConfigurationError("Las contraseñas no coinciden.")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user_create(ctx, args) -> int:
    from connector.users import create_user

    user = create_user(ctx, args.account, args.email, _read_password(args), locale=args.locale)
    _json({"id": user.id, "email": user.email, "account_id": user.account_id}) if args.json else \
        print(f"Usuario {user.id}: {user.email} (cuenta {user.account_id})")
    return 0


def cmd_user_password(ctx, args) -> int:
    """An operator's reset: the new password from the terminal or stdin (never argv, where other users
    of the machine and the shell history would see it); every session of the user ends."""
    from connector.users import find_user, set_password

    user = find_user(ctx, args.email)  # an unknown e-mail is said before asking for anything
    user = set_password(ctx, user.email, _read_password(args))
    print(f"Contraseña actualizada para {user.email}; se cerraron sus sesiones abiertas.")
    return 0


def cmd_web(ctx, args) -> int:
    """Serve the admin UI: gunicorn in production, Werkzeug's server in sandbox/dev mode. Without
    REDIS_URL the periodic pull and sweep run here too (connector/scheduler.py)."""
    from admin_ui import create_app
    from connector.scheduler import start_embedded_scheduler

    hops = ctx.settings.trusted_proxies or (1 if args.behind_proxy else 0)
    app = create_app(ctx, PROXY_FIX=hops)  # in the master: a bad setting stops here, in one line

    def announce(url: str) -> None:
        print(f"Panel web en {url}  (Ctrl+C para terminar)", flush=True)

    if ctx.settings.mode == "production":
        from admin_ui.server import serve_with_gunicorn

        serve_with_gunicorn(app, ctx.settings, args.host, args.port, on_ready=announce,
                            in_each_worker=lambda: start_embedded_scheduler(ctx))
        return 0
    import signal

    from werkzeug.serving import make_server

    server = make_server(args.host, args.port, app, threaded=True)
    # SIGTERM (a service manager, a container stop) ends like Ctrl+C: the schedule stops between jobs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stop_scheduler = start_embedded_scheduler(ctx)
    announce(f"http://{args.host}:{server.server_port}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if stop_scheduler is not None:
            stop_scheduler()
    return 0


# -- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--account", help="cuenta (id o nombre); opcional si solo hay una")
    common.add_argument("--json", action="store_true", help="salida JSON para scripts")

    parser = argparse.ArgumentParser(prog="connector", description="Facturación automática de marketplaces en el ERP.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, func, help_text, parent=sub):
        p = parent.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    add("migrate", cmd_migrate, "crear o actualizar el esquema de la base de datos")

    account = sub.add_parser("account", help="cuentas de vendedor").add_subparsers(dest="sub", required=True)
    add("create", cmd_account_create, "crear una cuenta", account).add_argument("name")
    add("list", cmd_account_list, "listar cuentas", account)

    erp = sub.add_parser("erp", help="conectar el ERP").add_subparsers(dest="sub", required=True)
    p = add("connect", cmd_erp_connect, "conectar el ERP (se validan las credenciales antes de guardar)", erp)
    p.add_argument("kind", choices=sorted(ERPS))
    p.add_argument("--email", required=True)
    p.add_argument("--token", help="token de la API (o variable ALEGRA_TOKEN)")
    p.add_argument("--country", default="CO")
    p.add_argument("--name")
    p.add_argument("--base-url", help="solo en modo sandbox/dev")

    channel = sub.add_parser("channel", help="canales de venta").add_subparsers(dest="sub", required=True)
    p = add("connect", cmd_channel_connect, "conectar un canal (se validan las credenciales antes de guardar)", channel)
    p.add_argument("kind", choices=sorted(CHANNELS))
    for name, owners in _all_credential_fields().items():
        kinds = ", ".join(kind for kind, _ in owners)
        labels = "; ".join(dict.fromkeys(field.label for _, field in owners))
        envs = ", ".join(_credential_env(kind, name) for kind, field in owners if field.secret)
        p.add_argument(_credential_flag(name), dest=f"cred_{name}", metavar="VALOR",
                       help=f"{labels} ({kinds})" + (f"; o variable {envs}" if envs else ""))
    p.add_argument("--name")
    p.add_argument("--base-url", help="solo en modo sandbox/dev")
    add("list", cmd_channel_list, "listar canales conectados", channel)
    p = add("webhook-url", cmd_channel_webhook_url, "la URL (y el secreto) de webhooks que el vendedor registra "
                                                    "en el canal", channel)
    p.add_argument("--channel", help="conexión de canal (id, tipo o nombre); opcional si solo hay una")
    p.add_argument("--public-url", help="dirección pública del conector (o variable CONNECTOR_PUBLIC_URL)")

    rules = sub.add_parser("rules", help="configuración y facturación automática").add_subparsers(dest="sub", required=True)
    p = add("show", cmd_rules_show, "ver la configuración", rules)
    p.add_argument("--channel", help="ver con los ajustes propios de esta conexión de canal")
    p = add("set", cmd_rules_set, "cambiar ajustes: clave=valor (listas separadas por comas)", rules)
    p.add_argument("assignments", nargs="+", metavar="clave=valor")
    p.add_argument("--channel", help="guardar como ajuste propio de esta conexión de canal")

    add("choices", cmd_choices, "bodegas, listas de precios, impuestos y numeraciones del ERP")
    catalog = sub.add_parser("catalog", help="catálogo del ERP").add_subparsers(dest="sub", required=True)
    add("refresh", cmd_catalog_refresh, "volver a leer el catálogo del ERP", catalog)
    add("search", cmd_catalog_search, "buscar productos por nombre, referencia o código", catalog).add_argument("text")

    p = add("sync", cmd_sync, "leer órdenes, emparejar SKU y facturar")
    p.add_argument("--once", action="store_true", help="una pasada y salir (sin esto, repite cada intervalo)")

    orders = sub.add_parser("orders", help="órdenes").add_subparsers(dest="sub", required=True)
    p = add("list", cmd_orders_list, "listar órdenes", orders)
    p.add_argument("--state", action="append", choices=[s.value for s in OrderState])
    p.add_argument("--limit", type=int, default=200)
    p = add("show", cmd_orders_show, "detalle de una orden con su historial", orders)
    p.add_argument("order_id", type=int)
    p.add_argument("--lang", choices=languages(), default="es",
                   help="idioma del motivo y del historial (por omisión, español)")

    add("errors", cmd_errors, "la cola de errores con sus motivos")
    add("mismatches", cmd_mismatches, "SKU sin producto en el ERP y cuántas órdenes bloquea cada uno")
    p = add("map", cmd_map, "asignar un SKU a un producto del ERP y facturar las órdenes que bloqueaba")
    p.add_argument("sku")
    p.add_argument("item_id", help="id del producto en el ERP")
    p.add_argument("--channel")
    p.add_argument("--no-invoice", action="store_true", help="solo guardar la asignación; facturar con las reglas")
    add("invoice", cmd_invoice, "facturar ya estas órdenes (botón «Facturar»)").add_argument(
        "order_ids", type=int, nargs="+")
    add("retry", cmd_retry, "reintentar toda la cola de errores")
    add("resend", cmd_resend, "reenviar facturas electrónicas rechazadas, tras corregir la causa (botón "
                              "«Reenviar»)").add_argument("order_ids", type=int, nargs="+")
    add("stamp", _followup_command("stamp"), "emitir la factura electrónica de facturas en borrador "
                                             "(«Expedir»)").add_argument("order_ids", type=int, nargs="+")
    add("pay", _followup_command("payment"), "registrar en el ERP el pago de estas facturas").add_argument(
        "order_ids", type=int, nargs="+")
    add("deliver", _followup_command("delivery"), "enviar la factura al comprador (por el canal o por e-mail "
                                                  "del ERP)").add_argument("order_ids", type=int, nargs="+")
    notes = sub.add_parser("credit-notes", help="notas crédito de reembolsos y cancelaciones").add_subparsers(
        dest="sub", required=True)
    p = add("list", cmd_credit_notes_list, "reembolsos y sus notas crédito (--state waiting_approval: por aprobar)",
            notes)
    p.add_argument("--state", action="append", choices=["before_invoice", "waiting_approval", "approved", "declined",
                                                          "off"])
    add("approve", _decide_refunds(True), "aprobar: se crea la nota crédito en el ERP (una vez)", notes).add_argument(
        "refund_ids", type=int, nargs="+")
    add("reject", _decide_refunds(False), "rechazar: no se crea nota crédito", notes).add_argument(
        "refund_ids", type=int, nargs="+")
    add("followup", cmd_followup, "hacer ya lo pendiente tras las facturas: estado de la factura electrónica, "
                                  "entregas y pagos")
    p = add("reconcile", cmd_reconcile, "comparar las facturas del ERP con las registradas aquí (y reparar)")
    p.add_argument("--from", dest="start", required=True, metavar="AAAA-MM-DD")
    p.add_argument("--to", dest="end", metavar="AAAA-MM-DD", help="por defecto, el mismo día")
    p.add_argument("--repair", action="store_true", help="registrar aquí las facturas que el ERP tiene y aquí faltan")
    keys = sub.add_parser("keys", help="llaves de cifrado (CONNECTOR_SECRET_KEYS)").add_subparsers(dest="sub",
                                                                                                  required=True)
    add("check", cmd_keys_check, "cuántos valores guardados protege cada llave (y cuáles ninguna abre)", keys)
    add("rotate", cmd_keys_rotate, "cifrar de nuevo todo lo guardado con la primera llave", keys)
    add("prune", cmd_prune, "borrar notificaciones de webhooks antiguas y autorizaciones OAuth usadas o vencidas")
    p = add("worker", cmd_worker, "trabajador: Celery con REDIS_URL, o sincronización periódica en proceso")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--name", help="nombre del trabajador (varios en una máquina), p. ej. w1")
    add("beat", cmd_beat, "planificador de Celery (sincronización y barrido periódicos)")
    user = sub.add_parser("user", help="usuarios del panel web").add_subparsers(dest="sub", required=True)
    p = add("create", cmd_user_create, "crear un usuario de la cuenta (--account) para el panel web", user)
    p.add_argument("email")
    p.add_argument("--password", help="sin esto se pide en la terminal, o se lee una línea de stdin")
    p.add_argument("--locale", choices=["es", "en"], default="es")
    p = add("password", cmd_user_password, "cambiar la contraseña de un usuario (cierra sus sesiones)", user)
    p.add_argument("email")
    p.add_argument("--password-stdin", action="store_true",
                   help="leer la contraseña nueva de una línea de stdin (sin esto se pide en la terminal)")
    p = add("web", cmd_web, "servir el panel web")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--behind-proxy", action="store_true",
                   help="confiar en X-Forwarded-* de un proxy TLS (como CONNECTOR_TRUSTED_PROXIES=1)")
    p = add("demo", cmd_demo, "demostración completa contra el sandbox local")
    p.add_argument("--orders", type=int, default=60)
    p.add_argument("--serve", action=argparse.BooleanOptionalAction, default=None,
                   help="dejar el sandbox y el panel corriendo al terminar (por defecto: si hay terminal)")
    return parser


def _setting_problem(exc: ValidationError) -> str:
    """The first invalid setting, in one line: "CONNECTOR_WEB_WORKERS: Input should be ... ('abc')"."""
    first = exc.errors()[0]
    name = ".".join(str(part) for part in first.get("loc", ())) or "configuración"
    shown = f" ({first['input']!r})" if isinstance(first.get("input"), str | int | float) else ""
    return f"la variable {name} no es válida: {first.get('msg', 'valor inválido')}{shown}."


def _stdout_gone() -> int:
    """The reader of our output went away (``connector mismatches | head``): stop quietly. Python would
    otherwise complain again when it flushes stdout at exit, so stdout is pointed at /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (tests): nothing left to flush
        pass
    return 141  # what a shell reports for a process ended by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BrokenPipeError:  # --help into a closed pipe
        return _stdout_gone()
    configure_logging()
    install_log_masking()
    try:
        if args.command == "demo":
            return args.func(None, args)
        ctx = AppContext.from_settings()
        if args.command != "migrate":
            ctx.db.migrate()
        code = args.func(ctx, args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at interpreter exit
        return code
    except ConnectorError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a setting from the environment or .env that does not parse
        print(f"error: {_setting_problem(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _stdout_gone()
    except Exception as exc:  # noqa: BLE001 - a person gets one line; the traceback goes to the log
        logging.getLogger("connector.cli").debug("unexpected error", exc_info=True)
        print(f"error: algo salió mal ({type(exc).__name__}); con CONNECTOR_LOG_LEVEL=DEBUG se ve el detalle.",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
