"""MercadoLibreAdapter: listing, enrichment and the ChannelAdapter surface (respx, strict)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import respx

from channels.base import ChannelOptions
from channels.mercadolibre.adapter import MercadoLibreAdapter
from channels.registry import channel_class
from connector.canonical import KindOfPerson, OrderStatus
from connector.errors import NotFound, TransientError

FIXTURES = Path(__file__).parent / "fixtures" / "mercadolibre"
BASE = "https://api.mercadolibre.com"
SELLER = "187654321"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def credentials() -> dict:
    return {"client_id": "5501234567890123", "client_secret": "s3cret", "refresh_token": "TG-1",
            "access_token": "APP_USR-valid", "user_id": SELLER,
            "access_token_expires_at": (datetime.now(UTC) + timedelta(hours=5)).isoformat()}


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def adapter():
    adapter = MercadoLibreAdapter(credentials(), ChannelOptions(page_size=2), sleep=lambda _: None)
    yield adapter
    adapter.close()


def test_the_registry_loads_the_adapter_with_its_declared_fields():
    cls = channel_class("mercadolibre")
    assert cls is MercadoLibreAdapter
    assert (cls.name, cls.display_name) == ("mercadolibre", "Mercado Libre")
    fields = {f.name: f for f in cls.credential_fields}
    assert fields["client_secret"].secret and fields["refresh_token"].secret
    assert not fields["client_id"].secret and not fields["user_id"].required


def test_base_url_comes_from_the_options():
    adapter = MercadoLibreAdapter(credentials(), ChannelOptions(base_url="http://127.0.0.1:9/"))
    assert str(adapter.client.api._client.base_url) == "http://127.0.0.1:9"
    assert MercadoLibreAdapter(credentials()).client.api.base_url == BASE


def test_pull_orders_pages_through_the_search_with_the_date_cursor(api, adapter):
    since = datetime(2026, 11, 5, 7, 30, tzinfo=timezone(timedelta(hours=-5)))
    search = api.get("/orders/search").mock(side_effect=[
        httpx.Response(200, json=fixture(f"orders-search-page-{n}.json")) for n in (1, 2, 3)
    ])

    pulled = list(adapter.pull_orders(since))

    assert search.call_count == 3
    for call, offset in zip(search.calls, (0, 2, 4), strict=True):
        params = call.request.url.params
        assert params["seller"] == SELLER and params["sort"] == "date_asc"
        assert (params["offset"], params["limit"]) == (str(offset), "2")
        assert params["order.date_last_updated.from"] == "2026-11-05T07:30:00.000-05:00"
    # as listed: by creation date (ML's date_asc), not by last change; the core's cursor needs no sort
    assert [p.external_id for p in pulled] == [f"200000820000{n}" for n in range(5)]
    assert [p.updated_at for p in pulled] != sorted(p.updated_at for p in pulled)
    assert all(p.raw["shipment"] is None and p.raw["billing_info"] is None for p in pulled)


def test_each_page_is_yielded_before_the_next_page_is_fetched(api, adapter):
    search = api.get("/orders/search").mock(side_effect=[
        httpx.Response(200, json=fixture(f"orders-search-page-{n}.json")) for n in (1, 2, 3)
    ])
    pulled = adapter.pull_orders(None)

    assert [next(pulled).external_id, next(pulled).external_id] == ["2000008200000", "2000008200001"]
    assert search.call_count == 1  # the second page is not asked for until the first one is used up
    assert next(pulled).external_id == "2000008200002"
    assert search.call_count == 2
    assert [p.external_id for p in pulled] == ["2000008200003", "2000008200004"]
    assert search.call_count == 3


def test_pull_orders_without_a_cursor_omits_the_date_filter(api, adapter):
    page = fixture("orders-search-page-3.json") | {"paging": {"total": 1, "offset": 0, "limit": 2}}
    search = api.get("/orders/search").respond(200, json=page)
    assert len(list(adapter.pull_orders(None))) == 1
    assert "order.date_last_updated.from" not in search.calls.last.request.url.params


def test_each_order_is_enriched_with_its_shipment_and_billing_info(api, adapter):
    order = fixture("order-pack-two-items.json")
    api.get("/orders/search").respond(200, json={"results": [order], "paging": {"total": 1, "offset": 0,
                                                                                 "limit": 2}})
    shipment = api.get("/shipments/44112233447").respond(200, json=fixture("shipment-cross-docking-new-format.json"))
    billing = api.get("/orders/billing-info/MCO/677487519924852499").respond(200, json=fixture("billing-info-nit.json"))

    [pulled] = list(adapter.pull_orders(None))

    assert shipment.calls.last.request.headers["x-format-new"] == "true"
    assert billing.called
    assert pulled.external_id == "2000008123458"
    assert pulled.updated_at == datetime(2026, 11, 4, 8, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert set(pulled.raw) == {"order", "shipment", "billing_info"}
    parsed = adapter.parse_order(pulled)
    assert parsed.status is OrderStatus.SHIPPED and parsed.shipping_cost == 9900
    assert parsed.buyer.kind_of_person is KindOfPerson.LEGAL and parsed.pack_id == "2000004123458"


def test_a_missing_shipment_or_billing_info_becomes_none(api, adapter):
    api.get("/orders/2000008123456").respond(200, json=fixture("order-paid-with-variation.json"))
    api.get("/shipments/44112233445").respond(404, json={"message": "Shipment not found", "status": 404})
    api.get("/orders/billing-info/MCO/677487519924852462").respond(404, json={"message": "not found"})

    pulled = adapter.fetch_order("2000008123456")

    assert pulled.raw["shipment"] is None and pulled.raw["billing_info"] is None
    assert adapter.parse_order(pulled).status is OrderStatus.PENDING


def test_a_transient_error_while_enriching_propagates(api, adapter):
    api.get("/orders/2000008123456").respond(200, json=fixture("order-paid-with-variation.json"))
    api.get("/shipments/44112233445").respond(503, json={"message": "unavailable"})
    with pytest.raises(TransientError):
        adapter.fetch_order("2000008123456")


def test_fetch_order_not_found(api, adapter):
    api.get("/orders/42").respond(404, json={"message": "Order not found", "error": "not_found", "status": 404})
    with pytest.raises(NotFound):
        adapter.fetch_order("42")


def test_the_seller_id_comes_from_the_token_when_not_stored(api):
    creds = {k: v for k, v in credentials().items() if k not in ("user_id", "access_token")}
    api.post("/oauth/token").respond(200, json=fixture("token-refresh.json"))
    search = api.get("/orders/search").respond(200, json={"results": [], "paging": {"total": 0}})
    adapter = MercadoLibreAdapter(creds, sleep=lambda _: None)
    assert list(adapter.pull_orders(None)) == []
    assert search.calls.last.request.url.params["seller"] == "187654321"
    assert adapter.credentials["user_id"] == "187654321"


def listed_order(order_id: int, created: str) -> dict:
    """A search result as documented (the first fixture's order), with its own id and creation time."""
    order = fixture("orders-search-page-1.json")["results"][1]
    return order | {"id": order_id, "date_created": f"2026-11-05T{created}:00.000-04:00"}


def search_like_mercadolibre(listing: list[dict]):
    """``/orders/search`` over ``listing``: ``sort=date_asc`` by creation date, ``order.date_created.from``
    inclusive, offset/limit and ``paging.total``, as the documented answer."""
    listing = sorted(listing, key=lambda o: o["date_created"])

    def search(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        created_from = params.get("order.date_created.from")
        matching = [o for o in listing if created_from is None or o["date_created"] >= created_from]
        offset, limit = int(params["offset"]), int(params["limit"])
        return httpx.Response(200, json={"results": matching[offset:offset + limit],
                                         "paging": {"total": len(matching), "offset": offset, "limit": limit}})

    return search


def test_a_long_listing_continues_past_the_offset_cap_by_creation_date(api, adapter):
    pages = [fixture(f"orders-search-page-{n}.json")["results"] for n in (1, 2, 3)]
    everything = pages[0] + pages[1] + pages[2]
    route = api.get("/orders/search").mock(side_effect=search_like_mercadolibre(everything))
    adapter.max_search_offset = 2
    pulled = [p.external_id for p in adapter.pull_orders(None)]
    assert pulled == [str(o["id"]) for o in everything]  # each once, in creation order
    assert route.call_count >= 3


def test_orders_at_the_window_boundary_come_once_and_none_is_lost(api, adapter):
    # A window reaches 4 orders (offsets 0 and 2 with a cap of 4). Three orders share 09:00: two end
    # the first window and come again at the start of the second, the third is past the cap.
    times = {1: "08:00", 2: "08:00", 3: "09:00", 4: "09:00", 5: "09:00", 6: "10:00", 7: "11:00"}
    listing = [listed_order(2000008300000 + n, created) for n, created in times.items()]
    route = api.get("/orders/search").mock(side_effect=search_like_mercadolibre(listing))
    adapter.max_search_offset = 4

    pulled = [p.external_id for p in adapter.pull_orders(None)]

    assert pulled == [str(2000008300000 + n) for n in times]
    windows = [(c.request.url.params.get("order.date_created.from"), c.request.url.params["offset"])
               for c in route.calls]
    assert windows == [(None, "0"), (None, "2"),
                       ("2026-11-05T09:00:00.000-04:00", "0"), ("2026-11-05T09:00:00.000-04:00", "2"),
                       ("2026-11-05T10:00:00.000-04:00", "0")]


def test_a_window_full_of_one_creation_date_stops_with_what_it_could_list(api, adapter, caplog):
    listing = [listed_order(2000008300000 + n, "09:00") for n in range(6)]
    route = api.get("/orders/search").mock(side_effect=search_like_mercadolibre(listing))
    adapter.max_search_offset = 4

    pulled = [p.external_id for p in adapter.pull_orders(None)]

    assert pulled == [str(2000008300000 + n) for n in range(4)]  # nothing twice, and no endless loop
    assert route.call_count == 4
    assert "share creation date" in caplog.text
