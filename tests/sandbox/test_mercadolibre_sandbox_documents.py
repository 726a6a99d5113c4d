"""The Mercado Libre sandbox's fiscal documents over loopback HTTP, driven by the real adapter."""

from __future__ import annotations

import httpx
import pytest

from channels.base import ChannelOptions
from channels.mercadolibre.adapter import MercadoLibreAdapter
from connector.errors import AmbiguousOutcome, PermanentRejection
from erp.alegra.adapter import AlegraAdapter
from erp.base import ERPOptions
from sandbox import server
from sandbox.pdf import minimal_pdf
from tests.sandbox.conftest import adapter_for
from tests.sandbox.test_alegra_sandbox import sale_draft

PDF = minimal_pdf(["Factura electronica de venta FEV1001"])


def first_order(state, *, packed: bool) -> int:
    return next(order_id for order_id in state.order_ids() if (state.order(order_id)["pack_id"] is None) != packed)


@pytest.fixture
def ml(sandbox):
    state, knobs, url = sandbox
    adapter = adapter_for(url)
    yield state, knobs, url, adapter
    adapter.close()


def order_for(adapter, order_id: int):
    return adapter.parse_order(adapter.fetch_order(str(order_id)))


def raw_upload(url: str, adapter, pack_id: str, content: bytes):
    headers = {"Authorization": f"Bearer {adapter.client.auth.access_token()}"}
    return httpx.post(f"{url}/packs/{pack_id}/fiscal_documents", headers=headers,
                      files={"fiscal_document": ("factura.pdf", content, "application/pdf")})


def test_one_document_per_pack_then_delete_and_upload_again(ml):
    state, _, url, adapter = ml
    order = order_for(adapter, first_order(state, packed=True))
    assert order.pack_id and adapter.fiscal_documents(order) == []
    document_id = adapter.upload_fiscal_document(order, PDF, "factura-FEV1001.pdf")
    assert adapter.fiscal_documents(order) == [document_id]
    with pytest.raises(PermanentRejection, match="already has a fiscal document"):
        adapter.upload_fiscal_document(order, PDF, "factura-FEV1001.pdf")

    headers = {"Authorization": f"Bearer {adapter.client.auth.access_token()}"}
    deleted = httpx.delete(f"{url}/packs/{order.pack_id}/fiscal_documents/{document_id}", headers=headers)
    assert deleted.status_code == 200 and adapter.fiscal_documents(order) == []
    again = adapter.upload_fiscal_document(order, PDF, "factura-FEV1001.pdf")
    uploads = state.fiscal_documents.uploads_for(order.pack_id)
    assert [(u["id"], u["deleted"], u["file_name"]) for u in uploads] == [
        (document_id, True, "factura-FEV1001.pdf"), (again, False, "factura-FEV1001.pdf")]


def test_an_order_without_pack_is_its_own_pack(ml):
    state, _, _, adapter = ml
    order = order_for(adapter, first_order(state, packed=False))
    assert order.pack_id is None
    document_id = adapter.upload_fiscal_document(order, PDF, "f.pdf")
    assert state.fiscal_documents.current(order.external_id)[0]["id"] == document_id


@pytest.mark.parametrize(("content", "message"), [
    (PDF + b"0" * (1024 * 1024), "maximum size of 1 MB"),
    (b"PK\x03\x04 a zip, not a pdf", "Only PDF or XML"),
])
def test_what_mercado_libre_refuses_is_a_400_in_its_envelope(ml, content, message):
    state, _, url, adapter = ml
    answer = raw_upload(url, adapter, str(first_order(state, packed=False)), content)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request" and message in answer.json()["message"]
    assert answer.json()["cause"] == [] and state.fiscal_documents.records() == {}


def test_an_unknown_pack_is_404_and_brazil_takes_no_documents(ml):
    state, _, url, adapter = ml
    assert raw_upload(url, adapter, "1", PDF).status_code == 404
    state.site_id = "MLB"
    refused = raw_upload(url, adapter, str(first_order(state, packed=False)), PDF)
    assert refused.status_code == 400 and "not available for this site" in refused.json()["message"]


def test_a_dropped_answer_after_the_upload_is_ambiguous_and_the_listing_settles_it(ml):
    state, knobs, _, adapter = ml
    order = order_for(adapter, first_order(state, packed=True))
    knobs.update({"error_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.upload_fiscal_document(order, PDF, "f.pdf")
    knobs.update({"error_rate": 0.0, "reset_after_commit_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.upload_fiscal_document(order, PDF, "f.pdf")
    knobs.update({"reset_after_commit_rate": 0.0})
    attached = adapter.fiscal_documents(order)
    assert len(attached) == 1 and len(state.fiscal_documents.uploads_for(order.pack_id)) == 1


def test_the_records_are_served_for_a_sandbox_in_another_process(ml):
    state, _, url, adapter = ml
    order = order_for(adapter, first_order(state, packed=True))
    adapter.upload_fiscal_document(order, PDF, "f.pdf")
    answer = httpx.get(f"{url}/_sandbox/records").json()
    assert answer == {"fiscal_documents": state.fiscal_documents.records()}
    assert list(answer["fiscal_documents"]) == [order.pack_id]


def test_the_pdf_alegra_serves_is_what_mercado_libre_takes():
    """Both sandboxes together, as the connector will use them: Alegra's PDF attached to the ML pack."""
    with server.Sandbox(order_count=4) as box:
        box.alegra_knobs.update({"stamp_answer_delay": 0.0})
        alegra = AlegraAdapter({"email": server.ALEGRA_EMAIL, "token": server.ALEGRA_TOKEN},
                               ERPOptions(base_url=box.alegra_url), sleep=lambda _: None)
        ml = MercadoLibreAdapter({"client_id": server.ML_CLIENT_ID, "client_secret": server.ML_CLIENT_SECRET,
                                  "refresh_token": server.ML_REFRESH_TOKEN}, ChannelOptions(base_url=box.ml_url),
                                 sleep=lambda _: None)
        invoice = alegra.create_invoice(sale_draft("1", "[ML-600]"))
        document = alegra.download_invoice_pdf(invoice.erp_id)
        order = ml.parse_order(ml.fetch_order(str(box.ml_state.order_ids()[0])))
        document_id = ml.upload_fiscal_document(order, document.content, document.filename)
        assert ml.fiscal_documents(order) == [document_id]
        assert box.ml_state.fiscal_documents.uploads_for(order.pack_id or order.external_id)[0]["file_name"] == \
            "factura-FEV1001.pdf"
        alegra.close()
        ml.close()
