"""The command line for daily work: settings refused with every problem and nothing saved, a fix that
frees held orders, sync --once that drains and says what remains, orders list filters and "200 of
206", map's refusals and warnings, times in the seller's zone, progress bars only on a terminal."""

from __future__ import annotations

import re
from datetime import UTC
from zoneinfo import ZoneInfo

from sqlalchemy import select

from connector import cli_output, services
from connector.models import ActivityEvent, CatalogItem, ERPConnection
from connector.sync import sync_once
from tests.conftest import DEMO_RULES, connect_seller


def test_rules_set_lists_every_problem_exits_non_zero_and_saves_nothing(ctx, seller, run_cli):
    before = services.show_settings(ctx, seller)
    code, out, err = run_cli("rules", "set", "default_email=", "due_days=-1", "shipping_item_id=", "stamp=quizás",
                             "observations=Pedido {numero}")
    assert code == 2 and out == ""
    assert "no se guardó nada; 4 problemas:" in err  # "Expedir" unreadable: its e-mail rule is not judged
    for words in ("Días de plazo", "debe ser 0 o más", "Facturar el costo de envío", "debe ser sí o no", "{numero}"):
        assert words in err, words
    assert "Input should" not in err and "Value error" not in err
    assert services.show_settings(ctx, seller) == before


def test_rules_set_that_fixes_held_orders_processes_them_and_says_which(ctx, sandbox, run_cli):
    rules = [r for r in DEMO_RULES if not r.startswith("default_email")]
    account = connect_seller(ctx, sandbox, rules=[*rules, "stamp=false"])
    with ctx.db.transaction() as session:
        erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account))
        erp.settings = {**erp.settings, "stamp": True, "default_email": None}
    sync_once(ctx, account)
    held = [o for o in services.error_queue(ctx, account) if "e-mail" in o.state_reason]
    assert held
    code, out, _ = run_cli("rules", "set", "default_email=f@tienda.co", "--account", str(account))
    assert code == 0 and "Órdenes liberadas por el cambio y procesadas ahora" in out
    for order in held:
        assert re.search(rf"orden {order.id} \({re.escape(order.external_id)}\): Facturada", out)


def test_sync_once_drains_and_says_nothing_remains(ctx, seller, run_cli):
    code, out, err = run_cli("sync", "--once")
    assert code == 0 and "no queda nada por procesar ahora." in out
    assert "órdenes procesadas" not in err  # no bars into a pipe


def test_orders_list_filters_and_says_how_many_of_how_many(ctx, seller, run_cli):
    sync_once(ctx, seller)
    total = services.count_orders(ctx, seller)
    code, out, _ = run_cli("orders", "list", "--limit", "5")
    assert code == 0 and f"5 de {total} órdenes" in out
    held = services.count_orders(ctx, seller, states=["error"], text="aromática")
    assert held >= 2  # the held candles
    code, out, _ = run_cli("orders", "list", "--text", "AROMATICA", "--state", "error")
    assert code == 0 and out.rstrip().endswith(f"{held} órdenes.")
    code, out, _ = run_cli("orders", "list", "--channel", "mercadolibre", "--from", "2020-01-01", "--to", "2999-01-01")
    assert code == 0 and f"{total} órdenes." in out
    code, _, err = run_cli("orders", "list", "--from", "2026-12-01", "--to", "2026-01-01")
    assert code == 2 and "posterior a --to" in err
    code, _, err = run_cli("orders", "list", "--from", "ayer")
    assert code == 2 and "AAAA-MM-DD" in err


def test_map_refuses_a_variant_parent_and_warns_on_unknown_sku_and_replacement(ctx, seller, run_cli):
    sync_once(ctx, seller)
    with ctx.db.session() as session:
        parent = session.scalar(select(CatalogItem).where(CatalogItem.kind == "variantParent"))
        plain = session.scalars(select(CatalogItem).where(CatalogItem.kind != "variantParent",
                                                         CatalogItem.parent_id.is_(None))).all()[:2]
    assert parent is not None
    code, out, err = run_cli("map", "VELA-AROM-01", parent.erp_id)
    assert code == 2 and "producto con variantes" in err
    code, out, err = run_cli("map", "NO-EXISTE-123", plain[0].erp_id, "--no-invoice")
    assert code == 0 and "ninguna orden" in err and "NO-EXISTE-123" in err
    code, out, err = run_cli("map", "NO-EXISTE-123", plain[1].erp_id, "--no-invoice")
    assert code == 0 and "se reemplaza" in err and plain[0].erp_id in err


def test_trail_times_are_in_the_sellers_zone(ctx, seller, run_cli):
    sync_once(ctx, seller)
    order = services.list_orders(ctx, seller, states=["invoiced"])[0]
    with ctx.db.session() as session:
        first = session.scalars(select(ActivityEvent).where(ActivityEvent.order_id == order.id)
                                .order_by(ActivityEvent.id)).first()
    # No CONNECTOR_TIMEZONE: the zone of the country the seller's ERP invoices in (the sandbox's is Colombian).
    at = first.at if first.at.tzinfo else first.at.replace(tzinfo=UTC)
    local = at.astimezone(ZoneInfo("America/Bogota")).strftime("%Y-%m-%d %H:%M:%S")
    code, out, _ = run_cli("orders", "show", str(order.id))
    assert code == 0 and local in out


def test_progress_bars_only_on_a_terminal(monkeypatch):
    class Args:
        json = False

    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    assert not cli_output.shows_progress(Args())
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    assert cli_output.shows_progress(Args())
    Args.json = True
    assert not cli_output.shows_progress(Args())


def test_sync_once_draws_bars_on_a_terminal(ctx, seller, run_cli, monkeypatch):
    monkeypatch.setattr(cli_output, "shows_progress", lambda args: not getattr(args, "json", False))
    code, out, err = run_cli("sync", "--once")
    assert code == 0 and "canales leídos" in err and "órdenes procesadas" in err
    assert "no queda nada por procesar ahora." in out
