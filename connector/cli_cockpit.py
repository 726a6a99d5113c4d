"""The CLI's commands for the seller's cockpit: the CSV export for the accountant, creating a missing
product in the ERP, and the money explained under ``orders show`` (connector/cli.py wires them)."""

from __future__ import annotations

import sys

from connector.cli_output import _money, cli_zone
from connector.states import STATE_LABELS, OrderState


def print_money(money) -> None:
    """What the buyer paid, what was invoiced, and where the difference went (connector/money_explained.py)."""
    from connector.money_explained import WHY_TEXT

    explanation = money.explanation
    if explanation is None:
        print(f"  dinero: {money.unavailable_reason}")
        return
    how = "" if money.stored else " (sin factura enviada: con la configuración de hoy)"
    print(f"  pagado {_money(explanation.paid)} · facturado {_money(explanation.invoiced)} · "
          f"diferencia {_money(explanation.difference)}{how}")
    for entry in explanation.entries:
        print(f"    {entry.label[:40]:40} {_money(entry.shown_amount):>14} → factura {_money(entry.invoiced):>14}"
              f"  fuera {_money(entry.left_out):>12}  {WHY_TEXT.get(entry.why, entry.why)}")


def cmd_export(ctx, args) -> int:
    """The CSV for the accountant (connector/exports.py), to --out or to the standard output; days are
    the seller's (CONNECTOR_TIMEZONE)."""
    from connector.exports import export_csv, parse_range

    start, end = parse_range(args.start, args.end)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                count = export_csv(ctx, args.account, args.kind, start, end, out, tz=cli_zone(ctx))
        except OSError as exc:
            print(f"error: no se pudo escribir {args.out} ({exc.strerror or 'error de archivo'}).", file=sys.stderr)
            return 2
        print(f"{count} filas en {args.out} (del {start} al {end}).", file=sys.stderr)
        return 0
    export_csv(ctx, args.account, args.kind, start, end, sys.stdout, tz=cli_zone(ctx))
    return 0


def cmd_create_item(ctx, args) -> int:
    """"Crear en el ERP" from the command line: without --yes it shows what would be created."""
    from connector.item_creation import create_item_for_line, propose_item

    proposal = propose_item(ctx, args.account, args.order_id, args.sku)
    values = {"name": args.name or proposal.name, "code": args.code or proposal.code,
              "price": args.price or str(proposal.price),
              "tax_id": proposal.tax_id if args.tax is None else args.tax}
    tax = next((f"{t.name} ({t.extra.get('percentage')} %)" for t in proposal.taxes if t.id == values["tax_id"]),
               "sin impuesto")
    code_label = "código de barras" if proposal.code_is_barcode else "referencia"
    price_label = "con impuestos" if proposal.price_includes_tax else "antes de impuestos"
    print(f"nombre: {values['name']}\n{code_label}: {values['code']}\nprecio ({price_label}): {values['price']}\n"
          f"impuesto: {tax}")
    if not args.yes:
        print("Nada creado. Revisa los datos y repite con --yes para crear el producto (o cambia --name, --code, "
              "--price, --tax).")
        return 0
    created = create_item_for_line(ctx, args.account, args.order_id, args.sku, actor="cli", **values)
    how = "ya existía en el ERP con ese código; se usa" if created.found_existing else "creado en el ERP"
    print(f"producto {created.item.erp_id} «{created.item.name}»: {how}.")
    for order_id, state in sorted(created.invoiced.items()):
        print(f"  orden {order_id}: {STATE_LABELS.get(OrderState(state), state)}")
    return 0
