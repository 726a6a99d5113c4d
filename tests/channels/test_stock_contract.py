"""The stock part of the channel contract (channels/base.py ``Listing``), run over every registered
adapter against its loopback sandbox: listings with their SKU and stock, a write that changes only that
listing (variations included), a listing the marketplace refuses, and errors in the seller's words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from channels.base import ChannelOptions, Listing
from channels.registry import CHANNELS, channel_class
from connector.errors import NotFound, PermanentRejection
from sandbox import server as sandbox_server
from sandbox.catalog import PRODUCTS

CAFE = next(p for p in PRODUCTS if p.key == "cafe-500")
CAMISETA = next(p for p in PRODUCTS if p.key == "camiseta")
CAMISETA_M_WHITE = next(b for o, b in CAMISETA.variants if o == ("Blanco", "M"))
CAMISETA_L_WHITE = next(b for o, b in CAMISETA.variants if o == ("Blanco", "L"))


@pytest.fixture(scope="module")
def box():
    sandbox = sandbox_server.Sandbox(order_count=1).start()
    yield sandbox
    sandbox.stop()


_ADAPTERS: dict = {}


def make(box, kind: str):
    """One adapter per channel per sandbox (Mercado Libre rotates its refresh token on every use)."""
    key = (id(box), kind)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = _new_adapter(box, kind)
    return _ADAPTERS[key]


def _new_adapter(box, kind: str):
    options = ChannelOptions(base_url={"mercadolibre": box.ml_url, "shopify": box.shopify_url,
                                       "woocommerce": box.woo_url}[kind], timeout=5, allow_private_network=True)
    credentials = {
        "mercadolibre": {"client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
                         "refresh_token": sandbox_server.ML_REFRESH_TOKEN},
        "shopify": {"shop": sandbox_server.SHOPIFY_SHOP, "access_token": sandbox_server.SHOPIFY_ACCESS_TOKEN},
        "woocommerce": {"store_url": box.woo_url, "consumer_key": sandbox_server.WOO_CONSUMER_KEY,
                        "consumer_secret": sandbox_server.WOO_CONSUMER_SECRET},
    }[kind]
    return channel_class(kind)(credentials, options)


def store_of(box, kind: str):
    return {"mercadolibre": box.ml_state, "shopify": box.shopify_state, "woocommerce": box.woo_state}[kind].stock_listings


@pytest.fixture(params=sorted(CHANNELS))
def kind(request):
    return request.param


def test_every_adapter_declares_the_stock_calls(kind):
    cls = channel_class(kind)
    for method in ("iter_listings", "get_listing", "set_listing_stock"):
        assert callable(getattr(cls, method, None)), f"{cls.__name__} lacks {method}"


def test_listings_carry_sku_stock_and_variations(box, kind):
    adapter = make(box, kind)
    listings = {entry.sku: entry for entry in adapter.iter_listings()}
    assert all(isinstance(entry, Listing) for entry in listings.values())
    assert listings[CAFE.barcode].quantity == store_of(box, kind).quantity_of_sku(CAFE.barcode)
    variant = listings[CAMISETA_M_WHITE]
    assert variant.variation_id and variant.variation_attributes.get("Talla") == "M"
    assert len({entry.listing_id for entry in listings.values()}) == len(listings)
    assert adapter.get_listing(variant.listing_id) == variant


def test_a_write_changes_that_listing_only(box, kind):
    adapter = make(box, kind)
    store = store_of(box, kind)
    listings = {entry.sku: entry for entry in adapter.iter_listings()}
    sibling_before = store.quantity_of_sku(CAMISETA_L_WHITE)
    writes_before = store.writes
    adapter.set_listing_stock(listings[CAMISETA_M_WHITE], 3)
    adapter.set_listing_stock(listings[CAFE.barcode], 17)
    assert store.quantity_of_sku(CAMISETA_M_WHITE) == 3 and store.quantity_of_sku(CAFE.barcode) == 17
    assert store.quantity_of_sku(CAMISETA_L_WHITE) == sibling_before  # every variation kept as it was
    assert adapter.get_listing(listings[CAFE.barcode].listing_id).quantity == 17
    assert store.writes - writes_before == 2


def test_unknown_listing_is_not_found(box, kind):
    adapter = make(box, kind)
    with pytest.raises(NotFound):
        adapter.get_listing("999999/1" if kind != "mercadolibre" else "MCO999999")


def test_mercadolibre_paused_listing_says_why_and_refuses(box):
    adapter = make(box, "mercadolibre")
    sku = next(p.barcode for p in PRODUCTS if p.key == "termo")
    box.ml_state.stock_listings.pause(sku, by_marketplace=True)
    listing = next(entry for entry in adapter.iter_listings() if entry.sku == sku)
    assert listing.refusal and "pausada por el marketplace" in listing.refusal
    with pytest.raises(PermanentRejection):
        adapter.set_listing_stock(listing, 5)


def test_mercadolibre_zero_pauses_and_a_positive_quantity_reactivates(box):
    adapter = make(box, "mercadolibre")
    sku = next(p.barcode for p in PRODUCTS if p.key == "libro")
    listing = next(entry for entry in adapter.iter_listings() if entry.sku == sku)
    adapter.set_listing_stock(listing, 0)
    paused = adapter.get_listing(listing.listing_id)
    assert paused.quantity == 0 and paused.refusal is None  # out of stock: still writable
    adapter.set_listing_stock(paused, 4)
    assert box.ml_state.stock_listings.find(int(listing.listing_id[3:])).status == "active"


def test_shopify_unknown_location_is_a_clear_refusal(box):
    adapter = make(box, "shopify")
    listing = next(entry for entry in adapter.iter_listings() if entry.sku == CAFE.barcode)
    moved = Listing(**{**listing.__dict__, "handle": {**listing.handle, "location_id": "123"}})
    with pytest.raises(PermanentRejection) as caught:
        adapter.set_listing_stock(moved, 5)
    assert "Location could not be found" in caught.value.user_message


def test_prices_are_written_when_asked(box, kind):
    adapter = make(box, kind)
    listing = next(entry for entry in adapter.iter_listings() if entry.sku == CAFE.barcode)
    adapter.set_listing_stock(listing, listing.quantity or 0, price=Decimal("31000"))
    assert adapter.get_listing(listing.listing_id).price == Decimal("31000")
