"""CSV exports for the accountant: ranges explained, cells a spreadsheet would run escaped, the CLI's
``export`` writing what the database holds (on both databases through the ``ctx`` fixture)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import update

from connector import services
from connector.exports import InvalidExport, parse_range, safe_cell
from connector.models import Order
from connector.sync import sync_once
from tests.conftest import connect_seller


@pytest.mark.parametrize(("start", "end", "message"), [
    ("", "2026-11-30", "Falta la fecha inicial"),
    ("2026-11-01", None, "Falta la fecha final"),
    ("ayer", "2026-11-30", "La fecha inicial «ayer» no es válida"),
    ("2026-02-30", "2026-03-01", "no es válida"),
    ("1900-01-01", "2026-03-01", "fuera del rango admitido"),
    ("2026-12-01", "2026-11-01", "es posterior a la final"),
])
def test_an_invalid_range_is_explained(start, end, message):
    with pytest.raises(InvalidExport, match=message):
        parse_range(start, end)


def test_a_valid_range_includes_both_days():
    assert parse_range(" 2026-11-01", "2026-11-01") == (date(2026, 11, 1), date(2026, 11, 1))


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\")", "+57 300", "-1+1", "@SUM(A1)", "\tx", "\rx"])
def test_text_a_spreadsheet_would_run_is_escaped(value):
    assert safe_cell(value) == "'" + value


def test_numbers_and_plain_text_are_left_alone():
    assert safe_cell(Decimal("-2000.00")) == "-2000.00"
    assert safe_cell("Ana María") == "Ana María" and safe_cell(None) == ""


def test_cli_export_writes_orders_invoices_and_credit_notes(ctx, sandbox, run_cli, tmp_path):
    account = connect_seller(ctx, sandbox)
    sync_once(ctx, account)
    orders = services.list_orders(ctx, account, limit=1000)
    victim = orders[0]
    with ctx.db.transaction() as session:  # a buyer name made to run in a spreadsheet
        session.execute(update(Order).where(Order.id == victim.id).values(buyer_name="=cmd|' /C calc'!A0"))
    code, out, _ = run_cli("export", "orders", "--from", "2000-01-01", "--to", "2999-12-31")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:3] == ["Fecha", "Canal", "Orden"]
    assert len(rows) - 1 == len(orders)
    by_order = {row[2]: row for row in rows[1:]}
    assert by_order[victim.external_id][5] == "'=cmd|' /C calc'!A0"

    invoiced = [o for o in orders if o.invoice is not None]
    target = tmp_path / "facturas.csv"
    code, _, err = run_cli("export", "invoices", "--from", "2000-01-01", "--to", "2999-12-31", "--out", str(target))
    assert code == 0 and f"{len(invoiced)} filas" in err
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert {row[1] for row in rows[1:]} == {o.invoice.number for o in invoiced}
    assert sum(Decimal(row[8]) for row in rows[1:]) == sum(o.invoice.total for o in invoiced)

    code, out, _ = run_cli("export", "credit-notes", "--from", "2000-01-01", "--to", "2999-12-31")
    assert code == 0 and out.splitlines()[0].startswith("Fecha del reembolso")

    code, out, _ = run_cli("export", "invoices", "--from", "2030-01-01", "--to", "2030-01-31")
    assert code == 0 and len(out.splitlines()) == 1  # the header only


def test_cli_export_refuses_a_bad_range_or_path_in_one_line(ctx, run_cli, tmp_path):
    services.create_account(ctx, "Tienda")
    code, _, err = run_cli("export", "orders", "--from", "2026-12-01", "--to", "2026-11-01")
    assert code == 2 and "es posterior a la final" in err
    code, _, err = run_cli("export", "orders", "--from", "2026-11-01", "--to", "2026-11-31")
    assert code == 2 and "no es válida" in err
    code, _, err = run_cli("export", "orders", "--from", "2026-11-01", "--to", "2026-11-30",
                           "--out", str(tmp_path / "no-such-dir" / "x.csv"))
    assert code == 2 and "no se pudo escribir" in err


def test_cli_orders_show_explains_the_money(ctx, sandbox, run_cli):
    import json

    account = connect_seller(ctx, sandbox)
    sync_once(ctx, account)
    order = services.list_orders(ctx, account, states=["invoiced"])[0]
    code, out, _ = run_cli("orders", "show", str(order.id))
    assert code == 0 and "pagado" in out and "diferencia" in out and "Facturada con su producto del ERP" in out
    code, out, _ = run_cli("orders", "show", str(order.id), "--json")
    money = json.loads(out)["money"]
    assert money["stored"] is True and Decimal(money["invoiced"]) == order.invoice.total
    errored = services.error_queue(ctx, account)[0]
    code, out, _ = run_cli("orders", "show", str(errored.id))
    assert code == 0 and ("dinero:" in out or "sin factura enviada" in out)
