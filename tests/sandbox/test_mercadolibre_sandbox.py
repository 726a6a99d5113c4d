"""The Mercado Libre sandbox over real loopback HTTP, driven by the real adapter."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest

from connector.canonical import OrderStatus
from connector.errors import InvalidCredentials
from sandbox import mercadolibre
from tests.sandbox.conftest import REFRESH_TOKEN, SALES, USER_ID, adapter_for


def test_validate_credentials_with_good_credentials(sandbox):
    _, _, url = sandbox
    info = adapter_for(url).validate_credentials()
    assert (info.remote_id, info.display_name, info.extra) == (str(USER_ID), "TIENDACAFETERA", {"site_id": "MCO"})


@pytest.mark.parametrize("override", [{"client_secret": "wrong"}, {"refresh_token": "TG-made-up"},
                                      {"client_id": "123"}])
def test_validate_credentials_with_bad_credentials(sandbox, override):
    _, _, url = sandbox
    with pytest.raises(InvalidCredentials):
        adapter_for(url, **override).validate_credentials()


def test_rotation_is_persisted_and_the_old_refresh_token_is_refused(sandbox):
    state, _, url = sandbox
    saved: list[dict] = []
    adapter_for(url, saved).validate_credentials()
    assert len(saved) == 1
    rotated = saved[0]["refresh_token"]
    assert rotated != REFRESH_TOKEN and state.refresh_token == rotated

    with pytest.raises(InvalidCredentials):
        adapter_for(url).validate_credentials()  # the original token was used once already
    reconnected = adapter_for(url, refresh_token=rotated).validate_credentials()  # what the core stored
    assert reconnected.remote_id == str(USER_ID)


def test_routes_need_a_valid_bearer_token(sandbox):
    _, _, url = sandbox
    answer = httpx.get(f"{url}/users/me", headers={"Authorization": "Bearer APP_USR-nope"})
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"


def test_an_expired_access_token_mid_run_is_refreshed_once(sandbox):
    state, _, url = sandbox
    saved: list[dict] = []
    adapter = adapter_for(url, saved)
    adapter.fetch_order(str(state.order_ids()[0]))
    state.expire_access_tokens()
    adapter.fetch_order(str(state.order_ids()[1]))
    assert len(saved) == 2 and state.token_grants == 2


def test_pull_every_seeded_order_and_parse_each(sandbox):
    state, _, url = sandbox
    adapter = adapter_for(url)
    pulled = list(adapter.pull_orders(None))

    assert len(pulled) == len(SALES) == 120
    assert {p.external_id for p in pulled} == {str(i) for i in state.order_ids()}
    created = [p.raw["order"]["date_created"] for p in pulled]
    assert created == sorted(created)  # streamed as listed: by creation date
    orders = [adapter.parse_order(p) for p in pulled]

    specs = {str(mercadolibre.ORDER_ID_BASE + s.number): s for s in SALES}
    for order in orders:
        spec = specs[order.external_id]
        assert order.is_fulfillment is spec.fulfillment
        assert order.shipping_cost == spec.shipping_cost
        assert [line.sku for line in order.lines] == [line.sku for line in spec.lines]
        assert [line.variation_attributes for line in order.lines] == [line.variation for line in spec.lines]
        assert sum(line.amount_paid for line in order.lines) == spec.total
        if spec.buyer.id_type:
            assert order.buyer.identification.number == spec.buyer.id_number
        else:
            assert order.buyer.identification is None and order.buyer.name == spec.buyer.nickname
    assert any(o.is_fulfillment for o in orders) and any(o.shipping_cost > 0 for o in orders)
    assert any(o.pack_id for o in orders)
    statuses = Counter(o.status for o in orders)
    assert statuses[OrderStatus.PENDING] and statuses[OrderStatus.SHIPPED] and statuses[OrderStatus.COMPLETED]
    assert adapter.client.calls < 3 * len(SALES) + 10  # pages + shipment + billing info, nothing wasted


def test_the_since_cursor_returns_only_changed_orders(sandbox):
    state, _, url = sandbox
    adapter = adapter_for(url)
    everything = list(adapter.pull_orders(None))
    newest = max(everything, key=lambda p: p.updated_at)
    cursor = newest.updated_at  # where the core leaves the cursor after this pull
    assert [p.external_id for p in adapter.pull_orders(cursor)] == [newest.external_id]  # inclusive

    first, second = state.order_ids()[3], state.order_ids()[10]
    state.update_status(second, "cancelled")
    state.update_status(first, "paid", shipment_status="delivered")
    changed = list(adapter.pull_orders(cursor + timedelta(milliseconds=1)))

    assert [p.external_id for p in changed] == [str(first), str(second)]  # by creation date, not by change
    assert adapter.parse_order(changed[0]).status is OrderStatus.COMPLETED
    assert adapter.parse_order(changed[1]).status is OrderStatus.CANCELLED


def test_long_listings_survive_the_offset_cap(sandbox):
    state, _, url = sandbox
    state.max_offset = 40
    adapter = adapter_for(url)
    adapter.max_search_offset = 40
    pulled = [p.external_id for p in adapter.pull_orders(None)]
    assert len(pulled) == len(set(pulled)) == len(SALES)  # every order, each once


def test_search_refuses_a_foreign_seller_and_a_large_limit(sandbox):
    _, _, url = sandbox
    adapter = adapter_for(url)
    token = adapter.client.auth.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    foreign = httpx.get(f"{url}/orders/search", params={"seller": "1"}, headers=headers)
    too_big = httpx.get(f"{url}/orders/search", params={"seller": str(USER_ID), "limit": 52}, headers=headers)
    assert foreign.status_code == 403
    assert too_big.status_code == 400


def test_shipments_answer_the_new_format_only_when_asked(sandbox):
    state, _, url = sandbox
    adapter = adapter_for(url)
    headers = {"Authorization": f"Bearer {adapter.client.auth.access_token()}"}
    shipment_id = state.order(state.order_ids()[0])["shipping"]["id"]
    old = httpx.get(f"{url}/shipments/{shipment_id}", headers=headers).json()
    new = httpx.get(f"{url}/shipments/{shipment_id}", headers={**headers, "x-format-new": "true"}).json()
    assert "logistic_type" in old and "shipping_option" in old
    assert new["logistic"]["type"] == old["logistic_type"]
    assert new["lead_time"]["cost"] == old["shipping_option"]["cost"]


def test_faults_from_the_knobs_are_retried_by_the_adapter(sandbox):
    _, knobs, url = sandbox
    knobs.update({"error_rate": 0.1, "burst_429_rate": 0.05, "seed": 11})
    adapter = adapter_for(url)
    pulled = list(adapter.pull_orders(None))
    assert len(pulled) == len(SALES)
    needed = 1 + 3 + sum(1 + (p.raw["billing_info"] is not None) for p in pulled)  # token, pages, enrichment
    assert adapter.client.calls > needed  # faults were hit and retried
