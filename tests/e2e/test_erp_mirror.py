"""The ERP mirror end to end through the sandbox: connecting subscribes the ERP's webhooks; an item
created in the sandbox ERP arrives by webhook and the order that waited for its SKU is invoiced without a
catalog re-read; client events keep the contacts mirror fresh; a wrong secret is refused; a subscription
the ERP dropped is made again by the periodic check; and the requests each invoice costs."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from admin_ui.webhooks import register_webhooks
from connector import services
from connector.mirror import SUBSCRIBED, check_all_subscriptions, subscription_status, webhooks_healthy
from connector.mirror_contacts import import_contacts_step, mirror_is_complete
from connector.models import ERPConnection, ERPContact, ERPMirrorEvent, Order
from connector.pipeline import process_order
from connector.states import OrderState
from connector.sync import pull_channel_connection
from connector.webhooks import background_work
from sandbox import server as sandbox_server
from sandbox.alegra import BARCODE_FIELD
from sandbox.catalog import BOGOTA, FINAL_CONSUMER_ID, PRODUCTS, SaleBuyer, SaleLine, SaleSpec
from sandbox.knobs import Knobs
from tests.conftest import DEMO_RULES

pytestmark = pytest.mark.e2e

EVENTS = {"new-item", "edit-item", "delete-item", "new-client", "edit-client", "delete-client", "edit-invoice"}
NEW_BARCODE = "7709999000017"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        return None


@pytest.fixture
def box():
    box = sandbox_server.Sandbox(order_count=0, seed=5, alegra_knobs=Knobs(rate_limit_per_minute=0)).start()
    yield box
    box.stop()


@pytest.fixture
def connector_url(ctx):
    app = Flask("connector-webhooks")
    register_webhooks(app, ctx)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    ctx.settings.public_url = f"http://127.0.0.1:{server.server_port}"
    yield ctx.settings.public_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def seller(ctx, box, connector_url):
    account = services.create_account(ctx, f"Tienda {uuid.uuid4().hex[:6]}")
    services.connect_erp(ctx, account.id, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                     "token": sandbox_server.ALEGRA_TOKEN, "country": "CO"},
                         base_url=box.alegra_url)
    channel = services.connect_channel(ctx, account.id, "mercadolibre", {
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
        "refresh_token": sandbox_server.ML_REFRESH_TOKEN}, base_url=box.ml_url)
    shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
    services.update_settings(ctx, account.id, DEMO_RULES + [f"shipping_item_id={shipping.erp_id}"])
    with ctx.db.session() as session:
        erp_id = session.scalar(select(ERPConnection.id).where(ERPConnection.account_id == account.id))
    yield {"account": account.id, "channel": channel.id, "erp": erp_id}
    background_work.wait_idle(30)


def sale(number: int, barcode: str, buyer: SaleBuyer) -> SaleSpec:
    product = next(p for p in PRODUCTS if p.key == "termo")
    return SaleSpec(number=number, scenario="matched", status="paid", created_at=datetime.now(BOGOTA),
                    lines=(SaleLine(barcode, "Producto de la venta", 1, product.price_with_tax()),), buyer=buyer)


def pulled_order(ctx, box, seller, spec: SaleSpec) -> int:
    """The sale in the marketplace sandbox, pulled and stored (not processed yet)."""
    external = str(box.ml_state.add_sale(spec))
    pull_channel_connection(ctx, seller["channel"])
    background_work.wait_idle(30)
    with ctx.db.session() as session:
        return session.scalar(select(Order.id).where(Order.external_id == external))


def settle_webhooks(box) -> None:
    assert box.alegra_state.webhooks.wait_idle(15)
    assert background_work.wait_idle(30)


def alegra_requests(box) -> int:
    with box.alegra_state.lock:
        return sum(box.alegra_state.requests.values())


def order_state(ctx, order_id: int) -> str:
    with ctx.db.session() as session:
        return session.get(Order, order_id).state


def test_connecting_subscribes_every_change_the_mirror_follows(ctx, box, seller):
    assert box.alegra_state.webhooks.events_subscribed() == EVENTS
    urls = {s["url"] for s in box.alegra_state.webhooks.listed()}
    assert len(urls) == 1 and f"/webhooks/erp/{seller['erp']}/" in urls.pop()
    assert {v.event: v.status for v in subscription_status(ctx, seller["erp"])} == dict.fromkeys(EVENTS, SUBSCRIBED)
    assert webhooks_healthy(ctx, seller["erp"])


def test_an_item_created_in_the_erp_arrives_by_webhook_and_the_waiting_order_is_invoiced(ctx, box, seller):
    buyer = SaleBuyer("COMPRADOR1", "Ana", "Ríos", "CC", "52111222")
    order_id = pulled_order(ctx, box, seller, sale(1, NEW_BARCODE, buyer))
    assert process_order(ctx, order_id) == OrderState.ERROR.value  # the ERP has no item with that barcode yet
    list_reads = box.alegra_state.count("GET /items")

    item = box.alegra_state.add_item({"name": "Termo nuevo 1 L", "reference": "TER-NEW-1L", "tax": [{"id": 1}],
                                      "customFields": [{**BARCODE_FIELD, "value": NEW_BARCODE}],
                                      "price": [{"idPriceList": 1, "name": "General", "price": 50000}]})
    settle_webhooks(box)

    assert services.search_catalog(ctx, seller["account"], NEW_BARCODE)[0].erp_id == str(item["id"])
    assert order_state(ctx, order_id) == OrderState.INVOICED.value
    assert box.alegra_state.count("GET /items") == list_reads  # no catalog re-read: one item read by id
    assert box.alegra_state.count("GET /items/<int:item_id>") == 1


def test_an_item_deleted_in_the_erp_leaves_the_mirror(ctx, box, seller):
    item_id = box.alegra_state.item_id_for_barcode(PRODUCTS[0].barcode)
    box.alegra_state.delete_item(item_id)
    settle_webhooks(box)
    assert not [i for i in services.search_catalog(ctx, seller["account"], PRODUCTS[0].barcode)
                if i.erp_id == str(item_id)]


def test_client_events_keep_the_contacts_mirror_fresh(ctx, box, seller):
    contact = box.alegra_state.add_contact({"name": "Carlos Pérez", "identificationObject": {
        "type": "CC", "number": "80111222"}, "type": ["client"]})
    settle_webhooks(box)
    with ctx.db.session() as session:
        row = session.scalar(select(ERPContact).where(ERPContact.erp_connection_id == seller["erp"],
                                                      ERPContact.identification_number == "80111222"))
        assert (row.erp_contact_id, row.name, row.source) == (str(contact["id"]), "Carlos Pérez", "event")
    box.alegra_state.delete_contact(contact["id"])
    settle_webhooks(box)
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ERPContact).where(
            ERPContact.erp_contact_id == str(contact["id"]))) == 0


def test_a_wrong_secret_is_refused_without_a_word_and_nothing_is_recorded(ctx, box, seller):
    client = Flask("t")
    register_webhooks(client, ctx)
    body = b'{"subject": "new-item", "message": {"item": {"id": "1"}}}'
    for path in (f"/webhooks/erp/{seller['erp']}/not-the-secret", "/webhooks/erp/999999/whatever"):
        answer = client.test_client().post(path, data=body, content_type="application/json")
        assert answer.status_code == 404 and answer.get_json() == {"status": "not_found"}
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ERPMirrorEvent)) == 0


def test_a_subscription_the_erp_dropped_is_made_again_by_the_periodic_check(ctx, box, seller):
    dropped = next(s for s in box.alegra_state.webhooks.listed() if s["event"] == "new-item")
    box.alegra_state.webhooks.drop(dropped["id"])  # what Alegra does after 10 failed deliveries
    check_all_subscriptions(ctx)
    again = next(s for s in box.alegra_state.webhooks.listed() if s["event"] == "new-item")
    assert again["id"] != dropped["id"] and box.alegra_state.webhooks.events_subscribed() == EVENTS
    assert {v.status for v in subscription_status(ctx, seller["erp"])} == {SUBSCRIBED}


def test_with_the_contacts_mirror_complete_a_known_buyer_costs_one_request_and_a_new_one_two(ctx, box, seller):
    box.alegra_state.add_contact({"name": "Lucía Gómez", "identificationObject": {"type": "CC", "number": "43555666"},
                                  "type": ["client"]})
    settle_webhooks(box)
    while import_contacts_step(ctx, seller["erp"]):
        pass
    assert mirror_is_complete(ctx, seller["erp"])
    barcode = PRODUCTS[0].barcode
    costs = {}
    for number, (kind, buyer) in enumerate((
            ("known", SaleBuyer("CONOCIDA", "Lucía", "Gómez", "CC", "43555666")),
            ("new", SaleBuyer("NUEVO", "Pedro", "Mora", "CC", "1012345678")),
            ("final_consumer", SaleBuyer("SINDOC", None, None, None, None))), start=10):
        order_id = pulled_order(ctx, box, seller, sale(number, barcode, buyer))
        before = alegra_requests(box)
        assert process_order(ctx, order_id) == OrderState.INVOICED.value
        settle_webhooks(box)  # the ERP's notices of what the invoice did are counted too
        costs[kind] = alegra_requests(box) - before
    assert costs == {"known": 1, "new": 2, "final_consumer": 1}
    with ctx.db.session() as session:  # the contact the connector created is in the mirror too
        assert session.scalar(select(ERPContact.source).where(
            ERPContact.identification_number == "1012345678")) == "created"
        assert session.scalar(select(ERPContact.erp_contact_id).where(
            ERPContact.identification_number == FINAL_CONSUMER_ID)) is not None


def test_the_cli_shows_each_subscription_and_takes_them_off(ctx, box, seller, cli_env, capsys, monkeypatch):
    from connector.cli import main as cli_main

    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", ctx.settings.public_url)
    assert cli_main(["erp", "status", "--account", str(seller["account"])]) == 0
    out = capsys.readouterr().out
    assert "Notificaciones del ERP: al día" in out and "Productos creados: suscrito" in out
    assert "new-item" not in out  # the ERP's own event names stay out of what the seller reads
    assert cli_main(["erp", "status", "--webhooks", "off", "--json", "--account", str(seller["account"])]) == 0
    assert '"subscriptions": []' in capsys.readouterr().out
    assert box.alegra_state.webhooks.events_subscribed() == set()


def test_duplicate_and_out_of_order_deliveries_are_harmless(ctx, box, seller):
    from connector.mirror import ensure_secret
    from connector.mirror_events import process_mirror_events

    client = Flask("t")
    register_webhooks(client, ctx)
    path = f"/webhooks/erp/{seller['erp']}/{ensure_secret(ctx, seller['erp'])}"
    item = box.alegra_state.add_item({"name": "Filtro de tela", "reference": "FIL-TELA",
                                      "customFields": [{**BARCODE_FIELD, "value": "7709999000024"}]})
    settle_webhooks(box)
    body = b'{"subject": "new-item", "message": {"item": {"id": "%d", "name": "lo que sea"}}}' % item["id"]
    for _ in range(3):  # the same delivery again and again: still one item
        assert client.test_client().post(path, data=body, content_type="application/json").status_code == 200
    background_work.wait_idle(30)
    process_mirror_events(ctx, seller["erp"])
    assert len([i for i in services.search_catalog(ctx, seller["account"], "FIL-TELA")]) == 1

    box.alegra_state.delete_item(item["id"])
    settle_webhooks(box)
    stale = b'{"subject": "edit-item", "message": {"item": {"id": "%d"}}}' % item["id"]  # arrives after the delete
    assert client.test_client().post(path, data=stale, content_type="application/json").status_code == 200
    background_work.wait_idle(30)
    process_mirror_events(ctx, seller["erp"])
    assert services.search_catalog(ctx, seller["account"], "FIL-TELA") == []  # re-read: the ERP says it is gone


def test_an_invoice_changed_in_the_erp_brings_its_follow_up_forward(ctx, box, seller):
    from datetime import timedelta

    from connector.models import Invoice, utcnow

    order_id = pulled_order(ctx, box, seller, sale(30, PRODUCTS[0].barcode,
                                                   SaleBuyer("FACT", "Eva", "Sol", "CC", "39888777")))
    assert process_order(ctx, order_id) == OrderState.INVOICED.value
    with ctx.db.transaction() as session:
        invoice = session.scalar(select(Invoice).where(Invoice.order_id == order_id))
        invoice.next_followup_at = utcnow() + timedelta(hours=1)
        erp_invoice_id = invoice.erp_id
    box.alegra_state.webhooks.notify("edit-invoice", "invoice", {"id": int(erp_invoice_id)})
    settle_webhooks(box)
    with ctx.db.session() as session:
        assert session.scalar(select(Invoice.next_followup_at).where(Invoice.order_id == order_id)) <= utcnow()


def test_healthy_webhooks_stop_the_hourly_re_read_and_the_backstop_takes_spare_room(ctx, box, seller):
    from datetime import timedelta

    from connector.mirror_events import run_mirror_work
    from connector.models import utcnow

    with ctx.db.transaction() as session:
        session.get(ERPConnection, seller["erp"]).catalog_refreshed_at = utcnow() - timedelta(hours=2)
    list_reads = box.alegra_state.count("GET /items")
    order_id = pulled_order(ctx, box, seller, sale(40, PRODUCTS[0].barcode,
                                                   SaleBuyer("VIEJO", "Rosa", "Paz", "CC", "41222333")))
    assert process_order(ctx, order_id) == OrderState.INVOICED.value
    assert box.alegra_state.count("GET /items") == list_reads  # two hours old, and not re-read
    ctx.settings.catalog_backstop_seconds = 3600
    assert run_mirror_work(ctx)["catalog_backstops"] == 1
    assert box.alegra_state.count("GET /items") > list_reads
