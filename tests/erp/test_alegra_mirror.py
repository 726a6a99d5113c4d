"""The mirror's half of AlegraAdapter on documented shapes (strict respx mocks): webhook
subscriptions, the unsigned delivery, one contact by id, contacts page by page."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from connector.errors import AmbiguousOutcome, InvalidPayload, NotFound
from erp.alegra.adapter import AlegraAdapter
from erp.base import ERPOptions, MirrorEvent

BASE = "https://alegra.test/api/v1"
CREDENTIALS = {"email": "facturacion@tiendacafetera.co", "token": "tok-5ecret-9f2c77", "country": "CO"}
FIXTURES = Path(__file__).parent / "fixtures" / "alegra"
HOOK = "https://conector.example.co/webhooks/erp/7/s3cr3t-path"


@pytest.fixture
def respx_mock():
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def adapter():
    adapter = AlegraAdapter(CREDENTIALS, ERPOptions(base_url=BASE), sleep=lambda _s: None)
    adapter.requestor.jitter = lambda: 0.0
    yield adapter
    adapter.close()


def test_subscribing_sends_the_event_and_the_url_without_its_https_scheme(respx_mock, adapter):
    route = respx_mock.post(f"{BASE}/webhooks/subscriptions").respond(
        201, json={"subscription": {"id": 41, "event": "new-item", "url": HOOK[len("https://"):]}})
    subscription = adapter.create_webhook_subscription("new-item", HOOK)
    assert json.loads(route.calls.last.request.content) == {"event": "new-item", "url": HOOK[len("https://"):]}
    assert (subscription.remote_id, subscription.event, subscription.url) == ("41", "new-item", HOOK)


def test_a_lost_answer_to_a_subscription_is_ambiguous_never_resent(respx_mock, adapter):
    route = respx_mock.post(f"{BASE}/webhooks/subscriptions").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(AmbiguousOutcome):
        adapter.create_webhook_subscription("edit-item", HOOK)
    assert route.call_count == 1


@pytest.mark.parametrize("body", [
    [{"id": 1, "event": "new-item", "url": "a.example/x"}, {"id": "2", "event": "edit-client", "url": "b"}],
    {"data": [{"id": 1, "event": "new-item", "url": "a.example/x"}, {"id": "2", "event": "edit-client", "url": "b"}]},
    {"subscriptions": [{"id": 1, "event": "new-item", "url": "a.example/x"},
                       {"id": "2", "event": "edit-client", "url": "b"}]},
])
def test_subscriptions_are_listed_from_any_envelope(respx_mock, adapter, body):
    respx_mock.get(f"{BASE}/webhooks/subscriptions").respond(200, json=body)
    listed = adapter.list_webhook_subscriptions()
    assert [(s.remote_id, s.event, s.url) for s in listed] == [("1", "new-item", "https://a.example/x"), ("2", "edit-client", "https://b")]


def test_deleting_a_subscription_that_is_gone_is_not_found(respx_mock, adapter):
    respx_mock.delete(f"{BASE}/webhooks/subscriptions/41").respond(404, json={"message": "No existe", "code": 404})
    with pytest.raises(NotFound):
        adapter.delete_webhook_subscription("41")


def test_the_documented_item_delivery_names_the_event_and_the_id(adapter):
    body = (FIXTURES / "webhook-new-item.json").read_bytes()
    notice = adapter.parse_mirror_notice(body)
    assert (notice.event, notice.record_id) == (MirrorEvent.ITEM_CREATED, "865")


@pytest.mark.parametrize(("subject", "key", "event"), [
    ("edit-client", "client", MirrorEvent.CONTACT_UPDATED), ("delete-item", "item", MirrorEvent.ITEM_DELETED),
    ("edit-invoice", "invoice", MirrorEvent.INVOICE_UPDATED), ("delete-client", "client", MirrorEvent.CONTACT_DELETED),
])
def test_client_item_and_invoice_deliveries(adapter, subject, key, event):
    notice = adapter.parse_mirror_notice(json.dumps({"subject": subject, "message": {key: {"id": 12}}}).encode())
    assert (notice.event, notice.record_id) == (event, "12")


def test_a_subject_the_mirror_does_not_follow_is_none_and_junk_is_invalid(adapter):
    assert adapter.parse_mirror_notice(b'{"subject": "new-bill", "message": {"bill": {"id": 3}}}') is None
    for junk in (b"not json", b"[]", b'{"subject": "new-item", "message": {"item": {"id": "../x"}}}'):
        with pytest.raises(InvalidPayload):
            adapter.parse_mirror_notice(junk)


def test_one_contact_by_id(respx_mock, adapter):
    respx_mock.get(f"{BASE}/contacts/55").respond(200, json={
        "id": "55", "name": "Laura Gómez", "identificationObject": {"type": "CC", "number": "1020304050"}})
    contact = adapter.get_contact("55")
    assert (contact.erp_id, contact.identification_number, contact.identification_type, contact.name) == \
        ("55", "1020304050", "CC", "Laura Gómez")


def test_contacts_are_read_30_a_page_oldest_first_with_a_resumable_cursor(respx_mock, adapter):
    full = [{"id": i, "name": f"C{i}", "identification": str(9000 + i)} for i in range(1, 31)]
    route = respx_mock.get(f"{BASE}/contacts").mock(side_effect=[httpx.Response(200, json=full),
                                                            httpx.Response(200, json=full[:4])])
    first = adapter.list_contacts_page(0)
    assert len(first.contacts) == 30 and first.next_start == 30
    last = adapter.list_contacts_page(first.next_start)
    assert last.next_start is None
    params = route.calls[1].request.url.params
    assert (params["start"], params["limit"], params["order_field"], params["order_direction"]) == \
        ("30", "30", "id", "ASC")
