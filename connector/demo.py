"""``connector demo``: the whole flow against the loopback sandbox, narrated.

Starts the sandbox (:mod:`sandbox.demo_world` says which ERP and marketplaces, and with which
credentials), creates a seller, connects them with credentials (validated over HTTP like the real
thing), sets the invoicing rules, runs one sync, shows what was invoiced and what waits in the error
queue, fixes the SKU mismatch with one command, and proves a second sync invoices nothing twice.
``--country`` runs it for an ERP account of that country (its fiscal profile, taxes and currency).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from connector import services
from connector.context import AppContext
from connector.demo_stock import narrate_stock
from connector.errors import ConfigurationError
from connector.fiscal import fiscal_profile_of
from connector.followup import run_due_followups
from connector.followup_view import (
    DELIVERY_VIA_LABELS,
    LEGAL_STATUS_LABELS,
    WRITE_STATE_LABELS,
    invoice_after_view,
)
from connector.settings import Settings
from connector.states import STATE_LABELS, OrderState
from connector.sync import sync_once
from erp.registry import erp_class
from sandbox.catalog import UNMAPPED_SKUS
from sandbox.demo_world import DemoWorld, start_demo_world

DEMO_DIR = Path("var/demo")
DEMO_RATE_LIMIT = 600
DEMO_LOGIN = ("demo@tiendacafetera.co", "cafe-de-origen-2026")
DEMO_UI_PORT = 8000
DEMO_STAMP_ANSWER_SECONDS = 0.5
DEMO_STAMP_REJECT_SHARE = 0.1


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


def run_demo(*, orders: int = 60, keep_running: bool | None = None, data_dir: Path = DEMO_DIR,
             country: str | None = None, erp: str | None = None) -> int:
    """Narrate the whole flow. ``keep_running``: keep the sandbox and the admin UI up afterwards
    (default: when run from a terminal, so a script or CI is never left waiting). ``country``: the ERP
    account's country (None: the sandbox's default); ``erp``: which registered ERP (None: the sandbox's)."""
    if keep_running is None:
        keep_running = sys.stdin.isatty()
    if data_dir.exists():
        shutil.rmtree(data_dir)  # every demo starts from an empty database
    # The sandbox enforces the ERP's rate-limit mechanics at 600/min (4× Alegra's 150) so the demo's
    # ~180 orders take seconds; `python -m benchmarks.throughput` measures against the real ratio.
    # The sandbox's tax authority answers a stamped e-invoice in half a second and rejects about one
    # in ten (an out-of-range number), so the demo shows both answers and how to re-send.
    settings = Settings(data_dir=data_dir, mode="sandbox", database_url=None, redis_url=None,
                        reconcile_delay_seconds=0, erp_rate_limit_per_minute=DEMO_RATE_LIMIT,
                        legal_status_check_seconds=DEMO_STAMP_ANSWER_SECONDS)
    try:
        world = start_demo_world(orders=orders, country=country, erp=erp, rate_limit_per_minute=DEMO_RATE_LIMIT,
                                 stamp_answer_delay=DEMO_STAMP_ANSWER_SECONDS,
                                 stamp_reject_share=DEMO_STAMP_REJECT_SHARE)
    except ValueError as exc:  # an ERP or a country the sandbox does not have
        raise ConfigurationError(str(exc)) from exc
    ctx = AppContext.from_settings(settings)
    try:
        return _narrate(ctx, world, keep_running)
    finally:
        ctx.close()
        world.stop()


def _narrate(ctx: AppContext, world: DemoWorld, keep_running: bool) -> int:
    _title("1. Sandbox local")
    for kind, url in world.urls().items():
        print(f"{kind + ':':15} {url}")
    ctx.db.migrate()
    erp_name = erp_class(world.erp.kind).display_name

    _title("2. Cuenta y conexiones (credenciales validadas contra la API antes de guardarlas)")
    account = services.create_account(ctx, "Tienda Cafetera")
    try:
        services.connect_erp(ctx, account.id, world.erp.kind, world.erp.wrong_credentials, base_url=world.erp.url)
    except Exception as exc:  # noqa: BLE001 - showing the refusal is the point
        print(f"Credencial incorrecta → {exc}")
    erp = services.connect_erp(ctx, account.id, world.erp.kind, world.erp.credentials, base_url=world.erp.url)
    profile = fiscal_profile_of(erp)
    print(f"ERP: {erp.name} [{erp.credential_hint}] — {profile.country_name}, {profile.currency}")
    for kind, (credentials, url) in world.channels.items():
        channel = services.connect_channel(ctx, account.id, kind, credentials, base_url=url)
        print(f"Canal: {channel.name} [{channel.credential_hint}]")

    _title("3. Reglas de facturación automática")
    shipping_item = next(i for i in services.search_catalog(ctx, account.id, world.shipping_reference)
                         if i.reference == world.shipping_reference)
    bank = next(b for b in services.erp_choices(ctx, account.id)["bank_accounts"]
                if b["name"] == world.payment_account_name)
    settings = services.update_settings(ctx, account.id, [
        "deliver_invoice=true", "record_payment=true", f"payment_account_id={bank['id']}",
        f"payment_account_method={world.payment_account_method}",
        "enabled=true", "order_states=pending,shipped,completed", "invoice_fulfillment=false", "invoice_status=open",
        "stamp=true", "match_by=barcode", "apply_taxes=true", f"shipping_item_id={shipping_item.erp_id}",
        f"default_email={world.default_email}", f"default_phone={world.default_phone}",
        "show_observations_on_pdf=true",
    ])
    print(f"activa={settings.enabled} estados={[s.value for s in settings.order_states]} "
          f"fulfillment={settings.invoice_fulfillment} abierta={settings.invoice_status} emitir={settings.stamp} "
          f"bodega={settings.invoice_warehouse_id} lista={settings.invoice_price_list_id} envío={shipping_item.name}")
    print(f"enviar al comprador={settings.deliver_invoice} registrar el pago={settings.record_payment} "
          f"(cuenta {bank['name']})")

    _title("4. Sincronización: leer → emparejar → facturar")
    summary = sync_once(ctx, account.id)
    kinds = {c.id: c.kind for c in services.list_channel_connections(ctx, account.id)}
    for pull in summary.pulls:
        print(f"Órdenes leídas de {kinds[pull.channel_connection_id]}: {pull.pulled}")
    _print_states(ctx, account.id)

    _title("5. Cola de errores (con el motivo)")
    queue = services.error_queue(ctx, account.id)
    for order in queue[:8]:
        print(f"orden {order.id} ({order.channel_connection.kind} {order.external_id}): {order.state_reason}")
    if len(queue) > 8:
        print(f"... y {len(queue) - 8} más")
    mismatches = services.list_mismatches(ctx, account.id)
    print(f"\nSKU sin producto en {erp_name}:")
    for m in mismatches:
        print(f"  {kinds[m.channel_connection_id]:13} {m.sku_key:16} «{m.title}» bloquea {m.blocked_orders} órdenes")

    _title("6. Arreglo: asignar el SKU al producto correcto y facturar con un comando")
    fixed = 0
    for m in mismatches:
        target = UNMAPPED_SKUS.get(m.sku_key)
        if target is None:
            continue
        text, reference = world.mismatch_search
        item = next(i for i in services.search_catalog(ctx, account.id, text) if i.reference == reference)
        print(f"$ connector map {m.sku_key} {item.erp_id} --channel {kinds[m.channel_connection_id]}")
        _, results = services.map_sku(ctx, account.id, m.sku_key, item.erp_id, actor="demo",
                                      channel_ref=m.channel_connection_id)
        for order in results.values():
            number = order.invoice.number if order.invoice else order.state_reason
            print(f"  orden {order.id}: {STATE_LABELS[OrderState(order.state)]} — {number}")
            fixed += order.state == OrderState.INVOICED
    print(f"Órdenes facturadas tras el arreglo: {fixed}")

    _title("7. Una segunda sincronización no factura nada dos veces")
    before = len(world.erp.invoices())
    again = sync_once(ctx, account.id)
    after = len(world.erp.invoices())
    print(f"Leídas de nuevo: {again.pulled}; facturas en {erp_name} antes: {before}, después: {after}")
    markers = Counter(inv.get("observations", "") for inv in world.erp.invoices())
    duplicates = [m for m, n in markers.items() if n > 1]
    print(f"Facturas duplicadas en el ERP: {len(duplicates)}")

    authority = _of(profile.tax_authority)
    _title(f"8. Después de la factura: respuesta {authority}, entrega al comprador, pago")
    _after_the_invoice(ctx, world, account.id, authority)

    _title("9. Reembolsos y cancelaciones: notas crédito, una por reembolso")
    _credit_notes(ctx, world, account.id, profile.currency)

    if world.stock_probe is not None and len(world.channels) > 1:
        first = next(iter(world.channels))
        _title(f"10. Stock de {erp_name} en los canales (una venta en {first} baja el stock de los demás)")
        narrate_stock(ctx, world.stock_probe, account.id, erp_name)

    _title("11. Resultado")
    _print_states(ctx, account.id)
    invoiced = services.list_orders(ctx, account.id, states=[OrderState.INVOICED.value], limit=1000)
    print(f"Facturas en {erp_name} (sandbox): {after}")
    for kind in sorted({o.channel_connection.kind for o in invoiced}):
        mine = [o for o in invoiced if o.channel_connection.kind == kind]
        total = sum((o.invoice.total for o in mine if o.invoice), Decimal("0"))
        paid = sum((o.total_paid or Decimal("0")) for o in mine)
        # A cent per invoice at most is the ERP's own rounding of each line's tax (its arithmetic, to the
        # cent); more than that, the channel's surcharges, which are not invoiced (the order page explains each).
        note = ("" if total == paid else
                f"  (la diferencia: el redondeo del ERP, {abs(total - paid):,.2f} en {len(mine)} facturas)"
                if abs(total - paid) <= Decimal("0.01") * len(mine)
                else "  (la diferencia: recargos del canal, que no se facturan)")
        print(f"  {kind:13} {len(mine):3} facturas, total {total:,.2f} {profile.currency}; "
              f"pagado {paid:,.2f} {profile.currency}{note}")
    if invoiced:
        sample = invoiced[0]
        print(f"Ejemplo: orden {sample.channel_connection.kind} {sample.external_id} → factura {sample.invoice.number}, "
              f"total {sample.invoice.total:,.2f} {profile.currency}")
    print(f"\nDónde mirar (la base de datos de la demo queda en {ctx.settings.data_dir}/):")
    env = f"CONNECTOR_DATA_DIR={ctx.settings.data_dir} CONNECTOR_MODE=sandbox"
    print(f"  {env} .venv/bin/connector orders list")
    print(f"  {env} .venv/bin/connector errors")
    print(f"  {env} .venv/bin/connector orders show {invoiced[0].id if invoiced else 1}")
    print(f"  {env} .venv/bin/connector orders list --json     (legal_status, cufe, delivery, payment, credit_notes)")
    print(f"  {env} .venv/bin/connector credit-notes list")
    print(f"  {env} .venv/bin/connector stock diff     (mientras la demo corre: lee el stock de los canales)")
    _title("12. Panel web")
    url, web = _serve_ui(ctx, world, account.id)
    print(f"Panel de administración: {url}\nUsuario: {DEMO_LOGIN[0]}   Contraseña: {DEMO_LOGIN[1]}")
    print(f"(o crea el tuyo: {env} .venv/bin/connector user create tu@correo.co --account 'Tienda Cafetera')")
    stop_scheduler = None
    try:
        if keep_running:
            from connector.scheduler import start_embedded_scheduler

            # Retries, orders waiting for the ERP and new sales go on by themselves while it runs.
            stop_scheduler = start_embedded_scheduler(ctx)
            print("\nSandbox y panel corriendo (sincroniza y reintenta solo); Ctrl+C para terminar.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        else:
            print("\n(Sin terminal interactiva: el panel se detiene al salir. Para dejarlo corriendo: "
                  "make demo-serve, o .venv/bin/connector demo --serve)")
    finally:
        if stop_scheduler is not None:
            stop_scheduler()
        web.shutdown()
    return 0 if after == before and not duplicates else 1


def _of(name: str) -> str:
    """"de la DIAN", "del SAT": Spanish contracts "de el"."""
    article, _, rest = name.partition(" ")
    if article == "El":
        return f"del {rest}"
    return f"de {article.lower()} {rest}" if article in ("La", "Los", "Las") else f"de {name}"


def _follow_until_answered(ctx: AppContext, account_id: int, timeout: float = 30.0) -> None:
    """Run what is due after the invoices until every e-invoice has its answer (the embedded worker
    and the Celery sweeper do the same on their own schedule)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_due_followups(ctx, account_id)
        waiting = [o for o in services.list_orders(ctx, account_id, limit=100000)
                   if o.invoice is not None and o.invoice.next_followup_at is not None]
        if not waiting:
            return
        time.sleep(DEMO_STAMP_ANSWER_SECONDS / 2)


def _after_the_invoice(ctx: AppContext, world: DemoWorld, account_id: int, authority: str) -> None:
    print(f"Esperando la respuesta {authority} (sandbox: medio segundo)…")
    _follow_until_answered(ctx, account_id)
    orders = [o for o in services.list_orders(ctx, account_id, limit=100000) if o.invoice is not None]
    views = {o.id: invoice_after_view(o.invoice) for o in orders}
    legal = Counter(v["legal_status"] for v in views.values())
    for status, label in LEGAL_STATUS_LABELS.items():
        if legal.get(status):
            print(f"  factura electrónica {label.lower():45} {legal[status]}")
    deliveries = Counter((v["delivery"]["via"], v["delivery"]["status"]) for v in views.values() if v["delivery"])
    for (via, status), count in sorted(deliveries.items()):
        print(f"  entrega: {DELIVERY_VIA_LABELS.get(via, via):34} {WRITE_STATE_LABELS.get(status, status):14} {count}")
    payments = sum(1 for v in views.values() if v["payment"])
    print(f"  pagos registrados en el ERP (cuenta {world.payment_account_name}): {payments}")
    records = world.erp.records()
    twice = [k for k, n in records["stamps_emitted"].items() if n > 1]
    print(f"  en el sandbox: {sum(len(e) for e in records['emails'].values())} e-mails, "
          f"{sum(len(p) for p in records['payments'].values())} pagos, facturas emitidas dos veces: {len(twice)}")
    rejected = [o for o in orders if o.state == OrderState.REJECTED]
    if not rejected:
        return
    sample = rejected[0]
    print(f"\nRechazada: orden {sample.id} ({sample.channel_connection.kind} {sample.external_id}), "
          f"factura {sample.invoice.number}:\n  {sample.state_reason}")
    print("Arreglo (en el ERP: la numeración autorizada) y reenvío, una sola vez:")
    print(f"$ connector resend {sample.id}")
    services.invoice_orders(ctx, [sample.id], account_ref=account_id, actor="demo")
    _follow_until_answered(ctx, account_id)
    again = services.get_order(ctx, sample.id, account_id)
    print(f"  orden {again.id}: {STATE_LABELS[OrderState(again.state)]} — factura electrónica "
          f"{LEGAL_STATUS_LABELS[again.invoice.legal_status].lower()}"
          + (f", CUFE {again.invoice.cufe[:16]}…" if again.invoice.cufe else ""))
    stamp = max((w for w in again.invoice.writes if w.kind == "stamp"), key=lambda w: w.id, default=None)
    if stamp is not None and stamp.state == "failed":  # an ERP that cannot re-send says how to do it
        print(f"  el ERP no lo reenvió: {stamp.detail}")
    if len(rejected) > 1:
        print(f"  (las otras {len(rejected) - 1} rechazadas quedan en la cola de errores para verlas en el panel)")


def _credit_notes(ctx: AppContext, world: DemoWorld, account_id: int, currency: str) -> None:
    """The first marketplace credits by itself; the others wait for the seller's approval (the default)."""
    connections = {c.kind: c.id for c in services.list_channel_connections(ctx, account_id)}
    first, *others = list(world.channels)
    services.update_settings(ctx, account_id, ["credit_notes=automatic"], channel_ref=connections[first])
    print(f"Reglas: {first} → notas crédito automáticas" + (f"; {', '.join(others)} → por aprobar." if others else "."))
    invoiced = {kind: [o for o in services.list_orders(ctx, account_id, channel_connection_id=cid,
                                                        states=[OrderState.INVOICED.value], limit=1000)
                       if o.invoice is not None and o.invoice.legal_status in ("accepted", "accepted_with_observations")]
                for kind, cid in connections.items()}
    refunds = [{"lines": {0: 1}, "reason": "Producto defectuoso"}, {"full": True, "reason": "El comprador canceló"},
               {"lines": {0: 1}, "shipping": True, "reason": "Devolución"}]
    given = [(kind, world.refunders[kind], options) for kind, options in zip(world.channels, refunds, strict=False)]
    for kind, refund, options in given:
        if invoiced.get(kind):
            order = invoiced[kind][0]
            record = refund(int(order.external_id), **options)
            if record:
                print(f"  {kind:13} orden {order.external_id}: reembolso de {Decimal(record['amount']):,.2f} {currency} "
                      f"({options['reason'].lower()})")
    sync_once(ctx, account_id)
    _follow_until_answered(ctx, account_id)
    for row in services.list_refunds(ctx, account_id):
        if row["number"]:
            print(f"  nota crédito {row['number']} ({row['type']}) por {Decimal(row['amount']):,.2f} {currency} — orden "
                  f"{row['channel']} {row['external_id']}, factura {row['invoice']}")
    waiting = services.list_refunds(ctx, account_id, states=["waiting_approval"])
    for row in waiting:
        print(f"  por aprobar: reembolso {row['id']} de la orden {row['channel']} {row['external_id']} "
              f"({Decimal(row['refunded']):,.2f} {currency})")
    if waiting:
        print(f"Para aprobarlas: connector credit-notes approve {' '.join(str(r['id']) for r in waiting)}  "
              "(o en el panel: Notas crédito)")


def _serve_ui(ctx: AppContext, world: DemoWorld, account_id: int):
    """The admin UI on port 8000 (or a free one), with the demo login and the sandbox's addresses."""
    from admin_ui import serve_in_thread
    from connector.users import create_user

    create_user(ctx, account_id, *DEMO_LOGIN)
    config = {"API_BASE_URLS": world.urls(), "SANDBOX_CREDENTIALS": world.sandbox_credentials_hint()}
    try:
        return serve_in_thread(ctx, port=DEMO_UI_PORT, **config)
    except OSError:  # port taken: any free one
        return serve_in_thread(ctx, port=0, **config)


def _print_states(ctx: AppContext, account_id: int) -> None:
    counts = Counter(o.state for o in services.list_orders(ctx, account_id, limit=100000))
    for state in OrderState:
        if counts.get(state.value):
            print(f"  {STATE_LABELS[state]:30} {counts[state.value]}")
