"""The Siigo adapter against Siigo's documented wire format (respx): token, Partner-Id, pages of 25, the
error envelope, invoices with payments that add up, marker search, and what Siigo does not offer."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal

import httpx
import pytest
import respx

from connector.errors import (
    AmbiguousOutcome,
    FeatureNotAvailable,
    InvalidCredentials,
    NotFound,
    PermanentRejection,
    RateLimited,
    TransientError,
)
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
from erp.siigo.payloads import idempotency_key

BASE = "https://siigo.test"
USER = "api@tiendacafetera.co"
KEY = "NDllMzI0NmEtNjExZC00NGM3LWE3OTQ="
INVOICE_ID = "63f918c2-ca65-4edc-a7db-66bcdd5159fb"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def adapter(clock):
    a = SiigoAdapter({"username": USER, "access_key": KEY}, ERPOptions(base_url=BASE), sleep=clock.sleep, clock=clock)
    yield a
    a.close()


def token(value: str = "tok-1", expires_in: int = 86400) -> httpx.Response:
    return httpx.Response(201, json={"access_token": value, "expires_in": expires_in, "token_type": "Bearer",
                                     "scope": "SiigoAPI"})


def siigo_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"Status": status, "Errors": [{"Code": code, "Message": message,
                                                                      "Params": [], "Detail": "docs"}]})


def page(results: list, *, page_number: int = 1, total: int | None = None) -> dict:
    return {"pagination": {"page": page_number, "page_size": 25, "total_results": len(results) if total is None
                           else total}, "results": results, "_links": {}}


CATALOG = {
    "/v1/document-types": [{"id": 24446, "code": "1", "name": "Factura", "type": "FV", "active": True,
                            "discount_type": "Value", "electronic_type": "ElectronicInvoice"}],
    "/v1/payment-types": [{"id": 5636, "name": "Crédito", "type": "Cartera", "active": True, "due_date": True},
                          {"id": 5638, "name": "Efectivo", "type": "Cartera", "active": True, "due_date": False}],
    "/v1/taxes": [{"id": 13156, "name": "IVA 19%", "type": "IVA", "percentage": 19, "active": True}],
    "/v1/users": [{"id": 629, "username": USER, "first_name": "Ana", "last_name": "Ríos", "active": True}],
}


def mock_catalog(router: respx.Router) -> None:
    router.post(f"{BASE}/auth").mock(return_value=token())
    for path, body in CATALOG.items():
        router.get(f"{BASE}{path}").mock(return_value=httpx.Response(200, json=body))


def invoice_body(**over) -> dict:
    body = {"id": INVOICE_ID, "document": {"id": 24446}, "number": 22, "name": "FV-1-22", "date": "2026-11-30",
            "customer": {"id": "6b6c", "identification": "13832081", "branch_office": 0}, "total": 119000,
            "balance": 0, "seller": 629, "observations": "Pedido 123 [CX-1-123]",
            "payments": [{"id": 5638, "name": "Efectivo", "value": 119000}],
            "stamp": {"status": "Accepted", "cufe": "7eb8c882cd", "observations": "", "errors": ""}}
    return body | over


def draft(**over) -> InvoiceDraft:
    fields = dict(marker="[CX-1-123]", contact_id="13832081", issue_date=date(2026, 11, 30),
                  due_date=date(2026, 12, 30), observations="Pedido 123 [CX-1-123]", stamp=True, status="open",
                  lines=(InvoiceLineDraft(item_id="CAFE-500", quantity=Decimal(2), unit_price=Decimal("50000"),
                                          discount_percent=Decimal(0), tax_ids=("13156",), description="Café"),))
    return InvoiceDraft(**(fields | over))


def test_token_is_asked_once_with_partner_id_and_sent_as_bearer(adapter):
    with respx.mock(assert_all_called=True) as router:
        auth = router.post(f"{BASE}/auth").mock(return_value=token("tok-abc"))
        users = router.get(f"{BASE}/v1/users").mock(return_value=httpx.Response(200, json=CATALOG["/v1/users"]))
        info = adapter.validate_credentials()
        router.get(f"{BASE}/v1/warehouses").mock(return_value=httpx.Response(200, json=[
            {"id": 1270, "name": "Bodega principal", "active": True}, {"id": 1271, "name": "Vieja", "active": False}]))
        warehouses = adapter.list_warehouses()
    assert auth.call_count == 1
    sent = json.loads(auth.calls[0].request.content)
    assert sent == {"username": USER, "access_key": KEY}
    assert auth.calls[0].request.headers["Partner-Id"] == PARTNER_ID
    assert users.calls[0].request.headers["Authorization"] == "Bearer tok-abc"
    assert users.calls[0].request.headers["Partner-Id"] == PARTNER_ID
    assert info.remote_id == USER and info.extra["seller_id"] == "629"
    assert [w.name for w in warehouses] == ["Bodega principal"]


def test_token_is_renewed_after_24_hours_and_on_a_401(adapter, clock):
    with respx.mock(assert_all_called=True) as router:
        auth = router.post(f"{BASE}/auth").mock(side_effect=[token("t1"), token("t2"), token("t3")])
        taxes = router.get(f"{BASE}/v1/taxes").mock(side_effect=[
            httpx.Response(200, json=[]), httpx.Response(200, json=[]),
            siigo_error(401, "unauthorized", "Token vencido"), httpx.Response(200, json=[])])
        adapter.requestor.get("/v1/taxes")
        clock.now += 24 * 3600  # the token's day is over
        adapter.requestor.get("/v1/taxes")
        adapter.requestor.get("/v1/taxes")  # revoked early: one new token, one repeat
    assert auth.call_count == 3
    assert [c.request.headers["Authorization"] for c in taxes.calls] == [
        "Bearer t1", "Bearer t2", "Bearer t2", "Bearer t3"]


def test_refused_credentials_say_so_in_siigos_words_without_the_key(adapter):
    with respx.mock() as router:
        router.post(f"{BASE}/auth").mock(return_value=siigo_error(401, "unauthorized",
                                                                  f"Credenciales inválidas {KEY}"))
        with pytest.raises(InvalidCredentials) as caught:
            adapter.validate_credentials()
    assert "Siigo rechazó las credenciales" in caught.value.user_message
    assert KEY not in caught.value.user_message and KEY not in (caught.value.detail or "")


@pytest.mark.parametrize(("status", "code", "idempotent", "error"), [
    (400, "parameter_required", False, PermanentRejection),
    (404, "not_found", True, NotFound),
    (429, "requests_limit", False, RateLimited),
    (500, "unhandled_error", False, AmbiguousOutcome),
    (408, "request_timeout", False, AmbiguousOutcome),
    (503, "service_unavailable", True, TransientError),
    (400, "documents_service", False, TransientError),  # a service of Siigo's is down: nothing happened
])
def test_each_answer_becomes_the_right_error(adapter, status, code, idempotent, error):
    adapter.requestor.max_attempts = 1
    with respx.mock() as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.route(path="/v1/thing").mock(return_value=siigo_error(status, code, "El campo code es requerido"))
        with pytest.raises(error) as caught:
            adapter.requestor.request("POST", "/v1/thing", json={}, idempotent=idempotent)
    assert type(caught.value) is error
    if status == 400 and code == "parameter_required":
        assert "El campo code es requerido" in caught.value.user_message


def test_a_429_tells_the_shared_window_it_is_spent():
    from erp.siigo.client import read_window
    reading = read_window(httpx.Response(429, headers={"Retry-After": "7"}))
    assert reading.spent and reading.reset_seconds == 7
    assert read_window(httpx.Response(200)) is None


def test_catalog_reads_every_page_of_25_with_code_and_barcode(adapter):
    first = [{"id": f"uuid-{i}", "code": f"SKU-{i}", "name": f"Producto {i}", "type": "Product", "active": True,
              "taxes": [{"id": 13156, "name": "IVA 19%", "type": "IVA", "percentage": 19}],
              "prices": [{"currency_code": "COP", "price_list": [{"position": 1, "name": "Precio", "value": 1000}]}],
              "additional_fields": {"barcode": f"770{i:04d}"}} for i in range(25)]
    second = [{"id": "uuid-x", "code": "SERV-1", "name": "Instalación", "type": "Service", "active": False}]
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        products = router.get(f"{BASE}/v1/products").mock(side_effect=[
            httpx.Response(200, json=page(first, total=26)), httpx.Response(200, json=page(second, page_number=2,
                                                                                            total=26))])
        items = list(adapter.iter_items())
    assert [c.request.url.params["page"] for c in products.calls] == ["1", "2"]
    assert {c.request.url.params["page_size"] for c in products.calls} == {"25"}
    assert len(items) == 26
    assert items[0].erp_id == "SKU-0" and items[0].reference == "SKU-0" and items[0].barcodes == ("7700000",)
    assert items[0].tax_ids == ("13156",) and items[0].tax_rate == 19 and items[0].prices == {"1": 1000}
    assert items[-1].kind == "service" and items[-1].active is False


def test_contacts_are_found_by_exact_identification_and_created_with_siigos_fields(adapter):
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/customers").mock(return_value=httpx.Response(200, json=page(
            [{"id": "c1", "identification": "138320819", "name": ["Otro"]}])))
        create = router.post(f"{BASE}/v1/customers").mock(return_value=httpx.Response(201, json={"id": "c2"}))
        assert adapter.find_contact("13832081") is None  # Siigo may match by contains: only equal counts
        contact_id = adapter.create_contact(ContactDraft(
            name="Marcos Castillo", identification_type="CC", identification_number="13832081",
            kind_of_person="PERSON_ENTITY", email="marcos@correo.co", phone="+57 300 600 3345", city="Medellín"))
    assert contact_id == "13832081"
    body = json.loads(create.calls[0].request.content)
    assert body["person_type"] == "Person" and body["id_type"] == "13" and body["name"] == ["Marcos", "Castillo"]
    assert body["address"]["city"] == {"country_code": "Co", "state_code": "05", "city_code": "05001"}
    assert body["contacts"][0]["email"] == "marcos@correo.co" and body["phones"] == [{"number": "5730060033"}]


def test_invoice_payments_add_up_to_siigos_total_and_carry_the_marker_and_key(adapter):
    with respx.mock(assert_all_called=True) as router:
        mock_catalog(router)
        create = router.post(f"{BASE}/v1/invoices").mock(return_value=httpx.Response(201, json=invoice_body()))
        result = adapter.create_invoice(draft())
    request = create.calls[0].request
    body = json.loads(request.content)
    assert request.headers["Idempotency-Key"] == idempotency_key("[CX-1-123]")
    assert len(request.headers["Idempotency-Key"]) == 30 and request.headers["Idempotency-Key"].isalnum()
    assert body["document"] == {"id": 24446} and body["seller"] == 629
    assert body["customer"] == {"identification": "13832081", "branch_office": 0}
    assert body["items"] == [{"code": "CAFE-500", "quantity": 2, "price": 50000, "description": "Café",
                              "taxes": [{"id": 13156}]}]
    # 100 000 + 19 % IVA, owed until its payment is recorded (a form with a due date)
    assert body["payments"] == [{"id": 5636, "value": 119000.0, "due_date": "2026-12-30"}]
    assert "[CX-1-123]" in body["observations"] and body["stamp"] == {"send": True}
    assert result.erp_id == INVOICE_ID and result.number == "FV-1-22" and result.total == 119000
    assert result.legal_status is LegalStatus.ACCEPTED and result.cufe == "7eb8c882cd"


def test_an_invoice_paid_with_it_uses_the_payments_form_and_owes_nothing(adapter):
    paid = PaymentDraft(marker="[CX-1-123]-pago", date=date(2026, 11, 30), amount=Decimal(119000),
                        account_id="5638", method="cash")
    with respx.mock(assert_all_called=True) as router:
        mock_catalog(router)
        create = router.post(f"{BASE}/v1/invoices").mock(return_value=httpx.Response(201, json=invoice_body()))
        result = adapter.create_invoice(draft(payment=paid))
    payment = json.loads(create.calls[0].request.content)["payments"][0]
    assert payment == {"id": 5638, "value": 119000.0}
    assert result.balance == 0 and [p.amount for p in result.payments] == [119000]


def test_without_a_recorded_payment_the_invoice_stays_owed(adapter):
    with respx.mock(assert_all_called=True) as router:
        mock_catalog(router)
        router.post(f"{BASE}/v1/invoices").mock(return_value=httpx.Response(
            201, json=invoice_body(balance=119000, payments=[{"id": 5636, "name": "Crédito", "value": 119000}])))
        result = adapter.create_invoice(draft(payment_form="CASH"))
    assert result.balance == 119000 and result.payments == ()  # nothing was paid yet


def test_an_ambiguous_invoice_is_found_again_by_its_marker(adapter):
    with respx.mock(assert_all_called=True) as router:
        mock_catalog(router)
        router.post(f"{BASE}/v1/invoices").mock(side_effect=httpx.ReadTimeout("lost"))
        search = router.get(f"{BASE}/v1/invoices").mock(return_value=httpx.Response(200, json=page([
            invoice_body(id="other-id", observations="[CX-1-12]"), invoice_body()])))
        with pytest.raises(AmbiguousOutcome):
            adapter.create_invoice(draft())
        found = adapter.find_invoice_by_marker("[CX-1-123]", contact_id="13832081", around=date(2026, 11, 30))
    assert found is not None and found.erp_id == INVOICE_ID
    params = search.calls[0].request.url.params
    assert (params["date_start"], params["date_end"]) == ("2026-11-29", "2026-12-01")
    assert params["customer_identification"] == "13832081"


def test_stamping_an_existing_invoice_is_declared_unsupported_not_faked(adapter):
    with respx.mock() as router:
        with pytest.raises(FeatureNotAvailable) as caught:
            adapter.stamp_invoice(INVOICE_ID)
    assert not router.calls
    assert "Siigo Nube" in caught.value.user_message


def test_rejected_invoice_reads_the_dian_reasons_and_pdf_and_email_follow_the_docs(adapter):
    pdf = b"%PDF-1.4 factura"
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/invoices/{INVOICE_ID}").mock(return_value=httpx.Response(
            200, json=invoice_body(stamp={"status": "Rejected", "cufe": None, "errors": ""})))
        router.get(f"{BASE}/v1/invoices/{INVOICE_ID}/stamp/errors").mock(return_value=httpx.Response(
            200, json={"id": INVOICE_ID, "errors": [{"message": "NIT del adquirente no válido"}]}))
        router.get(f"{BASE}/v1/invoices/{INVOICE_ID}/pdf").mock(return_value=httpx.Response(
            200, json={"id": INVOICE_ID, "base64": base64.b64encode(pdf).decode()}))
        mail = router.post(f"{BASE}/v1/invoices/{INVOICE_ID}/mail").mock(return_value=httpx.Response(
            201, json={"status": "sent", "observations": ""}))
        seen = adapter.get_invoice(INVOICE_ID)
        document = adapter.download_invoice_pdf(INVOICE_ID)
        adapter.email_invoice(INVOICE_ID, ["a@x.co", "b@x.co", "c@x.co"])
    assert seen.legal_status is LegalStatus.REJECTED and seen.legal_reasons == ("NIT del adquirente no válido",)
    assert seen.emailed_to is None  # Siigo does not tell: the core never repeats an uncertain e-mail
    assert document.content == pdf and adapter.invoice_pdf_url(INVOICE_ID) is None
    assert json.loads(mail.calls[0].request.content) == {"mail_to": "a@x.co", "copy_to": "b@x.co;c@x.co"}


def test_a_payment_is_a_cash_receipt_against_the_invoice_instalment(adapter):
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/invoices/{INVOICE_ID}").mock(return_value=httpx.Response(
            200, json=invoice_body(balance=119000)))
        router.get(f"{BASE}/v1/document-types").mock(return_value=httpx.Response(200, json=[
            {"id": 7714, "code": "1", "name": "Recibo", "type": "RC", "active": True}]))
        voucher = router.post(f"{BASE}/v1/vouchers").mock(return_value=httpx.Response(201, json={
            "id": "v-1", "name": "RC-1-3", "date": "2026-12-01", "payment": {"id": 5638, "value": 119000}}))
        result = adapter.create_payment(PaymentDraft(marker="[CX-1-123]-pago", date=date(2026, 12, 1),
                                                     amount=Decimal("119000"), account_id="5638", method="cash",
                                                     invoice_erp_id=INVOICE_ID))
    body = json.loads(voucher.calls[0].request.content)
    assert body["type"] == "DebtPayment" and body["document"] == {"id": 7714}
    assert body["items"][0]["due"] == {"prefix": "FV-1", "consecutive": 22, "quote": 1, "date": "2026-12-01"}
    assert body["payment"] == {"id": 5638, "value": 119000.0} and "[CX-1-123]-pago" in body["observations"]
    assert result.erp_id == "v-1" and result.amount == 119000


def test_a_credit_note_names_the_invoice_the_dian_reason_and_pays_back_with_its_form(adapter):
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/auth").mock(return_value=token())
        router.get(f"{BASE}/v1/invoices/{INVOICE_ID}").mock(return_value=httpx.Response(200, json=invoice_body()))
        router.get(f"{BASE}/v1/taxes").mock(return_value=httpx.Response(200, json=CATALOG["/v1/taxes"]))
        router.get(f"{BASE}/v1/payment-types").mock(return_value=httpx.Response(
            200, json=CATALOG["/v1/payment-types"]))
        router.get(f"{BASE}/v1/document-types").mock(return_value=httpx.Response(200, json=[
            {"id": 77775, "code": "1", "name": "Nota crédito", "type": "NC", "active": True}]))
        note = router.post(f"{BASE}/v1/credit-notes").mock(return_value=httpx.Response(201, json={
            "id": "nc-1", "name": "NC-1-4", "total": 59500, "invoice": {"id": INVOICE_ID, "name": "FV-1-22"},
            "observations": "[CX-1-123]-nc1", "stamp": {"status": "Accepted", "cude": "abc"}}))
        result = adapter.create_credit_note(CreditNoteDraft(
            marker="[CX-1-123]-nc1", contact_id="13832081", invoice_erp_id=INVOICE_ID, issue_date=date(2026, 12, 2),
            lines=(InvoiceLineDraft(item_id="CAFE-500", quantity=Decimal(1), unit_price=Decimal(50000),
                                    tax_ids=("13156",)),), amount=Decimal(59500), note_type="1", stamp=True))
    body = json.loads(note.calls[0].request.content)
    assert body["invoice"] == INVOICE_ID and body["reason"] == 1 and body["document"] == {"id": 77775}
    assert body["payments"] == [{"id": 5638, "value": 59500.0}]
    assert result.invoice_erp_ids == (INVOICE_ID,) and result.legal_status is LegalStatus.ACCEPTED
    assert {c.extra.get("use") for c in adapter.credit_note_types()} >= {"full", "partial", "reduction"}
