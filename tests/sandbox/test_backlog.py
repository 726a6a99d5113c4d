"""Listings served page by page from a cached id list (sandbox/backlog.py), in all three channel sandboxes:
the same pages as sorting everything for every page, built once per pull, rebuilt after any change."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.backlog import ListingCache, gc_paused
from sandbox.catalog import generate_sales
from sandbox.mercadolibre import MercadoLibreState
from sandbox.shopify import ShopifyState
from sandbox.woocommerce import WooCommerceState

SALES = generate_sales(60, seed=3)


def counting_builds(state) -> list[tuple]:
    """Record every listing the state builds (instead of serving it from the cache)."""
    builds: list[tuple] = []
    build = state._listing_ids

    def recorded(*args):
        builds.append(args)
        return build(*args)

    state._listing_ids = recorded
    return builds


def test_the_cache_builds_each_query_once_until_told_to_forget():
    cache, builds = ListingCache(size=2), []

    def build(name):
        return lambda: builds.append(name) or [len(builds)]

    assert cache.ids("a", build("a")) == [1]
    assert cache.ids("a", build("a")) == [1] and builds == ["a"]
    cache.ids("b", build("b"))
    cache.ids("c", build("c"))  # over its size: the oldest query ("a") is dropped
    assert cache.ids("a", build("a")) == [4]
    cache.forget()
    assert cache.ids("a", build("a")) == [5] and builds == ["a", "b", "c", "a", "a"]


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collector_as_it_was(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def ml_state() -> MercadoLibreState:
    return MercadoLibreState.seeded(SALES, user_id=1, client_id="c", client_secret="s", refresh_token="r")


@pytest.mark.parametrize("sort", ["date_asc", "date_desc"])
def test_mercadolibre_pages_are_slices_of_the_sorted_listing_built_once(sort):
    state = ml_state()
    builds = counting_builds(state)
    expected = sorted(state.orders.values(), key=lambda o: (o["date_created"], o["id"]), reverse=sort == "date_desc")

    pages = [state.search(offset=offset, limit=7, sort=sort, filters={}, status=None) for offset in range(0, 63, 7)]

    assert [o["id"] for page in pages for o in page["results"]] == [o["id"] for o in expected]
    assert {page["paging"]["total"] for page in pages} == {len(SALES)}
    assert len(builds) == 1


def test_mercadolibre_a_change_between_pages_shows_in_the_next_page():
    state = ml_state()
    newest = max(datetime.fromisoformat(o["last_updated"]) for o in state.orders.values())
    cursor = {"order.date_last_updated.from": newest + timedelta(seconds=1)}
    assert state.search(offset=0, limit=5, sort="date_asc", filters=cursor, status=None)["paging"]["total"] == 0

    changed = state.order_ids()[4]
    state.update_status(changed, "cancelled")

    page = state.search(offset=0, limit=5, sort="date_asc", filters=cursor, status=None)
    assert [o["id"] for o in page["results"]] == [changed] and page["paging"]["total"] == 1
    assert page["results"][0]["status"] == "cancelled"


def test_woocommerce_pages_are_slices_of_the_sorted_listing_built_once_and_rebuilt_after_a_change():
    state = WooCommerceState.seeded(SALES, consumer_key="ck", consumer_secret="cs")
    builds = counting_builds(state)
    expected = sorted(state.orders.values(), key=lambda o: (o["date_created_gmt"], o["id"]))
    query = {"status": "any", "modified_after": None, "orderby": "date", "order": "asc", "per_page": 25}

    pages = [state.listing_page(page=page, **query) for page in (1, 2, 3)]

    assert [o["id"] for listed, _ in pages for o in listed] == [o["id"] for o in expected]
    assert {total for _, total in pages} == {len(SALES)} and len(builds) == 1
    since = max(datetime.fromisoformat(o["date_modified_gmt"]) for o in expected).replace(tzinfo=UTC)
    changed = expected[10]["id"]
    state.update_status(changed, "completed", notify=False)
    listed, total = state.listing_page(page=1, **{**query, "modified_after": since})
    assert [o["id"] for o in listed] == [changed] and total == 1


def test_shopify_pages_are_slices_of_the_sorted_listing_built_once_and_rebuilt_after_a_change():
    state = ShopifyState.seeded(SALES, shop="tienda-cafetera.myshopify.com", access_token="shpat")
    builds = counting_builds(state)
    expected = sorted(state.orders.values(), key=lambda o: (o["updated_at"], o["id"]))
    query = {"status": "any", "updated_at_min": None, "order": "updated_at asc", "limit": 25}

    pages = [state.listing_page(offset=offset, **query) for offset in (0, 25, 50)]

    assert [o["id"] for listed, _ in pages for o in listed] == [o["id"] for o in expected]
    assert {total for _, total in pages} == {len(SALES)} and len(builds) == 1
    since = max(datetime.fromisoformat(o["updated_at"]) for o in expected) + timedelta(seconds=1)
    changed = expected[10]["id"]
    state.update_order(changed, notify=False, financial_status="refunded")
    listed, total = state.listing_page(offset=0, **{**query, "updated_at_min": since})
    assert [o["id"] for o in listed] == [changed] and total == 1
