"""AlegraAdapter after the invoice (strict respx mocks on documented shapes): e-invoice status and
reasons, stamping, PDF, e-mail, bank accounts, payments and contact updates."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from connector.errors import AmbiguousOutcome, InvalidPayload, NotFound, PermanentRejection
from erp.alegra.adapter import AlegraAdapter
from erp.alegra.documents import fetch_pdf
from erp.alegra.invoice_parsing import parse_invoice
from erp.base import ContactDraft, ERPOptions, InvoiceDraft, InvoiceLineDraft, LegalStatus, PaymentDraft

BASE = "https://alegra.test/api/v1"
CREDENTIALS = {"email": "facturacion@tiendacafetera.co", "token": "tok-5ecret-9f2c77", "country": "CO"}
FIXTURES = Path(__file__).parent / "fixtures" / "alegra"
PDF_URL = "https://storage.alegra.test/facturas/1203.pdf?Expires=1764500000&Signature=abc123"
SMALL_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def adapter():
    adapter = AlegraAdapter(CREDENTIALS, ERPOptions(base_url=BASE), sleep=lambda _s: None)
    adapter.requestor.jitter = lambda: 0.0
    yield adapter
    adapter.close()


# -- e-invoice status, reasons, balance, payments ----------------------------------------------------


@pytest.mark.parametrize(("stamp", "expected"), [
    (None, LegalStatus.NOT_ELECTRONIC),
    ({}, LegalStatus.NOT_ELECTRONIC),
    ({"legalStatus": "PENDING"}, LegalStatus.PENDING),
    ({"legalStatus": "STAMPED_AND_WAITING_RESPONSE", "cufe": "ab12"}, LegalStatus.PENDING),
    ({"legalStatus": "STAMPED_AND_ACCEPTED", "cufe": "ab12"}, LegalStatus.ACCEPTED),
    ({"legalStatus": "STAMPED_AND_ACCEPTED_WITH_OBSERVATIONS", "cufe": "ab12"}, LegalStatus.ACCEPTED_WITH_OBSERVATIONS),
    ({"legalStatus": "STAMPED_AND_REJECTED", "cufe": "ab12"}, LegalStatus.REJECTED),
    ({"legalStatus": "stamped_and_accepted"}, LegalStatus.ACCEPTED),
    ({"cufe": "ab12"}, LegalStatus.PENDING),  # stamped, status not told yet
])
def test_legal_status_follows_stamp_legal_status(stamp, expected):
    result = parse_invoice({"id": 1, "total": 10, "stamp": stamp})
    assert result.legal_status is expected
    assert result.stamp_status == (stamp or {}).get("legalStatus")


def test_an_unknown_legal_status_is_pending_and_logged(caplog):
    with caplog.at_level(logging.WARNING):
        result = parse_invoice({"id": 9, "total": 10, "stamp": {"legalStatus": "STAMPED_AND_SOMETHING_NEW"}})
    assert result.legal_status is LegalStatus.PENDING and not result.legal_status.is_final
    assert "STAMPED_AND_SOMETHING_NEW" in caplog.text


def test_get_invoice_keeps_every_reason_the_authority_gave(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/invoices/1207").respond(200, json=fixture("invoice-stamp-rejected-with-reasons.json"))
        result = adapter.get_invoice("1207")
    assert (result.erp_id, result.number, result.legal_status) == ("1207", "FEV1005", LegalStatus.REJECTED)
    assert result.cufe == "9c1f0b7e"
    assert result.legal_reasons == (
        "Regla FAK61: el adquiriente no tiene correo electrónico registrado.",
        "FAJ24: el dígito de verificación del NIT del adquiriente no es válido.",
        "Regla FAJ43b: nombre del adquiriente incompleto.",
        "Documento rechazado por la DIAN",
    )
    assert result.balance == Decimal("119000.00") and result.payments == ()
    assert result.raw["stamp"]["errors"]  # the raw answer stays


def test_get_invoice_reads_balance_and_payments_sent_as_numbers_or_strings(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/invoices/1203").respond(200, json=fixture("invoice-open-paid-with-pdf.json"))
        result = adapter.get_invoice("1203")
    assert result.legal_status is LegalStatus.ACCEPTED and result.balance == Decimal("0")
    assert [(p.erp_id, p.amount, p.date, p.account_id) for p in result.payments] == [
        ("31", Decimal("50000"), date(2026, 11, 2), "2"), ("32", Decimal("8800.00"), date(2026, 11, 4), "3")]
    assert result.emailed_to is None  # Alegra does not tell


def test_an_invoice_without_balance_has_none():
    assert parse_invoice({"id": 1, "total": 10}).balance is None


def test_a_non_numeric_id_never_reaches_a_path(adapter):
    with pytest.raises(NotFound):
        adapter.get_invoice("../company")
    assert adapter.calls == 0


# -- stamping: one POST, never re-sent ----------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    [{"id": 1204, "stamp": {"legalStatus": "STAMPED_AND_WAITING_RESPONSE", "cufe": "ab"}}],
    {"data": [{"id": "1204", "status": "open"}]},
    {"code": 200, "message": "Las facturas se están emitiendo"},
], ids=["list-of-invoices", "data-envelope", "message-only"])
def test_stamp_invoice_sends_the_id_once(adapter, answer):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices/stamp").respond(200, json=answer)
        adapter.stamp_invoice("1204")
    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content) == {"ids": [1204]}


@pytest.mark.parametrize("answer", [
    [{"id": 1204, "error": {"code": 3025, "message": "La resolución de numeración está vencida"}}],
    {"errors": [{"id": "1204", "message": "La resolución de numeración está vencida"}]},
    {"code": 400, "message": "La resolución de numeración está vencida"},
], ids=["error-in-list", "errors-envelope", "coded-message"])
def test_a_per_invoice_error_in_the_stamp_answer_is_a_rejection_in_alegras_words(adapter, answer):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/invoices/stamp").respond(200, json=answer)
        with pytest.raises(PermanentRejection, match="La resolución de numeración está vencida"):
            adapter.stamp_invoice("1204")


def test_an_error_for_another_invoice_is_not_this_ones(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/invoices/stamp").respond(200, json=[{"id": 1999, "error": "otra"}, {"id": 1204}])
        adapter.stamp_invoice("1204")


@pytest.mark.parametrize("failure", [httpx.Response(502, json={"message": "Bad gateway"}), httpx.ReadTimeout("slow")],
                         ids=["5xx", "timeout"])
def test_the_stamp_post_is_never_retried_on_an_ambiguous_failure(adapter, failure):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices/stamp").mock(side_effect=[failure])
        with pytest.raises(AmbiguousOutcome):
            adapter.stamp_invoice("1204")
    assert route.call_count == 1


def test_stamping_an_already_stamped_invoice_is_refused_with_alegras_message(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/invoices/stamp").respond(400, json={"message": "La factura ya fue emitida", "code": 3023})
        with pytest.raises(PermanentRejection, match="La factura ya fue emitida"):
            adapter.stamp_invoice("1204")


# -- PDF ---------------------------------------------------------------------------------------------


def test_invoice_pdf_url_asks_for_the_pdf_field(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/invoices/1203", params={"fields": "pdf"}).respond(
            200, json=fixture("invoice-open-paid-with-pdf.json"))
        assert adapter.invoice_pdf_url("1203") == PDF_URL
    assert route.call_count == 1


def test_download_invoice_pdf_sends_no_alegra_credentials_to_the_storage_link(adapter):
    with respx.mock(assert_all_called=True) as router:
        router.get(f"{BASE}/invoices/1203", params={"fields": "pdf"}).respond(
            200, json=fixture("invoice-open-paid-with-pdf.json"))
        storage = router.get(PDF_URL).respond(200, content=SMALL_PDF, headers={"Content-Type": "application/pdf"})
        document = adapter.download_invoice_pdf("1203")
    assert (document.content, document.filename, document.content_type) == (
        SMALL_PDF, "factura-FEV1001.pdf", "application/pdf")
    sent = storage.calls.last.request
    assert "Authorization" not in sent.headers
    assert CREDENTIALS["token"] not in str(sent.url) + str(dict(sent.headers))


def test_an_invoice_without_pdf_yet_is_not_found(adapter):
    raw = {k: v for k, v in fixture("invoice-open-paid-with-pdf.json").items() if k != "pdf"}
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/invoices/1203").respond(200, json=raw)
        assert adapter.invoice_pdf_url("1203") is None
        with pytest.raises(NotFound):
            adapter.download_invoice_pdf("1203")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://storage.alegra.test/1.pdf", "", "/relative.pdf"])
def test_a_pdf_link_that_is_not_http_is_refused_without_a_request(url):
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(InvalidPayload):
            fetch_pdf(url, timeout=2, allow_private_network=True)
    assert not router.calls


def test_a_pdf_over_the_cap_is_refused():
    with respx.mock(assert_all_called=True) as router:
        router.get(PDF_URL).respond(200, content=SMALL_PDF + b"x" * 2048)
        with pytest.raises(InvalidPayload, match="pesa más"):
            fetch_pdf(PDF_URL, timeout=2, allow_private_network=True, max_bytes=1024)


def test_what_is_not_a_pdf_is_refused_and_an_expired_link_is_not_found():
    with respx.mock(assert_all_called=True) as router:
        router.get(PDF_URL).mock(side_effect=[httpx.Response(200, content=b"<html>login</html>"),
                                              httpx.Response(403, content=b"expired")])
        with pytest.raises(InvalidPayload, match="no entregó un PDF"):
            fetch_pdf(PDF_URL, timeout=2, allow_private_network=True)
        with pytest.raises(NotFound):
            fetch_pdf(PDF_URL, timeout=2, allow_private_network=True)


def test_in_production_a_link_to_a_private_address_or_a_redirect_is_refused():
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(InvalidPayload, match="red privada"):
            fetch_pdf(PDF_URL, timeout=2, allow_private_network=False, resolve=lambda _h, _p: ["10.0.0.7"])
        with pytest.raises(InvalidPayload, match="red privada"):
            fetch_pdf("http://127.0.0.1:8702/x.pdf", timeout=2, allow_private_network=False,
                      resolve=lambda _h, _p: ["127.0.0.1"])
    assert not router.calls
    with respx.mock(assert_all_called=True) as router:
        router.get(PDF_URL).respond(302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
        with pytest.raises(InvalidPayload, match="redirige"):
            fetch_pdf(PDF_URL, timeout=2, allow_private_network=True)


# -- e-mail ------------------------------------------------------------------------------------------


def test_email_invoice_posts_the_addresses_once(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices/1203/email").mock(side_effect=[
            httpx.Response(200, json={"code": 200, "message": "La factura fue enviada"}),
            httpx.Response(503, json={"message": "Servicio no disponible"})])
        adapter.email_invoice("1203", ["camila@example.co", " "])
        with pytest.raises(AmbiguousOutcome):
            adapter.email_invoice("1203", ["camila@example.co"])
    assert json.loads(route.calls[0].request.content) == {"emails": ["camila@example.co"]}
    assert route.call_count == 2


def test_email_without_addresses_is_refused_before_sending(adapter):
    with pytest.raises(InvalidPayload):
        adapter.email_invoice("1203", [])
    assert adapter.calls == 0


# -- bank accounts, payment methods, payments --------------------------------------------------------


def test_bank_accounts_are_choices_with_their_type(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/bank-accounts").respond(200, json=fixture("bank-accounts.json"))
        accounts = adapter.list_bank_accounts()
    assert [(a.id, a.name, a.extra["type"]) for a in accounts] == [
        ("1", "Mercado Pago", "bank"), ("2", "Bancolombia Ahorros", "bank"), ("3", "Caja general", "cash")]
    assert route.calls.last.request.url.params["limit"] == "30"


def test_payment_methods_are_alegras_documented_codes_with_spanish_labels(adapter):
    methods = {c.id: c.name for c in adapter.payment_methods()}
    assert methods == {"cash": "Efectivo", "check": "Cheque", "transfer": "Transferencia", "deposit": "Consignación",
                       "credit-card": "Tarjeta de crédito", "debit-card": "Tarjeta débito"}
    assert adapter.calls == 0


def payment_draft(**changes) -> PaymentDraft:
    draft = PaymentDraft(marker="[ML-2000001234-P1]", date=date(2026, 11, 5), amount=Decimal("58800.00"),
                         account_id="2", method="transfer", invoice_erp_id="1203", contact_id="57")
    return replace(draft, **changes)


def test_create_payment_sends_money_in_against_the_invoice_with_the_marker(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/payments").respond(201, json=fixture("payment-created.json"))
        result = adapter.create_payment(payment_draft())
    assert json.loads(route.calls.last.request.content) == {
        "type": "in", "date": "2026-11-05", "bankAccount": {"id": 2}, "client": {"id": 57},
        "invoices": [{"id": 1203, "amount": "58800.00"}], "paymentMethod": "transfer",
        "observations": "[ML-2000001234-P1]",
    }
    assert (result.erp_id, result.amount, result.date, result.account_id) == (
        "77", Decimal("58800.00"), date(2026, 11, 5), "2")


@pytest.mark.parametrize("changes", [{"invoice_erp_id": None}, {"contact_id": None}, {"method": "bitcoin"},
                                     {"amount": Decimal("0")}])
def test_an_incomplete_payment_is_refused_before_sending(adapter, changes):
    with pytest.raises(InvalidPayload):
        adapter.create_payment(payment_draft(**changes))
    assert adapter.calls == 0


def test_a_payment_post_is_not_retried_on_a_timeout(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/payments").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(AmbiguousOutcome):
            adapter.create_payment(payment_draft())
    assert route.call_count == 1


def invoice_draft(**changes) -> InvoiceDraft:
    draft = InvoiceDraft(marker="[ML-1]", contact_id="57", issue_date=date(2026, 11, 2), due_date=date(2026, 11, 2),
                         lines=(InvoiceLineDraft("1", Decimal("1"), Decimal("28000"), tax_ids=("2",)),),
                         status="open", observations="[ML-1]")
    return replace(draft, **changes)


def test_an_inline_payment_rides_on_the_invoice(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices").respond(201, json=fixture("invoice-created.json"))
        adapter.create_invoice(invoice_draft(payment=payment_draft(invoice_erp_id=None, amount=Decimal("29400"))))
    sent = json.loads(route.calls.last.request.content)
    assert sent["status"] == "open"
    assert sent["payments"] == [{"date": "2026-11-05", "account": {"id": 2}, "amount": "29400",
                                 "paymentMethod": "transfer"}]


def test_a_draft_invoice_with_a_payment_is_refused(adapter):
    with pytest.raises(InvalidPayload, match="abierta"):
        adapter.create_invoice(invoice_draft(status="draft", payment=payment_draft(invoice_erp_id=None)))
    assert adapter.calls == 0


# -- contacts ----------------------------------------------------------------------------------------


def test_update_contact_puts_the_creation_body(adapter):
    contact = ContactDraft(name="Comercializadora Zapata S.A.S.", identification_type="NIT",
                           identification_number="900123456", dv="8", kind_of_person="LEGAL_ENTITY",
                           email="compras@zapata.co")
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        created = router.post("/contacts").respond(201, json={"id": 62})
        updated = router.put("/contacts/62").mock(side_effect=[httpx.Response(503, json={"message": "ocupado"}),
                                                               httpx.Response(200, json={"id": 62})])
        adapter.create_contact(contact)
        adapter.update_contact("62", contact)
    assert updated.call_count == 2  # a PUT of the same data is safe to repeat
    assert json.loads(updated.calls.last.request.content) == json.loads(created.calls.last.request.content)
