"""The mirror over Siigo: the three product topics Siigo documents are subscribed once (a lost answer
settled by listing), removed on request, and a delivery names the product by its code and is re-read;
what Siigo has no topic for (customers, invoices, deletions) is never subscribed."""

from __future__ import annotations

import json

from sqlalchemy import select

from connector import mirror, services
from connector.mirror_events import process_mirror_events, receive_mirror_event
from connector.models import ERPConnection
from erp.siigo.client import PARTNER_ID
from tests.conftest import connect_seller

PUBLIC = "http://127.0.0.1:9"  # nothing listens: no delivery is made by the sandbox in these tests
TOPICS = {"public.siigoapi.products.create", "public.siigoapi.products.update",
          "public.siigoapi.products.stock.update"}


def siigo_seller(ctx, sandbox) -> tuple[int, int]:
    account = connect_seller(ctx, sandbox, erp="siigo")
    with ctx.db.session() as session:
        return account, session.scalar(select(ERPConnection.id).where(ERPConnection.account_id == account))


def test_the_documented_product_topics_are_subscribed_once_and_removed(ctx, sandbox):
    _, erp_id = siigo_seller(ctx, sandbox)
    ctx.settings.public_url = PUBLIC
    sandbox.siigo_knobs.reset_after_commit_rate = 1.0  # each subscription made, its answer lost
    try:
        assert set(mirror.subscribe(ctx, erp_id).values()) == {"ambiguous"}
    finally:
        sandbox.siigo_knobs.reset_after_commit_rate = 0.0
    assert set(mirror.perform_due(ctx, erp_id).values()) == {"done"}
    listed = sandbox.siigo_state.webhooks.listed()
    assert {s["topic"] for s in listed} == TOPICS and len(listed) == 3  # settled by listing: none twice
    assert all(s["application_id"] == PARTNER_ID and s["url"].startswith(PUBLIC) for s in listed)
    assert set(mirror.unsubscribe(ctx, erp_id).values()) == {"done"}
    assert sandbox.siigo_state.webhooks.listed() == []


def test_a_delivery_names_the_product_by_code_and_the_product_is_re_read(ctx, sandbox):
    account, erp_id = siigo_seller(ctx, sandbox)
    secret = mirror.ensure_secret(ctx, erp_id)
    code = next(iter(sandbox.siigo_state.products))
    product = sandbox.siigo_state.products[code]
    body = {"company_key": "TiendaCafetera", "username": "api", "topic": "public.siigoapi.products.stock.update",
            **product, "name": "lo que diga la notificación"}
    receipt = receive_mirror_event(ctx, erp_id, secret, json.dumps(body).encode())
    assert (receipt.http_status, receipt.outcome) == (200, "accepted")
    assert receive_mirror_event(ctx, erp_id, secret, b'{"topic": "public.siigoapi.customers.create"}').outcome \
        == "ignored"
    assert receive_mirror_event(ctx, erp_id, secret, b"no es json").http_status == 400
    assert receive_mirror_event(ctx, erp_id, secret + "x", json.dumps(body).encode()).http_status == 404
    assert process_mirror_events(ctx, erp_id).get("item_saved") == 1
    [item] = [i for i in services.search_catalog(ctx, account, code) if i.erp_id == code]
    assert item.name == product["name"]  # what Siigo says when asked, not what the delivery carried
