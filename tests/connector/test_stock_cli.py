"""``connector stock diff|push|settings``: what would change, what was written, settings refused in
the seller's words — one clear line and exit 2 on a refusal, never a traceback."""

from __future__ import annotations

import json

from sandbox.alegra_inventory import set_stock
from sandbox.catalog import PRODUCTS

TERMO = next(p for p in PRODUCTS if p.key == "termo")


def test_diff_then_push_with_dry_run_then_push(ctx, sandbox, seller, run_cli):
    set_stock(sandbox.alegra_state, sandbox.alegra_state.item_id_for_barcode(TERMO.barcode), 1, 5)
    listings = sandbox.ml_state.stock_listings
    code, out, _ = run_cli("stock", "diff", "--json")
    assert code == 0
    (report,) = json.loads(out)
    termo = next(d for d in report["differences"] if d["sku"] == TERMO.barcode)
    assert termo["desired_quantity"] == 5 and termo["state"] == "planned" and report["dry_run"]

    code, out, _ = run_cli("stock", "push")  # stock sync is off: it only compares, and says so
    assert code == 0 and "desactivada" in out and listings.quantity_of_sku(TERMO.barcode) == 40

    code, out, _ = run_cli("stock", "settings", "enabled=true", "buffer=1")
    assert code == 0 and "buffer" in out
    code, out, _ = run_cli("stock", "push", "--dry-run", "--json")
    assert json.loads(out)[0]["dry_run"] and listings.quantity_of_sku(TERMO.barcode) == 40
    code, out, _ = run_cli("stock", "push", "--channel", "mercadolibre")
    assert code == 0 and listings.quantity_of_sku(TERMO.barcode) == 4  # 5 minus the buffer


def test_bad_settings_are_one_line_and_exit_2(ctx, sandbox, seller, run_cli):
    code, _, err = run_cli("stock", "settings", "sync_prices=true")
    assert code == 2 and "elige la lista de precios" in err
    code, _, err = run_cli("stock", "settings", "buffer=-3")
    assert code == 2 and "Margen de seguridad (unidades que no se publican): debe ser 0 o más" in err
    code, _, err = run_cli("stock", "settings", "buffer=muchas")
    assert code == 2 and "debe ser un número entero" in err
    code, _, err = run_cli("stock", "settings", "bodega=1")
    assert code == 2 and "Ajuste de stock desconocido" in err
    code, _, err = run_cli("stock", "diff", "--channel", "nada")
    assert code == 2 and "No existe la conexión de canal" in err


def test_without_an_erp_stock_says_what_to_do(ctx, run_cli):
    from connector import services

    account = services.create_account(ctx, "Tienda sin ERP")
    code, _, err = run_cli("stock", "diff", "--account", str(account.id))
    assert code == 2 and "canales conectados" in err


def test_siigo_stock_is_compared_with_the_channel(ctx, sandbox, run_cli):
    from tests.conftest import connect_seller

    connect_seller(ctx, sandbox, erp="siigo")
    with sandbox.siigo_state.lock:
        termo = sandbox.siigo_state.products[TERMO.reference]
        termo["warehouses"][0]["quantity"] = termo["available_quantity"] = 6
    code, out, _ = run_cli("stock", "diff", "--json")
    assert code == 0
    (report,) = json.loads(out)
    difference = next(d for d in report["differences"] if d["sku"] == TERMO.barcode)
    assert difference["desired_quantity"] == 6 and not report["error"]


def test_an_erp_that_cannot_tell_its_stock_says_so_in_one_line(ctx, sandbox, seller, run_cli, monkeypatch):
    from connector.errors import FeatureNotAvailable
    from erp.alegra.adapter import AlegraAdapter

    said = "Tu plan del ERP no deja leer el inventario por la API."

    def refuse(self, warehouse_id):
        raise FeatureNotAvailable(said, detail="HTTP 402 GET /items")

    monkeypatch.setattr(AlegraAdapter, "iter_item_stock", refuse)
    code, out, err = run_cli("stock", "diff")
    assert code != 0 and said in out + err and "402" not in out + err
