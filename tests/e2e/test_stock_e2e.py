"""Stock from the ERP to every channel, end to end on the sandbox: a sale on Mercado Libre invoiced in
Alegra lowers Alegra's stock (the invoice's warehouse), and the connector publishes the new stock on
Shopify and WooCommerce — only what changed, each write once — and never touches Alegra's inventory."""

from __future__ import annotations

from decimal import Decimal

from connector import services
from connector.pipeline import process_due_orders
from connector.stock import on_erp_item_changed, run_stock_sync, sweep_stock
from connector.stock_services import stock_run, update_stock_settings
from connector.sync import pull_channel_connection
from sandbox import server as sandbox_server
from sandbox.alegra_inventory import set_stock, stock_of
from sandbox.catalog import PRODUCTS, TAX_RATES
from sandbox.knobs import Knobs
from tests.e2e.conftest import connect_channels_seller, new_sale

TERMO = next(p for p in PRODUCTS if p.key == "termo")
CAFE = next(p for p in PRODUCTS if p.key == "cafe-500")
CAMISETA = next(p for p in PRODUCTS if p.key == "camiseta")



def _item_id(box, barcode: str) -> int:
    return box.alegra_state.item_id_for_barcode(barcode)


def _enable(ctx, seller, *kinds: str, **extra) -> None:
    for kind in kinds:
        update_stock_settings(ctx, seller.account_id, seller.connections[kind],
                              ["enabled=true", *(f"{k}={v}" for k, v in extra.items())])


def test_a_sale_on_mercadolibre_lowers_the_stock_shown_on_shopify_and_woocommerce(ctx, quiet_box):
    box = quiet_box
    seller = connect_channels_seller(ctx, box, ("mercadolibre", "shopify", "woocommerce"))
    _enable(ctx, seller, "shopify", "woocommerce")
    for kind in ("shopify", "woocommerce"):  # the first full comparison: nothing differs yet
        report = run_stock_sync(ctx, seller.connections[kind], trigger="test")
        assert report.compared > 20 and report.differences == [] and not report.deferred
        assert not [p for p in report.problems if CAFE.barcode in p["title"]]
    alegra_writes = box.alegra_state.count("PUT /items/<int:item_id>")

    box.ml_state.add_sale(new_sale(1, quantity=3, shipping=Decimal("0")))  # 3 thermoses sold on Mercado Libre
    pull_channel_connection(ctx, seller.connections["mercadolibre"])
    process_due_orders(ctx)
    termo = _item_id(box, TERMO.barcode)
    assert stock_of(box.alegra_state, termo, 1) == 37  # the invoice lowered Alegra's stock by itself

    before = {kind: _store(box, kind).writes for kind in ("shopify", "woocommerce")}
    counts = sweep_stock(ctx)
    assert counts["items"] == 1 and counts["written"] == 2
    for kind in ("shopify", "woocommerce"):
        store = _store(box, kind)
        assert store.quantity_of_sku(TERMO.barcode) == 37
        assert store.quantity_of_sku(CAFE.barcode) == 40  # untouched: its stock did not change
        assert store.writes - before[kind] == 1  # one write: only the changed listing
    assert box.alegra_state.count("PUT /items/<int:item_id>") == alegra_writes  # never adjusts the ERP

    again = sweep_stock(ctx)  # nothing pending, the full comparison finds nothing to write
    assert again["written"] == 0


def test_diff_shows_without_writing_and_push_writes_once_with_buffer_and_variants(ctx, quiet_box):
    box = quiet_box
    seller = connect_channels_seller(ctx, box, ("shopify", "woocommerce"))
    white_m = next(b for o, b in CAMISETA.variants if o == ("Blanco", "M"))
    set_stock(box.alegra_state, _item_id(box, white_m), 1, 12)
    set_stock(box.alegra_state, _item_id(box, CAFE.barcode), 1, 1)
    update_stock_settings(ctx, seller.account_id, seller.connections["woocommerce"], ["buffer=2"])

    diff = stock_run(ctx, seller.account_id, seller.connections["woocommerce"], dry_run=True)[0]
    planned = {d.sku: d.desired_quantity for d in diff.differences}
    assert planned.pop(white_m) == 10 and planned.pop(CAFE.barcode) == 0  # 12 - 2, and never below 0
    assert set(planned.values()) == {38}  # every other listing: 40 in the ERP, minus the buffer
    assert box.woo_state.stock_listings.quantity_of_sku(white_m) == 40  # a diff writes nothing
    assert diff.dry_run and {d.state for d in diff.differences} == {"planned"}

    _enable(ctx, seller, "woocommerce")
    pushed = stock_run(ctx, seller.account_id, seller.connections["woocommerce"], dry_run=False)[0]
    assert pushed.written == len(diff.differences) and {d.state for d in pushed.differences} == {"done"}
    assert box.woo_state.stock_listings.quantity_of_sku(white_m) == 10
    assert box.woo_state.stock_listings.quantity_of_sku(CAFE.barcode) == 0
    assert stock_run(ctx, seller.account_id, seller.connections["woocommerce"], dry_run=False)[0].written == 0


def test_a_listing_paused_by_the_marketplace_is_reported_with_its_reason(ctx, quiet_box):
    box = quiet_box
    seller = connect_channels_seller(ctx, box, ("mercadolibre",))
    _enable(ctx, seller, "mercadolibre")
    box.ml_state.stock_listings.pause(TERMO.barcode, by_marketplace=True)
    set_stock(box.alegra_state, _item_id(box, TERMO.barcode), 1, 5)
    report = run_stock_sync(ctx, seller.connections["mercadolibre"], trigger="test")
    termo = next(d for d in report.differences if d.sku == TERMO.barcode)
    assert termo.state == "skipped" and "pausada por el marketplace" in termo.detail
    page = services_page(ctx, seller)
    assert any("pausada por el marketplace" in (row.problem or "") for row in page.listings)


def test_on_erp_item_changed_publishes_that_item_on_the_next_sweep(ctx, quiet_box):
    box = quiet_box
    seller = connect_channels_seller(ctx, box, ("shopify",))
    _enable(ctx, seller, "shopify")
    run_stock_sync(ctx, seller.connections["shopify"], trigger="test")
    item = _item_id(box, CAFE.barcode)
    set_stock(box.alegra_state, item, 1, 7)  # someone counted the shelf in the ERP
    erp = services.find_erp_connection(ctx, seller.account_id)
    assert on_erp_item_changed(ctx, erp.id, str(item)) == 1
    assert sweep_stock(ctx)["written"] == 1
    assert box.shopify_state.stock_listings.quantity_of_sku(CAFE.barcode) == 7


def services_page(ctx, seller):
    from connector.stock_services import stock_page

    return stock_page(ctx, seller.account_id, seller.connections["mercadolibre"])


def _store(box, kind: str):
    return {"shopify": box.shopify_state, "woocommerce": box.woo_state}[kind].stock_listings


def test_a_refund_credited_in_the_erp_raises_the_stock_shown_again(tmp_path, database_url):
    from connector.context import AppContext
    from connector.sync import sync_once
    from tests.conftest import make_settings
    from tests.e2e.conftest import follow_until_quiet

    ctx = AppContext.from_settings(make_settings(tmp_path, database_url, legal_status_check_seconds=0.1))
    ctx.db.migrate()
    box = sandbox_server.Sandbox(order_count=0, alegra_knobs=Knobs(rate_limit_per_minute=0,
                                                                   stamp_answer_delay=0.1)).start()
    try:
        _refund_raises_stock(ctx, box, sync_once, follow_until_quiet)
    finally:
        box.stop()
        ctx.close()
        ctx.db.dispose()


def _three_sold_on_shopify(ctx, box, sync_once, follow_until_quiet, shopify_settings: list[str]):
    """A seller publishing stock on WooCommerce sells three Termos on Shopify (invoiced, stock
    published: 37 left). Returns the seller and the Shopify order id."""
    seller = connect_channels_seller(ctx, box, ("shopify", "woocommerce"))
    _enable(ctx, seller, "woocommerce")
    run_stock_sync(ctx, seller.connections["woocommerce"], trigger="test")
    services.update_settings(ctx, seller.account_id, shopify_settings, channel_ref=seller.connections["shopify"])
    order_id = box.shopify_state.add_sale(new_sale(2, quantity=3, shipping=Decimal("0")), notify=False)
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    sweep_stock(ctx)
    assert box.woo_state.stock_listings.quantity_of_sku(TERMO.barcode) == 37
    return seller, order_id


def _refund_raises_stock(ctx, box, sync_once, follow_until_quiet) -> None:
    """A Shopify refund of one unit (its refund line items say which goods come back) becomes a credit
    note returning the unit to Alegra, and the stock shown on WooCommerce goes up again."""
    seller, order_id = _three_sold_on_shopify(ctx, box, sync_once, follow_until_quiet, ["credit_notes=automatic"])

    box.shopify_state.refund(order_id, lines={0: 1}, reason="Talla equivocada", notify=False)  # one unit back
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    assert stock_of(box.alegra_state, _item_id(box, TERMO.barcode), 1) == 38  # the credit note returned it
    assert sweep_stock(ctx)["written"] == 1
    assert box.woo_state.stock_listings.quantity_of_sku(TERMO.barcode) == 38


def test_prices_from_a_price_list_are_published_only_when_asked(ctx, quiet_box):
    box = quiet_box
    seller = connect_channels_seller(ctx, box, ("woocommerce",))
    woo = seller.connections["woocommerce"]
    update_stock_settings(ctx, seller.account_id, woo, ["enabled=true"])
    assert run_stock_sync(ctx, woo, trigger="test").differences == []  # prices off: stock only

    update_stock_settings(ctx, seller.account_id, woo, ["sync_prices=true", "price_list_id=2"])  # "Mayorista"
    report = run_stock_sync(ctx, woo, trigger="test")
    cafe = next(d for d in report.differences if d.sku == CAFE.barcode)
    wholesale = (CAFE.price * Decimal("0.9")).quantize(Decimal("1"))  # the sandbox's list 2, before tax
    expected = wholesale * (1 + TAX_RATES[CAFE.tax_id] / 100)  # published with the item's 5 % IVA
    assert cafe.state == "done" and Decimal(cafe.desired_price) == expected
    listing = next(entry for entry in box.woo_state.stock_listings.listings if entry.sku == CAFE.barcode)
    assert listing.price == expected and listing.quantity == 40  # the stock was right: only the price moved
    assert run_stock_sync(ctx, woo, trigger="test").differences == []


def test_a_credit_note_found_in_the_erp_after_a_lost_answer_raises_the_stock_too(tmp_path, database_url):
    """The credit note was made but its answer lost: it is settled by finding it in the ERP, and the
    unit it returned is published like when the ERP answered."""
    from connector.context import AppContext
    from connector.followup import run_due_followups
    from connector.sync import sync_once
    from tests.conftest import make_settings
    from tests.e2e.conftest import follow_until_quiet

    ctx = AppContext.from_settings(make_settings(tmp_path, database_url, legal_status_check_seconds=0.1))
    ctx.db.migrate()
    box = sandbox_server.Sandbox(order_count=0, alegra_knobs=Knobs(rate_limit_per_minute=0,
                                                                   stamp_answer_delay=0.1)).start()
    try:
        seller, order_id = _three_sold_on_shopify(ctx, box, sync_once, follow_until_quiet,
                                                  ["credit_notes=automatic", "credit_note_stamp=false"])

        box.shopify_state.refund(order_id, lines={0: 1}, reason="Talla equivocada", notify=False)
        box.alegra_knobs.reset_after_commit_rate = 1.0  # the credit note is made; its answer is lost
        sync_once(ctx, seller.account_id)
        run_due_followups(ctx, seller.account_id)
        box.alegra_knobs.reset_after_commit_rate = 0.0
        assert len(box.alegra_state.credit_notes) == 1
        follow_until_quiet(ctx, seller.account_id)
        assert len(box.alegra_state.credit_notes) == 1  # found, not made again
        assert stock_of(box.alegra_state, _item_id(box, TERMO.barcode), 1) == 38
        assert sweep_stock(ctx)["written"] == 1
        assert box.woo_state.stock_listings.quantity_of_sku(TERMO.barcode) == 38
    finally:
        box.stop()
        ctx.close()
        ctx.db.dispose()
