"""Stock writes are remote writes: claimed, recorded before the call, and an answer that was lost is
settled by reading the listing's stock — never written blindly again, never lost."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.models import RemoteWrite
from connector.stock import on_erp_item_changed, run_stock_sync, sweep_stock
from connector.stock_services import update_stock_settings
from sandbox.alegra_inventory import set_stock
from sandbox.catalog import PRODUCTS
from tests.e2e.conftest import connect_channels_seller

CAFE = next(p for p in PRODUCTS if p.key == "cafe-500")


@pytest.fixture
def shop(ctx, quiet_box):
    seller = connect_channels_seller(ctx, quiet_box, ("shopify",))
    connection_id = seller.connections["shopify"]
    update_stock_settings(ctx, seller.account_id, connection_id, ["enabled=true"])
    run_stock_sync(ctx, connection_id, trigger="test")
    return seller, connection_id


def _stock_writes(ctx, connection_id) -> list[RemoteWrite]:
    with ctx.db.session() as session:
        return list(session.scalars(select(RemoteWrite).where(RemoteWrite.channel_connection_id == connection_id)
                                    .order_by(RemoteWrite.id)))


def test_a_lost_answer_after_the_write_is_settled_by_reading_not_by_writing_again(ctx, quiet_box, shop):
    _, connection_id = shop
    store = quiet_box.shopify_state.stock_listings
    set_stock(quiet_box.alegra_state, quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode), 1, 9)
    quiet_box.shopify_knobs.reset_after_commit_rate = 1.0
    report = run_stock_sync(ctx, connection_id, trigger="test")
    assert [d.state for d in report.differences] == ["ambiguous"]
    assert store.quantity_of_sku(CAFE.barcode) == 9 and store.writes == 1  # it did happen; the answer was lost
    quiet_box.shopify_knobs.reset_after_commit_rate = 0.0

    again = run_stock_sync(ctx, connection_id, trigger="test")
    assert again.differences == [] and store.writes == 1  # no second write
    (write,) = _stock_writes(ctx, connection_id)
    assert write.kind == "stock" and write.state == "done" and write.result.get("found_by_reading")
    assert write.invoice_id is None and write.marker == "quantity=9"


def test_a_write_lost_before_it_happened_is_sent_once_after_reading(ctx, quiet_box, shop):
    seller, connection_id = shop
    store = quiet_box.shopify_state.stock_listings
    item = quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode)
    set_stock(quiet_box.alegra_state, item, 1, 4)
    quiet_box.shopify_knobs.reset_before_commit_rate = 1.0
    first = run_stock_sync(ctx, connection_id, trigger="test")
    assert [d.state for d in first.differences] == ["ambiguous"] and store.writes == 0
    quiet_box.shopify_knobs.reset_before_commit_rate = 0.0

    from connector import services
    erp = services.find_erp_connection(ctx, seller.account_id)
    on_erp_item_changed(ctx, erp.id, str(item))
    assert sweep_stock(ctx)["written"] == 1
    assert store.quantity_of_sku(CAFE.barcode) == 4 and store.writes == 1
    (write,) = _stock_writes(ctx, connection_id)  # the same write carried on: one record, one write
    assert write.state == "done" and write.attempts == 2


def test_a_newer_value_supersedes_an_older_one_still_waiting(ctx, quiet_box, shop):
    _, connection_id = shop
    store = quiet_box.shopify_state.stock_listings
    item = quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode)
    set_stock(quiet_box.alegra_state, item, 1, 4)
    quiet_box.shopify_knobs.reset_before_commit_rate = 1.0
    run_stock_sync(ctx, connection_id, trigger="test")
    quiet_box.shopify_knobs.reset_before_commit_rate = 0.0
    set_stock(quiet_box.alegra_state, item, 1, 3)  # another sale meanwhile
    report = run_stock_sync(ctx, connection_id, trigger="test")
    assert [d.state for d in report.differences] == ["done"] and store.quantity_of_sku(CAFE.barcode) == 3
    old, new = _stock_writes(ctx, connection_id)
    assert (old.state, old.marker, new.state, new.marker) == ("skipped", "quantity=4", "done", "quantity=3")
    assert store.writes == 1
