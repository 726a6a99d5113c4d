"""``connector``: the command line over the same services the admin UI uses.

Every listing takes ``--json`` for scripts. Errors print one clear line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from channels.registry import CHANNELS
from connector.catalogs import languages
from connector.cli_cockpit import cmd_create_item, cmd_export
from connector.cli_credentials import add_credential_flags, credentials_from_args
from connector.cli_orders import (
    _decide_refunds,
    _followup_command,
    cmd_credit_notes_list,
    cmd_errors,
    cmd_followup,
    cmd_invoice,
    cmd_map,
    cmd_mismatches,
    cmd_orders_list,
    cmd_orders_show,
    cmd_reconcile,
    cmd_resend,
    cmd_retry,
    cmd_sync,
)
from connector.cli_output import _json, _table
from connector.context import AppContext
from connector.errors import ConnectorError
from connector.log_masking import install_log_masking
from connector.logs import configure_logging
from connector.reasons import N_
from connector.states import STATE_LABELS, OrderState
from erp.registry import ERPS

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
    from erp.registry import erp_class

    credentials = credentials_from_args(args, args.kind, erp_class(args.kind), ERPS, erp_class)
    connection = connect_erp(ctx, args.account, args.kind, credentials, name=args.name, base_url=args.base_url)
    print(f"ERP conectado: {connection.name} [{connection.credential_hint}]")
    if getattr(connection, "warning", None):
        print(connection.warning)
    _print_mirror(ctx, args.account)
    return 0


MIRROR_STATUS_LABELS = {"subscribed": "suscrito", "pending": "pendiente", "missing": "perdido (se vuelve a suscribir)",
                        "failing": "con fallas", "off": "retirándose"}


def _print_mirror(ctx, account_ref) -> None:
    from connector.mirror import CHANGE_LABELS
    from connector.services import erp_mirror_status

    status = erp_mirror_status(ctx, account_ref)
    if not status["public_url"]:
        print("Notificaciones del ERP: sin dirección pública (CONNECTOR_PUBLIC_URL); el catálogo se relee por edad.")
    elif not status["subscriptions"]:
        print("Notificaciones del ERP: no suscritas.")
    else:
        print("Notificaciones del ERP: " + ("al día" if status["healthy"] else "incompletas (se revisan solas)"))
        for view in status["subscriptions"]:
            change = CHANGE_LABELS.get(status["changes"].get(view.event, ""), N_("Otros cambios"))
            print(f"  {change}: {MIRROR_STATUS_LABELS.get(view.status, view.status)}")
    print(f"Contactos del ERP en la copia local: {status['contacts']}"
          + (" (importando con el espacio libre del límite)" if status["contacts_importing"] else ""))


def cmd_erp_status(ctx, args) -> int:
    """The ERP connection's mirror: webhook subscriptions and contacts import."""
    from connector.services import erp_mirror_status, find_erp_connection, start_erp_mirror, stop_erp_mirror

    erp = find_erp_connection(ctx, args.account)
    if erp is None:
        print("La cuenta no tiene un ERP conectado.")
        return 1
    if args.webhooks == "off":
        stop_erp_mirror(ctx, args.account)
    elif args.webhooks == "on":
        start_erp_mirror(ctx, erp.id)
    if args.json:
        status = erp_mirror_status(ctx, args.account)
        _json({"healthy": status["healthy"], "public_url": status["public_url"], "contacts": status["contacts"],
               "contacts_importing": status["contacts_importing"],
               "subscriptions": [{"change": status["changes"].get(v.event), "status": v.status}
                                 for v in status["subscriptions"]]})
    else:
        _print_mirror(ctx, args.account)
    return 0


def _erp_class(kind: str):
    from erp.registry import erp_class

    return erp_class(kind)


def _channel_class(kind: str):
    from channels.registry import channel_class

    return channel_class(kind)


def cmd_channel_connect(ctx, args) -> int:
    from channels.registry import channel_class
    from connector.services import connect_channel

    credentials = credentials_from_args(args, args.kind, channel_class(args.kind), CHANNELS, channel_class)
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
    from connector.rules import SETTING_LABELS
    from connector.services import change_settings
    from connector.settings_check import SettingsProblems

    try:
        change = change_settings(ctx, args.account, args.assignments, channel_ref=args.channel)
    except SettingsProblems as exc:  # every problem, one a line; nothing was saved
        count = len(exc.problems)
        print(f"error: no se guardó nada; {'1 problema' if count == 1 else f'{count} problemas'}:", file=sys.stderr)
        for problem in exc.problems:
            where = f"{problem.field} ({SETTING_LABELS.get(problem.field, '')})" if problem.field else "ajustes"
            print(f"  - {where}: {problem.text}", file=sys.stderr)
        return 2
    _print_settings(change.settings, args.json)
    for problem in change.warnings:  # saved anyway: they were there before this change
        print(f"aviso: {problem.field} ({SETTING_LABELS.get(problem.field, '')}): {problem.text}", file=sys.stderr)
    if change.moved and not args.json:
        print(f"Órdenes liberadas por el cambio y procesadas ahora: {len(change.moved)}")
        for moved in change.moved:
            print(f"  orden {moved.id} ({moved.external_id}): {STATE_LABELS.get(OrderState(moved.state), moved.state)}")
    if change.still_due:
        print(f"{change.still_due} órdenes más quedan en cola; el programador o `sync --once` las procesa.")
    return 0


def _print_stock_report(report) -> None:
    state = "publica el stock" if report.enabled else "publicación de stock desactivada (solo se compara)"
    print(f"{report.channel} — {state}; {report.compared} publicaciones comparadas, "
          f"{len(report.differences)} diferencias, {report.written} escritas, {report.failed} con error "
          f"({report.erp_requests} peticiones al ERP, {report.channel_requests} al canal).")
    if report.deferred:
        print(f"  En espera: {report.deferred}")
    rows = [[d.title, d.sku, d.channel_quantity, d.desired_quantity, d.desired_price or "", d.state, d.detail]
            for d in report.differences]
    if rows:
        _table(rows, ["publicación", "sku", "canal", "ERP", "precio", "estado", "detalle"])
    for problem in report.problems[:20]:
        print(f"  · {problem['title']}: {problem['reason']}")


def _stock(ctx, args, *, dry_run: bool) -> int:
    from connector.stock_services import stock_run

    reports = stock_run(ctx, args.account, args.channel, dry_run=dry_run)
    if args.json:
        _json([r.as_dict() for r in reports])
    else:
        for report in reports:
            _print_stock_report(report)
    return 1 if any(r.failed for r in reports) else 0


def cmd_stock_diff(ctx, args) -> int:
    return _stock(ctx, args, dry_run=True)


def cmd_stock_push(ctx, args) -> int:
    return _stock(ctx, args, dry_run=args.dry_run)


def cmd_stock_settings(ctx, args) -> int:
    from connector.stock_services import stock_page, update_stock_settings
    from connector.stock_settings import STOCK_SETTING_LABELS

    settings = (update_stock_settings(ctx, args.account, args.channel, args.assignments) if args.assignments
                else stock_page(ctx, args.account, args.channel).settings)
    data = settings.model_dump(mode="json")
    if args.json:
        _json(data)
        return 0
    for key, value in data.items():
        print(f"{key:20} {value!s:12} {STOCK_SETTING_LABELS.get(key, '')}")
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

    return run_demo(orders=args.orders, keep_running=args.serve, country=args.country, erp=args.erp)


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
    add_credential_flags(p, ERPS, _erp_class)
    p.epilog = " ".join(f"{_erp_class(kind).display_name}: {_erp_class(kind).setup_help}" for kind in sorted(ERPS))
    p.add_argument("--name")
    p.add_argument("--base-url", help="solo en modo sandbox/dev")
    p = add("status", cmd_erp_status, "notificaciones del ERP (webhooks) y copia local de sus contactos", erp)
    p.add_argument("--webhooks", choices=("on", "off"), help="suscribir (on) o retirar (off) las notificaciones")

    channel = sub.add_parser("channel", help="canales de venta").add_subparsers(dest="sub", required=True)
    p = add("connect", cmd_channel_connect, "conectar un canal (se validan las credenciales antes de guardar)", channel)
    p.add_argument("kind", choices=sorted(CHANNELS))
    add_credential_flags(p, CHANNELS, _channel_class)
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

    stock = sub.add_parser("stock", help="stock (y precios) del ERP en los canales").add_subparsers(
        dest="sub", required=True)
    p = add("diff", cmd_stock_diff, "comparar el stock del ERP con el de cada publicación, sin escribir nada", stock)
    p.add_argument("--channel", help="conexión de canal (id, tipo o nombre); sin esto, todas")
    p = add("push", cmd_stock_push, "publicar en los canales el stock del ERP que cambió", stock)
    p.add_argument("--channel", help="conexión de canal (id, tipo o nombre); sin esto, todas")
    p.add_argument("--dry-run", action="store_true", help="mostrar lo que cambiaría sin escribir")
    p = add("settings", cmd_stock_settings, "ver o cambiar los ajustes de stock de un canal: clave=valor "
                                            "(enabled, warehouse_id, buffer, sync_prices, price_list_id, "
                                            "prices_include_tax)", stock)
    p.add_argument("assignments", nargs="*", metavar="clave=valor")
    p.add_argument("--channel", help="conexión de canal (id, tipo o nombre); opcional si solo hay una")

    add("choices", cmd_choices, "bodegas, listas de precios, impuestos y numeraciones del ERP")
    catalog = sub.add_parser("catalog", help="catálogo del ERP").add_subparsers(dest="sub", required=True)
    add("refresh", cmd_catalog_refresh, "volver a leer el catálogo del ERP", catalog)
    add("search", cmd_catalog_search, "buscar productos por nombre, referencia o código", catalog).add_argument("text")

    p = add("sync", cmd_sync, "leer órdenes, emparejar SKU y facturar")
    p.add_argument("--once", action="store_true", help="una pasada y salir (sin esto, repite cada intervalo)")

    orders = sub.add_parser("orders", help="órdenes").add_subparsers(dest="sub", required=True)
    p = add("list", cmd_orders_list, "listar órdenes", orders)
    p.add_argument("--state", action="append", choices=[s.value for s in OrderState])
    p.add_argument("--channel", help="conexión de canal (id, tipo o nombre)")
    p.add_argument("--from", dest="start", metavar="AAAA-MM-DD", help="creadas desde este día (en la zona del vendedor)")
    p.add_argument("--to", dest="end", metavar="AAAA-MM-DD", help="creadas hasta este día, incluido")
    p.add_argument("--text", help="orden, comprador, documento, SKU, producto o factura (sin importar tildes)")
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
    p = add("create-item", cmd_create_item, "crear en el ERP el producto de un SKU sin producto (con los datos de "
                                            "la venta), asignarlo y facturar las órdenes que esperaban")
    p.add_argument("order_id", type=int)
    p.add_argument("sku", help="el SKU de la línea sin producto")
    p.add_argument("--name")
    p.add_argument("--code", help="código de barras o referencia, según cómo asocias los productos")
    p.add_argument("--price", help="precio por unidad (con impuestos si el canal los incluye)")
    p.add_argument("--tax", help="id del impuesto en el ERP ('' para ninguno)")
    p.add_argument("--yes", action="store_true", help="crear de verdad (sin esto solo se muestra)")
    p = add("export", cmd_export, "exportar a CSV órdenes, facturas o notas crédito de un rango de días (ambos "
                                  "incluidos)")
    p.add_argument("kind", choices=["orders", "invoices", "credit-notes"])
    p.add_argument("--from", dest="start", required=True, metavar="AAAA-MM-DD")
    p.add_argument("--to", dest="end", required=True, metavar="AAAA-MM-DD")
    p.add_argument("--out", help="archivo donde escribir (por defecto, la salida estándar)")
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
    p.add_argument("--erp", choices=sorted(ERPS), help="el ERP de la demo (por defecto, el del sandbox)")
    p.add_argument("--country", help="país de la cuenta del ERP (código ISO, p. ej. MX, PE, PA)")
    p.add_argument("--serve", action=argparse.BooleanOptionalAction, default=None,
                   help="dejar el sandbox y el panel corriendo al terminar (por defecto: si hay terminal)")
    return parser


def _setting_problem(exc: ValidationError) -> str:
    """The invalid process settings, in one line and in words: "la variable CONNECTOR_WEB_WORKERS no es
    válida: debe ser un número entero ('abc')." (pydantic's own message is not shown)."""
    from connector.settings_check import problems_from_validation

    parts = []
    for problem, error in zip(problems_from_validation(exc), exc.errors(), strict=True):
        name = ".".join(str(part) for part in error.get("loc", ())) or "configuración"
        shown = f" ({error['input']!r})" if isinstance(error.get("input"), str | int | float) else ""
        parts.append(f"la variable {name} no es válida: {problem.text.rstrip('.')}{shown}.")
    return " ".join(parts)


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
