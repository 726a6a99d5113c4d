"""The Alegra sandbox keeps webhook subscriptions and delivers every change, in the background."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from connector.errors import NotFound
from erp.base import MirrorEvent
from sandbox.alegra_webhooks import MAX_FAILURES
from tests.sandbox.conftest import Served


@pytest.fixture
def receiver():
    """A loopback endpoint that records what it receives and answers ``status`` (settable)."""
    app = Flask("receiver")
    seen: list[dict] = []
    answer = {"status": 200, "delay": 0.0}

    @app.post("/hook/<name>")
    def hook(name: str):
        time.sleep(answer["delay"])
        seen.append({"name": name, "body": request.get_json()})
        return "", answer["status"]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", seen, answer
    server.shutdown()


def test_subscriptions_are_created_listed_and_deleted_through_the_api(served: Served, receiver):
    url, _, _ = receiver
    adapter = served.adapter()
    created = adapter.create_webhook_subscription("new-item", f"{url}/a")
    assert [(s.remote_id, s.event, s.url) for s in adapter.list_webhook_subscriptions()] == \
        [(created.remote_id, "new-item", f"{url}/a")]
    adapter.delete_webhook_subscription(created.remote_id)
    assert adapter.list_webhook_subscriptions() == []
    with pytest.raises(NotFound):
        adapter.delete_webhook_subscription(created.remote_id)


def test_item_and_client_changes_are_delivered_unsigned_to_each_subscriber(served: Served, receiver):
    url, seen, _ = receiver
    adapter = served.adapter()
    for event in ("new-item", "edit-item", "delete-item", "new-client"):
        adapter.create_webhook_subscription(event, f"{url}/{event}")
    item = served.state.add_item({"name": "Molinillo de café", "reference": "MOL-001", "tax": [{"id": 1}]})
    served.state.edit_item(item["id"], {"reference": "MOL-002"})
    served.state.delete_item(item["id"])
    contact = served.state.add_contact({"name": "Ana Ruiz", "identificationObject": {"type": "CC", "number": "5"}})
    assert served.state.webhooks.wait_idle()
    subjects = [(s["body"]["subject"], s["name"]) for s in seen]
    assert subjects == [("new-item", "new-item"), ("edit-item", "edit-item"), ("delete-item", "delete-item"),
                        ("new-client", "new-client")]
    assert seen[1]["body"]["message"]["item"]["reference"] == "MOL-002"
    notices = [adapter.parse_mirror_notice(_json(s["body"])) for s in seen]
    assert [(n.event, n.record_id) for n in notices] == [
        (MirrorEvent.ITEM_CREATED, str(item["id"])), (MirrorEvent.ITEM_UPDATED, str(item["id"])),
        (MirrorEvent.ITEM_DELETED, str(item["id"])), (MirrorEvent.CONTACT_CREATED, str(contact["id"]))]


def test_the_change_does_not_wait_for_the_delivery(served: Served, receiver):
    url, seen, answer = receiver
    answer["delay"] = 1.0
    served.adapter().create_webhook_subscription("new-item", f"{url}/slow")
    started = time.monotonic()
    served.state.add_item({"name": "Prensa francesa"})
    assert time.monotonic() - started < 0.5
    assert served.state.webhooks.wait_idle() and len(seen) == 1


def test_a_subscription_is_deleted_after_ten_failures_in_a_row(served: Served, receiver):
    url, _, answer = receiver
    answer["status"] = 500
    served.adapter().create_webhook_subscription("edit-item", f"{url}/failing")
    for n in range(MAX_FAILURES - 1):
        served.state.edit_item(1, {"description": f"v{n}"})
    assert served.state.webhooks.wait_idle()
    assert served.state.webhooks.events_subscribed() == {"edit-item"}
    served.state.edit_item(1, {"description": "last"})
    assert served.state.webhooks.wait_idle()
    assert served.state.webhooks.events_subscribed() == set()


def _json(body: dict) -> bytes:
    import json

    return json.dumps(body).encode()


def test_a_subscription_write_loses_its_answer_after_committing_when_its_kind_is_told_to(served: Served, receiver):
    """``lost_answer_rates`` (the chaos run): creating or deleting a subscription is done, and the answer
    is lost; every other write is left alone."""
    from connector.errors import ConnectorError

    url, _, _ = receiver
    adapter = served.adapter()
    served.knobs.update({"lost_answer_rates": {"subscription": 1.0}, "commit_stall_seconds": 0.0})
    served.knobs.update({"seed": 1})
    lost = 0
    for attempt in range(6):  # half dropped, half stalled (here for no time: then answered)
        try:
            adapter.create_webhook_subscription("new-item", f"{url}/{attempt}")
        except ConnectorError:
            lost += 1
    assert len(served.state.webhooks.listed()) == 6 and 0 < lost < 6
    assert served.knobs.injected["lost_answer_subscription"] == 6
    first = served.state.webhooks.listed()[0]["id"]
    try:
        adapter.delete_webhook_subscription(str(first))
    except ConnectorError:
        pass
    assert len(served.state.webhooks.listed()) == 5 and served.knobs.injected["lost_answer_subscription"] == 7
