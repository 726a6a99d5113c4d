"""Siigo's webhook API in the blueprint's shapes (respx): WebhooksIn/WebhooksOut/WebhooksOutGet and a
product delivery; only the documented product topics are mapped."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from connector.errors import InvalidPayload
from erp.base import MirrorEvent
from erp.siigo.client import PARTNER_ID
from tests.erp.test_siigo_adapter import BASE, page, token
from tests.erp.test_siigo_products import PRODUCT, adapter  # noqa: F401 (fixture)

SUBSCRIPTION = {"id": "04154094-56d0-4153-99d9-25f587aa4e50", "application_id": PARTNER_ID,
                "url": "https://panel.example/webhooks/erp/1/s", "topic": "public.siigoapi.products.create",
                "company_key": "siigoapi", "active": True, "created_at": "2023-08-11T15:11:18.1333022Z"}


def test_subscribe_list_and_delete(adapter):  # noqa: F811
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        created = router.post(f"{BASE}/v1/webhooks").mock(return_value=httpx.Response(201, json=SUBSCRIPTION))
        router.get(f"{BASE}/v1/webhooks").mock(return_value=httpx.Response(200, json=page(
            [SUBSCRIPTION, SUBSCRIPTION | {"id": "off-1", "active": False}])))
        deleted = router.delete(f"{BASE}/v1/webhooks/{SUBSCRIPTION['id']}").mock(
            return_value=httpx.Response(200, json={"id": SUBSCRIPTION["id"], "deleted": True}))
        made = adapter.create_webhook_subscription(SUBSCRIPTION["topic"], SUBSCRIPTION["url"])
        listed = adapter.list_webhook_subscriptions()
        adapter.delete_webhook_subscription(made.remote_id)
    assert json.loads(created.calls[0].request.content) == {"application_id": PARTNER_ID,
                                                            "topic": SUBSCRIPTION["topic"], "url": SUBSCRIPTION["url"]}
    assert [s.remote_id for s in listed] == [SUBSCRIPTION["id"]]  # an inactive one is not a subscription
    assert deleted.call_count == 1


def test_a_delivery_names_the_product_by_its_code(adapter):  # noqa: F811
    delivery = {"company_key": "siigoapi", "username": "api", "topic": "public.siigoapi.products.stock.update",
                **PRODUCT}
    notice = adapter.parse_mirror_notice(json.dumps(delivery).encode())
    assert notice.event is MirrorEvent.ITEM_STOCK_UPDATED and notice.record_id == "Item-1"
    assert adapter.parse_mirror_notice(b'{"topic": "public.siigoapi.invoices.create", "id": "x"}') is None
    for bad in (b"[]", b"\xff", b'{"topic": "public.siigoapi.products.update"}'):
        with pytest.raises(InvalidPayload):
            adapter.parse_mirror_notice(bad)
    assert set(adapter.mirror_events) == {MirrorEvent.ITEM_CREATED, MirrorEvent.ITEM_UPDATED,
                                          MirrorEvent.ITEM_STOCK_UPDATED}
