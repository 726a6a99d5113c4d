"""MercadoLibreAdapter delivering the invoice: the PDF attached to the pack (respx, strict)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx

from channels.base import ChannelOptions, InvoiceDelivery
from channels.mercadolibre.adapter import MercadoLibreAdapter
from connector.canonical import PulledOrder
from connector.errors import AmbiguousOutcome, NotFound, PermanentRejection

FIXTURES = Path(__file__).parent / "fixtures" / "mercadolibre"
BASE = "https://api.mercadolibre.com"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_adapter(site_id: str | None = None) -> MercadoLibreAdapter:
    credentials = {"client_id": "5501234567890123", "client_secret": "s3cret", "refresh_token": "TG-1",
                   "access_token": "APP_USR-valid", "user_id": "187654321",
                   "access_token_expires_at": (datetime.now(UTC) + timedelta(hours=5)).isoformat()}
    if site_id:
        credentials["site_id"] = site_id
    return MercadoLibreAdapter(credentials, ChannelOptions(), sleep=lambda _: None)


def order_of(adapter: MercadoLibreAdapter, order_name: str, shipment_name: str = "shipment-cross-docking-charged.json"):
    order = fixture(order_name)
    return adapter.parse_order(PulledOrder(external_id=str(order["id"]),
                                           raw={"order": order, "shipment": fixture(shipment_name),
                                                "billing_info": None}))


@pytest.fixture
def adapter():
    adapter = make_adapter()
    yield adapter
    adapter.close()


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


def test_mercado_libre_delivers_the_invoice_itself():
    assert MercadoLibreAdapter.invoice_delivery == InvoiceDelivery.CHANNEL


@pytest.mark.parametrize(("site_id", "shipment", "refused"), [
    (None, "shipment-cross-docking-charged.json", None),
    ("MCO", "shipment-fulfillment.json", None),
    ("MLB", "shipment-cross-docking-charged.json", "Mercado Livre Brasil no recibe facturas por esta vía."),
    ("MLC", "shipment-fulfillment.json", "Mercado Libre Chile no recibe facturas de paquetes Full por esta vía."),
    ("MLC", "shipment-cross-docking-charged.json", None),
    ("MLA", "shipment-fulfillment.json", None),
])
def test_the_site_and_full_decide_whether_the_invoice_can_be_attached(site_id, shipment, refused):
    adapter = make_adapter(site_id)
    assert adapter.invoice_delivery_refusal(order_of(adapter, "order-paid-with-variation.json", shipment)) == refused


@pytest.mark.parametrize("answer", [
    fixture("fiscal-documents-of-pack.json"),
    {"ids": ["61000000123"]},
    [{"id": 61000000123, "file_name": "factura.pdf"}],
], ids=["fiscal-documents-object", "ids-object", "plain-list"])
def test_fiscal_documents_reads_every_plausible_answer_of_the_pack(api, adapter, answer):
    route = api.get("/packs/2000004123458/fiscal_documents").respond(200, json=answer)
    assert adapter.fiscal_documents(order_of(adapter, "order-pack-two-items.json")) == ["61000000123"]
    assert route.calls.last.request.headers["Authorization"] == "Bearer APP_USR-valid"


def test_an_order_without_pack_uses_its_own_id_under_packs(api, adapter):
    order = order_of(adapter, "order-paid-with-variation.json")
    assert order.pack_id is None
    api.get(f"/packs/{order.external_id}/fiscal_documents").respond(404, json={
        "message": "Pack not found", "error": "not_found", "status": 404, "cause": []})
    assert adapter.fiscal_documents(order) == []


def test_upload_posts_the_pdf_as_the_fiscal_document_field(api, adapter):
    route = api.post("/packs/2000004123458/fiscal_documents").respond(
        201, json=fixture("fiscal-document-uploaded.json"))
    document_id = adapter.upload_fiscal_document(order_of(adapter, "order-pack-two-items.json"), PDF,
                                                 "factura-FEV1001.pdf")
    assert document_id == "61000000123"
    sent = route.calls.last.request
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = sent.content
    assert b'name="fiscal_document"; filename="factura-FEV1001.pdf"' in body
    assert b"Content-Type: application/pdf" in body and PDF in body


@pytest.mark.parametrize(("content", "message"), [
    (PDF + b"x" * (1024 * 1024), "1 MB"),
    (b"<html>no soy un pdf</html>", "no es un PDF"),
])
def test_what_mercado_libre_would_refuse_is_refused_before_sending(adapter, content, message):
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        with pytest.raises(PermanentRejection, match=message):
            adapter.upload_fiscal_document(order_of(adapter, "order-pack-two-items.json"), content, "f.pdf")
    assert not router.calls


@pytest.mark.parametrize("failure", [httpx.Response(503, json={"message": "unavailable", "error": "service_unavailable",
                                                               "status": 503, "cause": []}),
                                     httpx.ReadTimeout("slow"), httpx.Response(201, json={"ids": []})],
                         ids=["5xx", "timeout", "no-ids"])
def test_an_upload_is_never_sent_twice_blindly(api, adapter, failure):
    route = api.post("/packs/2000004123458/fiscal_documents").mock(side_effect=[failure])
    with pytest.raises(AmbiguousOutcome):
        adapter.upload_fiscal_document(order_of(adapter, "order-pack-two-items.json"), PDF, "f.pdf")
    assert route.call_count == 1


def test_a_second_document_is_refused_in_mercado_libres_words(api, adapter):
    api.post("/packs/2000004123458/fiscal_documents").respond(
        400, json=fixture("error-fiscal-document-already-uploaded.json"))
    with pytest.raises(PermanentRejection, match="already has a fiscal document"):
        adapter.upload_fiscal_document(order_of(adapter, "order-pack-two-items.json"), PDF, "f.pdf")


def test_a_pack_id_that_is_not_a_number_never_reaches_the_path(adapter):
    order = order_of(adapter, "order-pack-two-items.json").model_copy(update={"pack_id": "../users/me"})
    with pytest.raises(NotFound):
        adapter.fiscal_documents(order)
