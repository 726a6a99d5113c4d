"""The Siigo sandbox speaks Siigo's documented wire format, and the real adapter works against it:
token and Partner-Id, pages of 25, the error envelope, the 100/min window, totals that must add up,
the Idempotency-Key, and an invoice's whole life (customer, invoice, marker search, receipt, note)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from connector.errors import InvalidCredentials, PermanentRejection, RateLimited
from erp.base import (
    ContactDraft,
    CreditNoteDraft,
    ERPOptions,
    InvoiceDraft,
    InvoiceLineDraft,
    LegalStatus,
    PaymentDraft,
)
from erp.siigo.adapter import SiigoAdapter
from erp.siigo.client import PARTNER_ID
from sandbox.catalog import BOGOTA
from sandbox.knobs import Knobs
from sandbox.siigo import SiigoState, create_app

USER, KEY = "api@tiendacafetera.co", "c2FuZGJveC1rZXktdGVzdA=="


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        return None


@dataclass
class Served:
    state: SiigoState
    knobs: Knobs
    url: str

    def adapter(self, *, key: str = KEY) -> SiigoAdapter:
        return SiigoAdapter({"username": USER, "access_key": key}, ERPOptions(base_url=self.url, timeout=5.0),
                            sleep=lambda _s: None)

    def token(self) -> str:
        answer = httpx.post(f"{self.url}/auth", json={"username": USER, "access_key": KEY},
                            headers={"Partner-Id": PARTNER_ID})
        return answer.json()["access_token"]


@pytest.fixture
def served() -> Iterator[Served]:
    state, knobs = SiigoState.seeded(users={USER: KEY}), Knobs(rate_limit_per_minute=0)
    server = make_server("127.0.0.1", 0, create_app(state, knobs), threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Served(state, knobs, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()


def test_every_call_needs_partner_id_and_a_live_token(served):
    no_partner = httpx.get(f"{served.url}/v1/taxes")
    assert no_partner.status_code == 400 and no_partner.json()["Errors"][0]["Code"] == "header_required"
    no_token = httpx.get(f"{served.url}/v1/taxes", headers={"Partner-Id": PARTNER_ID})
    assert no_token.status_code == 401 and no_token.json()["Errors"][0]["Code"] == "unauthorized"
    token = served.token()
    ok = httpx.get(f"{served.url}/v1/taxes", headers={"Partner-Id": PARTNER_ID, "Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and isinstance(ok.json(), list)


def test_wrong_access_key_is_refused_and_an_expired_token_is_renewed(served):
    with pytest.raises(InvalidCredentials):
        served.adapter(key="clave-equivocada").validate_credentials()
    adapter = served.adapter()
    adapter.validate_credentials()
    served.state.expire_tokens()  # the day is over on Siigo's side
    assert adapter.list_warehouses()
    assert served.state.tokens_issued == 2


def test_lists_come_in_pages_of_25(served):
    headers = {"Partner-Id": PARTNER_ID, "Authorization": f"Bearer {served.token()}"}
    first = httpx.get(f"{served.url}/v1/products", headers=headers).json()
    assert first["pagination"] == {"page": 1, "page_size": 25, "total_results": len(served.state.products)}
    assert len(first["results"]) == min(25, len(served.state.products))
    assert len(list(served.adapter().iter_items())) == len(served.state.products)


def test_the_window_answers_429_requests_limit(served):
    served.knobs.rate_limit_per_minute = 2
    headers = {"Partner-Id": PARTNER_ID, "Authorization": f"Bearer {served.token()}"}
    answers = [httpx.get(f"{served.url}/v1/taxes", headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["Errors"][0]["Code"] == "requests_limit"
    adapter = served.adapter()
    adapter.requestor.max_attempts = 1
    with pytest.raises(RateLimited):
        adapter.list_warehouses()


def _invoice(served: Served, **over) -> InvoiceDraft:
    today = datetime.now(BOGOTA).date()
    fields = dict(marker="[CX-9-777]", contact_id="1020304050", issue_date=today, due_date=today, stamp=True,
                  status="open", observations="Pedido 777 [CX-9-777]",
                  lines=(InvoiceLineDraft(item_id="CAF-HUI-500", quantity=Decimal(2), unit_price=Decimal("28000"),
                                          tax_ids=("13157",)),
                         InvoiceLineDraft(item_id="ENVIO", quantity=Decimal(1), unit_price=Decimal("8403.361345"),
                                          tax_ids=("13156",))))
    return InvoiceDraft(**(fields | over))


def test_an_invoice_lives_its_whole_life_against_the_sandbox(served):
    adapter = served.adapter()
    contact = adapter.create_contact(ContactDraft(name="Laura Gómez", identification_type="CC",
                                                  identification_number="1020304050", email="laura@correo.co",
                                                  city="Cali"))
    assert adapter.find_contact("1020304050") == contact == "1020304050"
    assert adapter.find_contact("102030") is None  # the sandbox matches by contains; only equal counts
    created = adapter.create_invoice(_invoice(served))
    # 2 × 28 000 + 5 % = 58 800; 8 403.36 + 19 % (1 596.64) = 10 000.00
    assert created.total == Decimal("68800") and created.balance == created.total  # owed until paid
    assert created.legal_status is LegalStatus.ACCEPTED and created.cufe
    again = adapter.find_invoice_by_marker("[CX-9-777]", contact_id=contact, around=datetime.now(BOGOTA).date())
    assert again is not None and again.erp_id == created.erp_id
    assert adapter.download_invoice_pdf(created.erp_id).content.startswith(b"%PDF-")
    adapter.email_invoice(created.erp_id, ["laura@correo.co"])
    assert served.state.records()["emails"][created.erp_id] == [["laura@correo.co"]]
    note = adapter.create_credit_note(CreditNoteDraft(
        marker="[CX-9-777]-nc1", contact_id=contact, invoice_erp_id=created.erp_id,
        issue_date=datetime.now(BOGOTA).date(), lines=(_invoice(served).lines[0],), amount=Decimal("58800"),
        note_type="1", stamp=True))
    assert note.total == Decimal("58800") and note.invoice_erp_ids == (created.erp_id,)
    found = adapter.find_credit_note_by_marker("[CX-9-777]-nc1", contact_id=contact, around=datetime.now(BOGOTA).date())
    assert found is not None and found.erp_id == note.erp_id


def test_a_credit_invoice_is_paid_later_by_a_cash_receipt(served):
    adapter = served.adapter()
    adapter.create_contact(ContactDraft(name="Tienda Uno SAS", identification_type="NIT", kind_of_person="LEGAL_ENTITY",
                                        identification_number="900123456", dv="1"))
    created = adapter.create_invoice(_invoice(served, contact_id="900123456", payment_form="CREDIT", stamp=False))
    assert created.balance == created.total and created.payments == ()
    mercado_pago = next(b for b in adapter.list_bank_accounts() if b.name == "Mercado Pago")
    receipt = adapter.create_payment(PaymentDraft(marker="[CX-9-777]-pago", date=datetime.now(BOGOTA).date(),
                                                  amount=created.total, account_id=mercado_pago.id, method="transfer",
                                                  invoice_erp_id=created.erp_id))
    assert receipt.amount == created.total
    assert adapter.get_invoice(created.erp_id).balance == 0


def test_payments_must_add_up_and_the_idempotency_key_returns_the_first_invoice(served):
    adapter = served.adapter()
    adapter.create_contact(ContactDraft(name="Ana Ruiz", identification_type="CC", identification_number="52111222"))
    headers = {"Partner-Id": PARTNER_ID, "Authorization": f"Bearer {served.token()}", "Idempotency-Key": "abc123"}
    body = {"document": {"id": 24447}, "date": datetime.now(BOGOTA).date().isoformat(), "seller": 629,
            "customer": {"identification": "52111222"}, "items": [{"code": "PAN-ORG-1K", "quantity": 1,
                                                                   "price": 9800}],
            "payments": [{"id": 5638, "value": 9000}]}
    wrong = httpx.post(f"{served.url}/v1/invoices", json=body, headers=headers)
    assert wrong.status_code == 400 and wrong.json()["Errors"][0]["Code"] == "invalid_total_payments"
    body["payments"][0]["value"] = 9800
    first = httpx.post(f"{served.url}/v1/invoices", json=body, headers=headers).json()
    second = httpx.post(f"{served.url}/v1/invoices", json=body, headers=headers).json()
    assert first["id"] == second["id"] and len(served.state.invoices) == 1
    with pytest.raises(PermanentRejection) as caught:  # an unknown product: Siigo's words reach the seller
        adapter.create_invoice(_invoice(served, contact_id="52111222", lines=(InvoiceLineDraft(
            item_id="NO-EXISTE", quantity=Decimal(1), unit_price=Decimal(1000)),)))
    assert "NO-EXISTE" in caught.value.user_message
