"""Pending stock items are forgotten only once every channel took their stock: not while a write's
answer is lost, not when two sweeps overlap or the sweep's own reads fill the ERP's rate window, not
when a new sale marks the item while its publication is in flight; marking is safe when two invoices
mark the same item at once; and a value already written is never written again after a crash."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from connector import services, stock
from connector.models import StockPendingItem
from connector.ratelimit import WindowPeek
from connector.stock import on_erp_item_changed, push_pending_items, run_stock_sync
from connector.stock_pending import mark_items_pending
from connector.stock_services import update_stock_settings
from sandbox.alegra_inventory import set_stock
from sandbox.catalog import PRODUCTS
from tests.e2e.conftest import connect_channels_seller

CAFE = next(p for p in PRODUCTS if p.key == "cafe-500")
TERMO = next(p for p in PRODUCTS if p.key == "termo")


@pytest.fixture
def seller(ctx, quiet_box):
    """Stock published on Shopify and WooCommerce, both compared once (nothing left to write)."""
    world = connect_channels_seller(ctx, quiet_box, ("shopify", "woocommerce"))
    for connection_id in world.connections.values():
        update_stock_settings(ctx, world.account_id, connection_id, ["enabled=true"])
        run_stock_sync(ctx, connection_id, trigger="test")
    world.erp_id = services.find_erp_connection(ctx, world.account_id).id
    return world


def _pending(ctx) -> list[str]:
    with ctx.db.session() as session:
        return sorted(session.scalars(select(StockPendingItem.erp_item_id)))


def _shown(quiet_box, barcode: str) -> tuple[int | None, int | None]:
    return (quiet_box.shopify_state.stock_listings.quantity_of_sku(barcode),
            quiet_box.woo_state.stock_listings.quantity_of_sku(barcode))


def test_an_item_whose_write_lost_its_answer_stays_pending_until_settled(ctx, quiet_box, seller):
    item = str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode))
    set_stock(quiet_box.alegra_state, int(item), 1, 9)
    on_erp_item_changed(ctx, seller.erp_id, item)
    quiet_box.shopify_knobs.reset_after_commit_rate = 1.0  # Shopify takes the value; its answer is lost
    push_pending_items(ctx)
    assert _shown(quiet_box, CAFE.barcode) == (9, 9)
    assert _pending(ctx) == [item]  # the Shopify write is still ambiguous: not forgotten
    quiet_box.shopify_knobs.reset_after_commit_rate = 0.0

    assert push_pending_items(ctx)["items"] == 1  # settled by reading Shopify's listing
    assert _pending(ctx) == [] and quiet_box.shopify_state.stock_listings.writes == 1


def test_a_write_left_for_a_retry_keeps_its_item_pending(ctx, quiet_box, seller):
    item = str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode))
    set_stock(quiet_box.alegra_state, int(item), 1, 7)
    on_erp_item_changed(ctx, seller.erp_id, item)
    quiet_box.woo_knobs.burst_429_rate = 1.0  # WooCommerce refuses for now: provably not written
    push_pending_items(ctx)
    assert _pending(ctx) == [item]
    quiet_box.woo_knobs.burst_429_rate = 0.0
    with ctx.db.transaction() as session:  # its retry time has come
        from connector.models import RemoteWrite
        for write in session.scalars(select(RemoteWrite).where(RemoteWrite.kind == "stock")):
            write.next_attempt_at = None
    push_pending_items(ctx)
    assert _pending(ctx) == [] and _shown(quiet_box, CAFE.barcode) == (7, 7)


def test_the_sweeps_own_reads_filling_the_erp_window_do_not_leave_items_pending(ctx, quiet_box, seller, monkeypatch):
    """The ERP's window had room when the sweep began; its reads for the first channel used it up. The
    second channel needs no read (the sweep's cache has every item): it must not wait for invoicing."""
    items = {str(quiet_box.alegra_state.item_id_for_barcode(p.barcode)) for p in PRODUCTS if p.kind == "product"}
    for item in items:
        set_stock(quiet_box.alegra_state, int(item), 1, 5)
    adapter = ctx.erp_adapter(services.find_erp_connection(ctx, seller.account_id))
    reads = {"n": 0}
    original = adapter.get_item_stock

    def counted(*args, **kwargs):
        reads["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(adapter, "get_item_stock", counted)
    monkeypatch.setattr(adapter.rate_limit, "peek", lambda *a, **k: WindowPeek(0.0, 20 - reads["n"], 20))
    stock.mark_items_changed(ctx, seller.erp_id, items, "test")
    push_pending_items(ctx)
    assert _pending(ctx) == []
    assert _shown(quiet_box, CAFE.barcode) == (5, 5) and _shown(quiet_box, TERMO.barcode) == (5, 5)


def test_two_overlapping_sweeps_still_forget_what_they_published(ctx, quiet_box, seller, monkeypatch):
    """Sweep A works on Shopify while sweep B (another worker) starts: before, B took WooCommerce, A
    found it taken, and each left the item pending for the other — every time they overlapped."""
    if ctx.settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: the two sweeps cannot overlap the way they do here")
    item = str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode))
    set_stock(quiet_box.alegra_state, int(item), 1, 6)
    on_erp_item_changed(ctx, seller.erp_id, item)
    a_reading, b_reading, a_finished = threading.Event(), threading.Event(), threading.Event()
    original = stock.read_erp_stock

    def paced(*args, **kwargs):
        if threading.current_thread().name == "sweep-a" and not a_reading.is_set():
            a_reading.set()
            b_reading.wait(3)  # A holds Shopify until B is inside its own run (or gave up)
        elif threading.current_thread().name == "sweep-b":
            b_reading.set()
            a_finished.wait(3)  # B holds WooCommerce until A is done
        return original(*args, **kwargs)

    monkeypatch.setattr(stock, "read_erp_stock", paced)
    results = {}

    def sweep(name: str) -> None:
        try:
            results[name] = push_pending_items(ctx)
        finally:
            if name == "sweep-a":
                a_finished.set()

    a = threading.Thread(target=sweep, args=("sweep-a",), name="sweep-a")
    a.start()
    assert a_reading.wait(10)
    b = threading.Thread(target=sweep, args=("sweep-b",), name="sweep-b")
    b.start()
    a.join(20)
    b.join(20)
    assert _shown(quiet_box, CAFE.barcode) == (6, 6)
    assert _pending(ctx) == []  # published everywhere: forgotten
    assert results["sweep-b"]["items"] == 0, results  # B found the channels taken (or nothing left) and left them to A


def test_a_sale_marked_while_its_item_is_published_is_not_forgotten(ctx, quiet_box, seller, monkeypatch):
    item = str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode))
    set_stock(quiet_box.alegra_state, int(item), 1, 8)
    on_erp_item_changed(ctx, seller.erp_id, item)
    original = stock.push_listing
    sold = {"done": False}

    def sale_after_the_read(*args, **kwargs):
        if not sold["done"]:  # another sale of the item is invoiced after the sweep read its stock
            sold["done"] = True
            set_stock(quiet_box.alegra_state, int(item), 1, 7)
            with ctx.db.transaction() as session:
                mark_items_pending(session, seller.erp_id, {item}, "factura")
        return original(*args, **kwargs)

    monkeypatch.setattr(stock, "push_listing", sale_after_the_read)
    push_pending_items(ctx)
    assert _shown(quiet_box, CAFE.barcode) == (8, 8)  # what the sweep read
    assert _pending(ctx) == [item]  # the newer mark survives
    push_pending_items(ctx)
    assert _shown(quiet_box, CAFE.barcode) == (7, 7) and _pending(ctx) == []


def test_marking_an_item_already_pending_updates_its_one_row(ctx, quiet_box, seller):
    item = str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode))
    with ctx.db.transaction() as session:
        assert mark_items_pending(session, seller.erp_id, {item}, "factura") == 1
    with ctx.db.session() as session:
        first = session.scalar(select(StockPendingItem.since))
    with ctx.db.transaction() as session:
        assert mark_items_pending(session, seller.erp_id, {item, "999"}, "nota crédito") == 1
    with ctx.db.session() as session:
        rows = {row.erp_item_id: row for row in session.scalars(select(StockPendingItem))}
    assert sorted(rows) == sorted([item, "999"]) and rows[item].since > first
    assert rows[item].reason == "nota crédito"


@pytest.mark.postgres
def test_two_invoices_marking_the_same_new_item_at_once_do_not_clash(tmp_path, postgres_url, quiet_box):
    """Neither transaction sees the other's uncommitted row; before, the second INSERT failed on the
    unique key (and took the invoice's transaction with it)."""
    from connector.context import AppContext
    from tests.conftest import make_settings

    ctx = AppContext.from_settings(make_settings(tmp_path, postgres_url))
    ctx.db.migrate()
    try:
        world = connect_channels_seller(ctx, quiet_box, ("shopify",))
        update_stock_settings(ctx, world.account_id, world.connections["shopify"], ["enabled=true"])
        erp_id = services.find_erp_connection(ctx, world.account_id).id
        first_marked, errors = threading.Event(), []

        def second_invoice() -> None:
            try:
                first_marked.wait(5)
                with ctx.db.transaction() as session:  # waits for the first one's row, then updates it
                    mark_items_pending(session, erp_id, {"77"}, "factura")
            except Exception as exc:  # noqa: BLE001 - the assertion below shows it
                errors.append(exc)

        other = threading.Thread(target=second_invoice)
        other.start()
        with ctx.db.transaction() as session:
            mark_items_pending(session, erp_id, {"77"}, "factura")
            first_marked.set()
            other.join(0.5)  # the second one is inside its INSERT, blocked on this row
        other.join(10)
        assert errors == []
        assert _pending(ctx) == ["77"]
    finally:
        ctx.close()
        ctx.db.dispose()


def test_a_value_written_before_a_crash_is_read_back_not_written_again(ctx, quiet_box, seller, monkeypatch):
    """The worker died after Shopify took the value and the write was recorded done, before the row
    learnt the new quantity: the next sweep sees the old quantity and a difference that is not there."""
    item = str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode))
    set_stock(quiet_box.alegra_state, int(item), 1, 3)
    on_erp_item_changed(ctx, seller.erp_id, item)

    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(stock, "_record_outcome", killed)
    with pytest.raises(RuntimeError):
        push_pending_items(ctx)
    monkeypatch.undo()
    shopify = quiet_box.shopify_state.stock_listings
    assert shopify.quantity_of_sku(CAFE.barcode) == 3 and shopify.writes == 1
    push_pending_items(ctx)  # the item is still pending: published again, reading first
    assert shopify.writes == 1 and _pending(ctx) == []
    assert _shown(quiet_box, CAFE.barcode) == (3, 3)
    assert all(before != after for _, before, after in shopify.log)  # no write that changed nothing


def test_a_stock_runs_erp_reads_leave_the_windows_room_to_invoices(ctx, quiet_box, seller, monkeypatch):
    from connector.ratelimit import RequestClass, _request_class

    adapter = ctx.erp_adapter(services.find_erp_connection(ctx, seller.account_id))
    seen, original = [], adapter.get_item_stock

    def noted(*args, **kwargs):
        seen.append(_request_class.get())
        return original(*args, **kwargs)

    monkeypatch.setattr(adapter, "get_item_stock", noted)
    on_erp_item_changed(ctx, seller.erp_id, str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode)))
    push_pending_items(ctx)
    assert seen == [RequestClass.FOLLOWUP]  # not DOCUMENTS: invoices keep their room in the window


def test_a_lost_value_that_landed_is_corrected_when_the_erp_moved_back_meanwhile(ctx, quiet_box, seller):
    """37 reached Shopify but its answer was lost; then the ERP went back to 40 (a credit note). The row
    still held 40, so nothing looked different: the open write was settled as "no difference left" and
    Shopify kept showing 37 until the next full comparison (an hour in production)."""
    item = str(quiet_box.alegra_state.item_id_for_barcode(CAFE.barcode))
    set_stock(quiet_box.alegra_state, int(item), 1, 37)
    on_erp_item_changed(ctx, seller.erp_id, item)
    quiet_box.shopify_knobs.reset_after_commit_rate = 1.0
    push_pending_items(ctx)
    quiet_box.shopify_knobs.reset_after_commit_rate = 0.0
    assert _shown(quiet_box, CAFE.barcode) == (37, 37)

    set_stock(quiet_box.alegra_state, int(item), 1, 40)
    on_erp_item_changed(ctx, seller.erp_id, item)
    push_pending_items(ctx)
    assert _shown(quiet_box, CAFE.barcode) == (40, 40) and _pending(ctx) == []


def test_the_claims_read_of_stock_publishing_says_what_publishes_stock_says(ctx, quiet_box):
    """"Does any channel publish stock?" is one SQL expression over the stored settings
    (``PUBLISHES_STOCK``), asked alone (``publishes_stock``) or in the claim's one read: it reads the
    settings the services store right on either database — never set, on, the channel off, off."""
    from connector.models import ChannelConnection
    from connector.stock_pending import PUBLISHES_STOCK, publishes_stock

    world = connect_channels_seller(ctx, quiet_box, ("shopify", "woocommerce"))
    erp = services.find_erp_connection(ctx, world.account_id)
    shopify = world.connections["shopify"]

    def answers() -> tuple[bool, bool]:
        with ctx.db.session() as session:
            return (publishes_stock(session, erp.id),
                    bool(session.scalar(select(PUBLISHES_STOCK), {"account": erp.account_id})))

    assert answers() == (False, False)  # never set
    update_stock_settings(ctx, world.account_id, shopify, ["enabled=true"])
    assert answers() == (True, True)
    with ctx.db.transaction() as session:  # the channel switched off: its settings no longer count
        session.get(ChannelConnection, shopify).enabled = False
    assert answers() == (False, False)
    with ctx.db.transaction() as session:
        session.get(ChannelConnection, shopify).enabled = True
    update_stock_settings(ctx, world.account_id, shopify, ["enabled=false"])
    assert answers() == (False, False)
