"""Refunds in the Mercado Libre, Shopify and WooCommerce sandboxes: planned over time from the sale
stream (without changing it), given on demand, served in each marketplace's documented shape, read
back by each channel's parser as the records say, moving the order past the pull cursor, and
announced by the marketplace's webhooks."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from channels.base import ChannelOptions
from channels.mercadolibre.adapter import MercadoLibreAdapter
from channels.mercadolibre.parser import parse_order as parse_ml
from channels.shopify.adapter import ShopifyAdapter
from channels.shopify.parser import parse_order as parse_shopify
from channels.woocommerce.adapter import WooCommerceAdapter
from channels.woocommerce.parser import parse_order as parse_woo
from connector.canonical import PulledOrder
from sandbox import server
from sandbox.catalog import generate_sales
from sandbox.webhooks import Delivery

CHANNELS = ("mercadolibre", "shopify", "woocommerce")


def adapter_for(box: server.Sandbox, channel: str):
    if channel == "mercadolibre":
        return MercadoLibreAdapter({"client_id": server.ML_CLIENT_ID, "client_secret": server.ML_CLIENT_SECRET,
                                    "refresh_token": server.ML_REFRESH_TOKEN}, ChannelOptions(base_url=box.ml_url),
                                   sleep=lambda _: None)
    if channel == "shopify":
        return ShopifyAdapter({"shop": server.SHOPIFY_SHOP, "access_token": server.SHOPIFY_ACCESS_TOKEN,
                               "webhook_secret": server.SHOPIFY_WEBHOOK_SECRET}, ChannelOptions(base_url=box.shopify_url))
    return WooCommerceAdapter({"store_url": box.woo_url, "consumer_key": server.WOO_CONSUMER_KEY,
                               "consumer_secret": server.WOO_CONSUMER_SECRET, "webhook_secret": "woo-secreto"},
                              ChannelOptions(base_url=box.woo_url))


def store_of(box: server.Sandbox, channel: str):
    return {"mercadolibre": box.ml_state, "shopify": box.shopify_state, "woocommerce": box.woo_state}[channel]


def parsed_in_process(box: server.Sandbox, channel: str, order_id: int):
    """The order as the channel's parser reads the sandbox's documents (no HTTP)."""
    if channel == "mercadolibre":
        order = box.ml_state.order(order_id)
        raw = {"order": order, "shipment": box.ml_state.find("shipments", order["shipping"]["id"]), "billing_info": None}
        return parse_ml(PulledOrder(external_id=str(order_id), raw=raw))
    if channel == "shopify":
        return parse_shopify(PulledOrder(external_id=str(order_id), raw={"order": box.shopify_state.order(order_id)}))
    raw = {"order": box.woo_state.order(order_id), "refunds": box.woo_state.order_refunds(order_id)}
    return parse_woo(PulledOrder(external_id=str(order_id), raw=raw))


def paid_order_id(box: server.Sandbox, channel: str) -> int:
    """A paid, not yet refunded order with more than one unit, of the channel's sandbox."""
    store = store_of(box, channel)
    for order_id in sorted(store.orders):
        order = store.order(order_id)
        if channel == "mercadolibre":
            ok = order["status"] == "paid" and sum(i["quantity"] for i in order["order_items"]) > 1
        elif channel == "shopify":
            ok = order["financial_status"] == "paid" and sum(i["quantity"] for i in order["line_items"]) > 1
        else:
            ok = order["status"] in ("processing", "completed") and sum(i["quantity"] for i in order["line_items"]) > 1
        if ok:
            return order_id
    raise AssertionError("no paid order with two units")


def by_refund_id(records: list[dict]) -> dict[str, Decimal]:
    """What each refund id gave back in total (Mercado Libre: two refunds of one payment add up)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for record in records:
        totals[record["refund_id"]] += Decimal(record["amount"])
    return dict(totals)


# -- the sale stream -------------------------------------------------------------------------------


def test_refunds_are_drawn_apart_so_the_sale_stream_stays_the_same():
    plain = generate_sales(300, seed=11)
    refunded = generate_sales(300, seed=11, refund_share=0.4)
    assert [replace(sale, refunds=()) for sale in refunded] == plain
    assert all(not sale.refunds for sale in plain)
    assert refunded == generate_sales(300, seed=11, refund_share=0.4)  # deterministic
    with_refunds = [sale for sale in refunded if sale.refunds]
    assert all(sale.status == "paid" for sale in with_refunds)
    assert 0.25 < len(with_refunds) / sum(sale.status == "paid" for sale in refunded) < 0.55
    kinds = {("several" if len(s.refunds) > 1 else "full" if s.refunds[0].full else
              "shipping" if s.refunds[0].shipping else "partial") for s in with_refunds}
    assert kinds == {"full", "partial", "shipping", "several"}


def test_a_default_sandbox_plans_and_gives_no_refund():
    box = server.Sandbox(order_count=20)
    assert [store.planned_refunds() for store in box.refunding_stores()] == [0, 0, 0]
    assert box.release_refunds() == [] and box.refund_records() == {c: [] for c in CHANNELS}


# -- on demand, over HTTP ----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_on_demand_refund_is_served_in_the_channels_shape_and_moves_the_order_past_the_cursor(channel):
    with server.Sandbox(order_count=24) as box:
        store = store_of(box, channel)
        order_id = paid_order_id(box, channel)
        adapter = adapter_for(box, channel)
        before = adapter.fetch_order(str(order_id))
        assert adapter.parse_order(before).refunds == []
        cursor = max(p.updated_at for p in adapter.pull_orders(None))
        record = store.refund(order_id, lines={0: 1}, shipping=True, reason="Talla equivocada")
        assert record["channel"] == channel and record["order_id"] == str(order_id)
        pulled = [p for p in adapter.pull_orders(cursor + timedelta(seconds=1))]
        assert [p.external_id for p in pulled] == [str(order_id)]  # only the refunded order changed
        (refund,) = adapter.parse_order(pulled[0]).refunds
        assert (refund.refund_id, refund.amount, refund.full) == (record["refund_id"], Decimal(record["amount"]), False)
        assert store.refund_records() == [record]
        adapter.close()


def test_refund_control_routes_give_list_and_release_refunds():
    with server.Sandbox(order_count=24, refund_share=0.5, refund_minute_seconds=3600) as box:
        order_id = paid_order_id(box, "shopify")
        answer = httpx.post(f"{box.shopify_url}/_sandbox/orders/{order_id}/refunds", json={"lines": {"0": 1}})
        assert answer.status_code == 201 and answer.json()["order_id"] == str(order_id)
        listed = httpx.get(f"{box.shopify_url}/_sandbox/refunds").json()
        assert listed["refunds"] == [answer.json()] and listed["planned"] > 0
        released = httpx.post(f"{box.woo_url}/_sandbox/refunds/release").json()["refunds"]
        assert released and box.woo_state.planned_refunds() == 0
        assert httpx.post(f"{box.ml_url}/_sandbox/orders/1/refunds", json={}).status_code == 404


# -- planned refunds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_planned_refunds_read_back_as_the_records_say(channel):
    box = server.Sandbox(order_count=60, refund_share=0.6)
    store = store_of(box, channel)
    assert store.planned_refunds() > 0
    given = store.release_refunds()
    assert given and store.planned_refunds() == 0 and store.refund_records() == given
    records_by_order: dict[str, list[dict]] = defaultdict(list)
    for record in given:
        records_by_order[record["order_id"]].append(record)
    assert any(len(records) > 1 for records in records_by_order.values())  # several refunds on one order
    for order_id, records in records_by_order.items():
        order = parsed_in_process(box, channel, int(order_id))
        read = {refund.refund_id: refund.amount for refund in order.refunds}
        assert read == by_refund_id(records), (channel, order_id)
        assert [r.full for r in order.refunds] == [False] * (len(order.refunds) - 1) + [records[-1]["full"]]
        if records[-1]["full"]:
            invoiced = sum((line.amount_paid for line in order.lines), order.shipping_cost)
            assert sum(read.values()) == invoiced, (channel, order_id)  # everything given back, no more
        else:
            assert sum(read.values()) < order.total_paid


def test_planned_refunds_come_due_over_time_on_a_started_sandbox():
    with server.Sandbox(order_count=20, refund_share=1.0, refund_minute_seconds=0.01) as box:
        deadline = time.monotonic() + 10
        while any(store.planned_refunds() for store in box.refunding_stores()) and time.monotonic() < deadline:
            time.sleep(0.1)
        records = box.refund_records()
        assert all(records[channel] for channel in CHANNELS)
        assert not any(store.planned_refunds() for store in box.refunding_stores())


def test_a_fully_refunded_order_has_nothing_left_to_refund():
    box = server.Sandbox(order_count=24)
    order_id = paid_order_id(box, "woocommerce")
    assert box.woo_state.refund(order_id, full=True)["full"] is True
    assert box.woo_state.refund(order_id, full=True) is None
    assert box.woo_state.order(order_id)["status"] == "refunded"


# -- webhooks ------------------------------------------------------------------------------------


class Captured:
    """Stands for the connector's webhook endpoint: keeps what the sandbox posts."""

    def __init__(self):
        self.deliveries: list[Delivery] = []

    def post(self, url, body, headers):
        delivery = Delivery(url, dict(headers), body, status=200)
        self.deliveries.append(delivery)
        return delivery


def test_refund_webhooks_point_the_channel_adapters_at_the_refunded_order():
    box = server.Sandbox(order_count=24)
    shopify, woo, ml = Captured(), Captured(), Captured()
    box.shopify_state.sender, box.woo_state.sender, box.ml_notifier.sender = shopify, woo, ml
    box.shopify_state.subscribe("http://conector/webhooks/shopify/1", server.SHOPIFY_WEBHOOK_SECRET)
    box.woo_state.subscribe("http://conector/webhooks/woocommerce/2", "woo-secreto")
    box.ml_notifier.subscribe("http://conector/webhooks/mercadolibre/3?secret=x")
    adapters = {"shopify": ShopifyAdapter({"shop": server.SHOPIFY_SHOP, "access_token": "x",
                                           "webhook_secret": server.SHOPIFY_WEBHOOK_SECRET}),
                "woocommerce": WooCommerceAdapter({"store_url": "http://127.0.0.1:1", "consumer_key": "k",
                                                   "consumer_secret": "s", "webhook_secret": "woo-secreto"},
                                                  ChannelOptions(allow_private_network=True)),
                "mercadolibre": MercadoLibreAdapter({"client_id": server.ML_CLIENT_ID, "client_secret": "s",
                                                     "refresh_token": "r", "user_id": str(server.ML_USER_ID),
                                                     "webhook_secret": "x"})}
    for channel, captured in (("shopify", shopify), ("woocommerce", woo), ("mercadolibre", ml)):
        order_id = paid_order_id(box, channel)
        store_of(box, channel).refund(order_id, full=True)
        topics = []
        for delivery in captured.deliveries:
            query = {"secret": "x"} if channel == "mercadolibre" else None
            adapters[channel].verify_webhook(delivery.headers, delivery.body, query=query)
            event = adapters[channel].parse_webhook(delivery.headers, delivery.body, query=query)
            assert event.external_order_id == str(order_id), (channel, event)
            topics.append(event.topic)
        expected = {"shopify": {"refunds/create", "orders/updated"}, "woocommerce": {"order.updated"},
                    "mercadolibre": {"orders_v2"}}[channel]
        assert expected <= set(topics), (channel, topics)
        adapters[channel].close()


def test_shopify_refunds_of_a_store_without_taxes_included_are_before_tax_like_its_lines():
    box = server.Sandbox(order_count=60, refund_share=0.7)
    box.shopify_state.set_taxes_included(False)
    records_by_order: dict[str, list[dict]] = defaultdict(list)
    for record in box.shopify_state.release_refunds():
        records_by_order[record["order_id"]].append(record)
    for order_id, records in records_by_order.items():
        order = parsed_in_process(box, "shopify", int(order_id))
        assert not order.prices_include_tax
        assert {r.refund_id: r.amount for r in order.refunds} == by_refund_id(records)
        if records[-1]["full"]:
            assert sum(r.amount for r in order.refunds) == sum((line.amount_paid for line in order.lines),
                                                                order.shipping_cost)
