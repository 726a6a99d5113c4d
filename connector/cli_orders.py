"""Command-line commands about orders: sync, list and show, the error queue, mappings, invoicing by
hand, what follows the invoice, credit notes and reconciliation (split from connector/cli.py)."""

from __future__ import annotations

import sys
from decimal import Decimal

from connector.cli_output import _json, _money, _order_dicts, _table, cli_zone, local_time, progress_for
from connector.errors import ConfigurationError
from connector.followup_view import LEGAL_STATUS_LABELS
from connector.states import STATE_LABELS, OrderState


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
    progress = progress_for(args)
    try:
        summary = sync_once(ctx, account_id, drain=True, progress=progress)
    finally:
        progress.finish()
    if args.json:
        _json(summary.as_dict())
        return 0
    for pull in summary.pulls:
        status = (f"error: {pull.error}" if pull.error
                  else "otra sincronización de este canal ya está en curso" if pull.busy else "ok")
        print(f"canal {pull.channel_connection_id}: {pull.pulled} órdenes leídas ({pull.new} nuevas, "
              f"{pull.updated} cambiadas) — {status}")
    if summary.released:
        print(f"liberadas de la cola de errores (su causa ya está resuelta): {summary.released}")
    processed = ", ".join(f"{STATE_LABELS.get(OrderState(k), k) if k in OrderState._value2member_map_ else k}: {v}"
                          for k, v in sorted(summary.processed.items())) or "nada pendiente"
    print(f"procesadas: {processed}")
    if summary.remaining:
        print(f"quedan {summary.remaining} órdenes por procesar (esperan la ventana del ERP o un reintento); "
              "el programador las toma solas, o vuelve a correr `sync --once`.")
    else:
        print("no queda nada por procesar ahora.")
    print(f"en la cola de errores: {summary.error_queue}")
    return 0 if not any(p.error for p in summary.pulls) else 1


def _day(raw: str | None, what: str):
    from datetime import date

    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigurationError(f"La fecha {what} «{raw}» no es válida: va como AAAA-MM-DD (por ejemplo "
                                 "2026-11-20).") from None


def cmd_orders_list(ctx, args) -> int:
    from datetime import datetime, time, timedelta

    from connector.services import count_orders, find_account, find_channel_connection, list_orders

    day_from, day_to = _day(args.start, "--from"), _day(args.end, "--to")
    if day_from and day_to and day_from > day_to:
        raise ConfigurationError(f"--from ({day_from}) es posterior a --to ({day_to}): no hay días entre ellas.")
    channel_id = None
    if args.channel:
        with ctx.db.session() as session:
            channel_id = find_channel_connection(session, find_account(session, args.account), args.channel).id
    midnight = lambda day: datetime.combine(day, time.min, tzinfo=cli_zone(ctx))  # noqa: E731
    filters = dict(states=args.state or None, channel_connection_id=channel_id,
                   created_from=midnight(day_from) if day_from else None,
                   created_to=midnight(day_to + timedelta(days=1)) if day_to else None, text=args.text)
    if args.limit < 1:
        raise ConfigurationError("--limit va de 1 en adelante.")
    orders = _order_dicts(ctx, list_orders(ctx, args.account, **filters, limit=args.limit))
    total = count_orders(ctx, args.account, **filters) if len(orders) >= args.limit else len(orders)
    if args.json:
        _json(orders)
        if total > len(orders):
            print(f"{len(orders)} de {total} órdenes (usa --limit para ver más).", file=sys.stderr)
        return 0
    _table([[o["id"], o["channel"], o["external_id"], local_time(ctx, o["created_at"]), o["state"], o["status"],
             o["total_paid"], (o["invoice"] or {}).get("number"), o["reason"][:60]] for o in orders],
           ["id", "canal", "orden", "fecha", "estado", "estado canal", "pagado", "factura", "motivo"])
    if total > len(orders):
        print(f"{len(orders)} de {total} órdenes (usa --limit para ver más, o filtra).")
    else:
        print(f"{total} órdenes." if total != 1 else "1 orden.")
    return 0


def cmd_orders_show(ctx, args) -> int:
    from connector.cli_cockpit import print_money
    from connector.money_view import order_money
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
    money = order_money(ctx, order.id, args.account)
    data["money"] = None if money.explanation is None else {
        **money.explanation.to_json(), "difference": str(money.explanation.difference), "stored": money.stored}
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
                  + (f" {local_time(ctx, delivery['at'])}" if delivery["at"] else "") + (f" — {delivery['detail']}" if delivery["detail"] else ""))
        if invoice["payment"]:
            payment = invoice["payment"]
            print(f"  pago registrado: {payment['amount']} en la cuenta {payment['account']} "
                  f"({local_time(ctx, payment['at'])})")
        elif invoice["payment_status"]:
            print(f"  pago: {invoice['payment_status']}")
    print_money(money)
    for note in data["credit_notes"]:
        print(f"  reembolso {note['refund_id']} de {note['refunded']}: {note['state']}"
              + (f" — nota crédito {note['number']} por {note['amount']} ({note['type']}, {note['legal_status']})"
                 if note["number"] else (f" — {note['note']}" if note["note"] else "")))
    for event in data["activity"]:  # in the seller's zone, like the resume times
        print(f"  {local_time(ctx, event['at'])} {event['actor']:12} {event['from'] or '':>12} → {event['to']:12} "
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
    from connector.mapping_checks import check_mapping
    from connector.services import map_sku

    check = check_mapping(ctx, args.account, args.sku, args.item_id, channel_ref=args.channel)  # refuses a parent
    for warning in check.warnings:
        print(f"aviso: {warning}", file=sys.stderr)
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
    progress = progress_for(args)
    try:
        report = reconcile_invoices(ctx, args.account, start, end, repair=args.repair, progress=progress)
    finally:
        progress.finish()
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
