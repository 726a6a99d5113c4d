"""Creating the missing product in the ERP from an unmatched SKU: prefilled from the line, created once
(also when the ERP's answer is lost), cached, mapped, and every order the SKU held invoiced."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from connector import services
from connector.errors import ConfigurationError, ConnectorError
from connector.item_creation import create_item_for_line, propose_item
from connector.models import RemoteWrite, SkuMapping
from connector.sync import sync_once
from mapping.codes import normalise_code
from tests.conftest import connect_seller


def _unmatched(ctx, account):
    """An errored order's unmatched line, and every errored order with the same SKU."""
    queue = services.error_queue(ctx, account)
    for order in queue:
        for line in order.lines:
            if line.erp_item_id is None and line.sku:
                same = [o.id for o in queue if any(ln.sku_key == line.sku_key for ln in o.lines)]
                return order, line, same
    raise AssertionError("the sandbox always has orders with unknown SKUs")


def _items_with(box, reference: str) -> list[dict]:
    return [i for i in box.alegra_state.items.values() if i.get("reference") == reference]


@pytest.fixture
def synced(ctx, sandbox):
    account = connect_seller(ctx, sandbox)
    sync_once(ctx, account)
    return account


def test_the_proposal_is_prefilled_from_the_marketplace_line(ctx, synced):
    order, line, _ = _unmatched(ctx, synced)
    proposal = propose_item(ctx, synced, order.id, line.sku_key)
    assert proposal.name == line.title[:150] and proposal.code == line.sku
    assert proposal.code_is_barcode  # the demo rules match by barcode
    assert proposal.price == line.unit_price and proposal.price_includes_tax
    assert proposal.tax_id in {t.id for t in proposal.taxes} and proposal.taxes


def test_confirming_creates_the_product_once_maps_it_and_invoices_every_order_it_held(ctx, sandbox, synced):
    order, line, held = _unmatched(ctx, synced)
    proposal = propose_item(ctx, synced, order.id, line.sku_key)
    created = create_item_for_line(ctx, synced, order.id, line.sku_key, name=proposal.name, code=proposal.code,
                                   price=str(proposal.price), tax_id=proposal.tax_id, actor="test")
    [item] = _items_with(sandbox, proposal.code)
    assert str(item["id"]) == created.item.erp_id and item["name"] == proposal.name
    tax_rate = Decimal(str(item["tax"][0]["percentage"]))
    assert Decimal(str(item["price"][0]["price"])) == pytest.approx(proposal.price / (1 + tax_rate / 100), abs=Decimal("0.0001"))
    assert set(created.invoiced) == set(held) and all(s == "invoiced" for s in created.invoiced.values())
    with ctx.db.session() as session:
        mapping = session.scalar(select(SkuMapping).where(SkuMapping.sku_key == normalise_code(line.sku)))
        assert mapping.erp_item_id == created.item.erp_id
    assert services.get_order(ctx, order.id, synced).invoice is not None
    # The line has its product now: a second confirmation is refused, nothing is created again.
    with pytest.raises(ConfigurationError, match="no tiene una línea sin producto"):
        create_item_for_line(ctx, synced, order.id, line.sku_key, name="Otro", code=proposal.code, price="1000",
                             tax_id="")
    assert len(_items_with(sandbox, proposal.code)) == 1


def test_a_lost_answer_is_settled_by_looking_the_code_up_never_a_second_product(ctx, sandbox, synced):
    order, line, _ = _unmatched(ctx, synced)
    sandbox.alegra_knobs.update({"reset_after_commit_rate": 1.0})  # created, then the connection drops
    try:
        with pytest.raises(ConnectorError, match="se busca primero el producto"):
            create_item_for_line(ctx, synced, order.id, line.sku_key, name="Vela nueva", code=line.sku,
                                 price="25000", tax_id="")
    finally:
        sandbox.alegra_knobs.update({"reset_after_commit_rate": 0.0})
    assert len(_items_with(sandbox, line.sku)) == 1  # the ERP made it; we did not hear
    created = create_item_for_line(ctx, synced, order.id, line.sku_key, name="Vela nueva", code=line.sku,
                                   price="25000", tax_id="")
    assert created.found_existing and len(_items_with(sandbox, line.sku)) == 1
    assert created.invoiced[order.id] == "invoiced"
    with ctx.db.session() as session:
        [write] = session.scalars(select(RemoteWrite).where(RemoteWrite.kind == "create_item"))
        assert write.state == "done" and write.attempts == 1 and write.invoice_id is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "  "}, "nombre"), ({"code": ""}, "código"), ({"price": "gratis"}, "no es un número"),
    ({"price": "-5"}, "mayor que cero"), ({"price": "NaN"}, "mayor que cero"), ({"tax_id": "999"}, "impuesto"),
])
def test_bad_input_is_refused_in_the_sellers_words_and_nothing_is_created(ctx, sandbox, synced, fields, message):
    order, line, _ = _unmatched(ctx, synced)
    before = len(sandbox.alegra_state.items)
    values = {"name": "Producto", "code": line.sku, "price": "1000", "tax_id": "", **fields}
    with pytest.raises(ConfigurationError, match=message):
        create_item_for_line(ctx, synced, order.id, line.sku_key, **values)
    assert len(sandbox.alegra_state.items) == before


def test_an_order_of_another_account_or_out_of_range_is_not_found(ctx, synced):
    with pytest.raises(services.NotFoundLocally):
        propose_item(ctx, synced, 10**30, "X")
    other = services.create_account(ctx, "Otra")
    order, line, _ = _unmatched(ctx, synced)
    with pytest.raises(ConnectorError):
        propose_item(ctx, other.id, order.id, line.sku_key)


def test_cli_shows_first_then_creates_with_yes(ctx, sandbox, synced, run_cli):
    order, line, _ = _unmatched(ctx, synced)
    before = len(sandbox.alegra_state.items)
    code, out, _ = run_cli("create-item", str(order.id), line.sku.lower())  # the SKU as typed
    assert code == 0 and f"código de barras: {line.sku}" in out and "Nada creado" in out
    assert len(sandbox.alegra_state.items) == before
    code, _, err = run_cli("create-item", str(order.id), line.sku, "--price", "abc", "--yes")
    assert code == 2 and "no es un número" in err
    code, out, _ = run_cli("create-item", str(order.id), line.sku, "--yes")
    assert code == 0 and "creado en el ERP" in out and f"orden {order.id}: Facturada" in out
    assert len(sandbox.alegra_state.items) == before + 1


def test_with_siigo_the_product_is_created_there_mapped_and_its_orders_invoiced(ctx, sandbox):
    account = connect_seller(ctx, sandbox, erp="siigo")
    sync_once(ctx, account)
    order, line, held = _unmatched(ctx, account)
    proposal = propose_item(ctx, account, order.id, line.sku_key)
    created = create_item_for_line(ctx, account, order.id, line.sku_key, name=proposal.name, code=proposal.code,
                                   price=str(proposal.price), tax_id=proposal.tax_id, actor="test")
    product = sandbox.siigo_state.products[proposal.code]
    assert created.item.erp_id == product["code"] and product["name"] == proposal.name
    assert product["account_group"]["id"] and product["taxes"][0]["id"] == int(proposal.tax_id)
    assert set(created.invoiced) == set(held) and all(s == "invoiced" for s in created.invoiced.values())


def test_an_erp_that_cannot_create_products_says_so_in_the_panel_and_the_cli_without_a_traceback(
        ctx, sandbox, synced, monkeypatch, run_cli):
    from connector.errors import FeatureNotAvailable
    from erp.alegra.adapter import AlegraAdapter

    said = "Tu plan del ERP no permite crear productos desde el conector: créalo en el ERP."

    def refuse(self, draft):
        raise FeatureNotAvailable(said, detail="HTTP 402 POST /items")

    monkeypatch.setattr(AlegraAdapter, "create_item", refuse)
    order, line, _ = _unmatched(ctx, synced)
    before = len(sandbox.alegra_state.items)
    with pytest.raises(ConnectorError) as refused:
        create_item_for_line(ctx, synced, order.id, line.sku_key, name="Vela", code=line.sku, price="1000", tax_id="")
    assert said in refused.value.user_message and "402" not in refused.value.user_message
    code, _, err = run_cli("create-item", str(order.id), line.sku, "--yes")  # no traceback: run_cli checks
    assert code != 0 and said in err
    assert len(sandbox.alegra_state.items) == before
    assert services.get_order(ctx, order.id, synced).invoice is None
