"""The Alegra sandbox after the invoice, over loopback HTTP and driven by the real AlegraAdapter:
the e-invoice lifecycle (waiting → accepted / rejected with DIAN's reasons, re-stamp after a fix),
the PDF link, e-mails, bank accounts, payments, and the write faults on each new endpoint."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest

from connector.errors import AmbiguousOutcome, NotFound, PermanentRejection
from erp.alegra.documents import fetch_pdf
from erp.base import ContactDraft, LegalStatus, PaymentDraft
from sandbox.alegra_stamps import (
    ACCEPTED,
    ACCEPTED_WITH_OBSERVATIONS,
    NO_EMAIL,
    OUT_OF_RANGE,
    REJECTED,
    WRONG_CHECK_DIGIT,
    authority_verdict,
    nit_check_digit,
    share_of,
)
from sandbox.pdf import minimal_pdf
from tests.sandbox.test_alegra_sandbox import sale_draft

CAMILA = ContactDraft(name="Camila Restrepo", identification_type="CC", identification_number="1020304050",
                      kind_of_person="PERSON_ENTITY", email="camila@example.co")


@pytest.fixture
def adapter(served):
    served.knobs.update({"stamp_answer_delay": 0.0})
    adapter = served.adapter()
    yield adapter
    adapter.close()


def stamped_invoice(adapter, contact: ContactDraft, marker: str, **changes):
    contact_id = adapter.find_contact(contact.identification_number) or adapter.create_contact(contact)
    return adapter.create_invoice(sale_draft(contact_id, marker, **changes)), contact_id


# -- the e-invoice lifecycle -------------------------------------------------------------------------


def test_a_stamp_waits_for_the_authority_then_is_accepted(served, adapter):
    served.knobs.update({"stamp_answer_delay": 0.3})
    created, _ = stamped_invoice(adapter, CAMILA, "[ML-500]")
    assert created.legal_status is LegalStatus.PENDING and re.fullmatch(r"[0-9a-f]{96}", created.cufe or "")
    assert adapter.get_invoice(created.erp_id).legal_status is LegalStatus.PENDING
    time.sleep(0.35)
    accepted = adapter.get_invoice(created.erp_id)
    assert (accepted.legal_status, accepted.cufe, accepted.legal_reasons) == (LegalStatus.ACCEPTED, created.cufe, ())
    assert served.state.stamp_count(int(created.erp_id)) == 1


def test_no_email_is_rejected_then_fixed_contact_and_a_second_stamp_is_accepted(served, adapter):
    without_email = replace(CAMILA, email=None)
    created, contact_id = stamped_invoice(adapter, without_email, "[ML-501]")
    rejected = adapter.get_invoice(created.erp_id)
    assert rejected.legal_status is LegalStatus.REJECTED and rejected.legal_reasons == (NO_EMAIL,)

    adapter.update_contact(contact_id, CAMILA)
    adapter.stamp_invoice(created.erp_id)
    accepted = adapter.get_invoice(created.erp_id)
    assert accepted.legal_status is LegalStatus.ACCEPTED and accepted.cufe != rejected.cufe
    assert (accepted.number, served.state.stamp_count(int(created.erp_id))) == (created.number, 2)
    assert served.state.contacts[int(contact_id)]["email"] == "camila@example.co"


def test_a_nit_with_a_wrong_check_digit_is_rejected_and_the_right_one_accepted(served, adapter):
    company = ContactDraft(name="Comercializadora Zapata S.A.S.", identification_type="NIT",
                           identification_number="800197268", dv="5", kind_of_person="LEGAL_ENTITY",
                           email="compras@zapata.co")
    created, contact_id = stamped_invoice(adapter, company, "[ML-502]")
    assert adapter.get_invoice(created.erp_id).legal_reasons == (WRONG_CHECK_DIGIT,)
    adapter.update_contact(contact_id, replace(company, dv="4"))
    adapter.stamp_invoice(created.erp_id)
    assert adapter.get_invoice(created.erp_id).legal_status is LegalStatus.ACCEPTED


@pytest.mark.parametrize(("nit", "dv"), [("800197268", "4"), ("890903938", "8"), ("860002964", "4"),
                                         ("830114921", "1"), ("901234567", "7")])
def test_the_nit_check_digit_is_dians(nit, dv):
    assert nit_check_digit(nit) == dv


def test_the_reject_share_rejects_only_the_first_stamp_for_the_numbering_range(served, adapter):
    served.knobs.update({"stamp_reject_share": 1.0})
    created, _ = stamped_invoice(adapter, CAMILA, "[ML-503]")
    assert adapter.get_invoice(created.erp_id).legal_reasons == (OUT_OF_RANGE,)
    adapter.stamp_invoice(created.erp_id)
    assert adapter.get_invoice(created.erp_id).legal_status is LegalStatus.ACCEPTED


def test_the_verdict_shares_are_deterministic_by_invoice_id():
    contact = {"email": "a@b.co", "identificationObject": {"type": "CC", "number": "1"}}
    observed = next(i for i in range(1, 500) if share_of(i, "observations") < 0.05)
    plain = next(i for i in range(1, 500) if share_of(i, "observations") >= 0.05)
    with_observations = authority_verdict({"id": observed}, contact, first_stamp=True, reject_share=0)
    assert with_observations["legalStatus"] == ACCEPTED_WITH_OBSERVATIONS and with_observations["warnings"]
    assert authority_verdict({"id": plain}, contact, first_stamp=True, reject_share=0)["legalStatus"] == ACCEPTED
    half = [authority_verdict({"id": i}, contact, first_stamp=True, reject_share=0.5)["legalStatus"]
            for i in range(1, 201)]
    assert 60 < half.count(REJECTED) < 140
    assert half == [authority_verdict({"id": i}, contact, first_stamp=True, reject_share=0.5)["legalStatus"]
                    for i in range(1, 201)]


def test_the_final_consumer_needs_no_email(served, adapter):
    created = adapter.create_invoice(sale_draft("1", "[ML-504]"))  # the seeded "Consumidor final"
    assert adapter.get_invoice(created.erp_id).legal_status.is_accepted


def test_an_invoice_stamped_and_not_rejected_is_never_stamped_twice(served, adapter):
    served.knobs.update({"stamp_answer_delay": 30.0})
    created, _ = stamped_invoice(adapter, CAMILA, "[ML-505]")
    with pytest.raises(PermanentRejection, match="ya fue emitida"):
        adapter.stamp_invoice(created.erp_id)  # still waiting for the answer
    served.knobs.update({"stamp_answer_delay": 0.0})
    accepted, _ = stamped_invoice(adapter, CAMILA, "[ML-506]")
    with pytest.raises(PermanentRejection, match="ya fue emitida"):
        adapter.stamp_invoice(accepted.erp_id)
    assert served.state.stamp_count(int(created.erp_id)) == served.state.stamp_count(int(accepted.erp_id)) == 1


def test_stamping_a_draft_numbers_it_and_the_oracle_records_one_stamp(served, adapter):
    draft = adapter.create_invoice(sale_draft("1", "[ML-507]", status="draft", stamp=False))
    assert draft.legal_status is LegalStatus.NOT_ELECTRONIC and served.state.stamp_count(int(draft.erp_id)) == 0
    adapter.stamp_invoice(draft.erp_id)
    stamped = adapter.get_invoice(draft.erp_id)
    assert (stamped.status, stamped.number, stamped.legal_status) == ("open", "FEV1001", LegalStatus.ACCEPTED)
    assert served.state.records()["stamps_emitted"] == {draft.erp_id: 1}


# -- PDF ---------------------------------------------------------------------------------------------


def test_the_pdf_link_serves_a_small_real_pdf_without_credentials(served, adapter):
    created, _ = stamped_invoice(adapter, CAMILA, "[ML-510]")
    url = adapter.invoice_pdf_url(created.erp_id)
    assert url and url.startswith("http://127.0.0.1:") and "/api/v1/" not in url
    assert httpx.get(url).status_code == 200  # no Authorization needed, as a storage link
    document = adapter.download_invoice_pdf(created.erp_id)
    assert document.filename == "factura-FEV1001.pdf" and document.content.startswith(b"%PDF-1.4")
    assert len(document.content) < 2048 and b"FEV1001" in document.content


def test_an_expired_pdf_link_is_not_found(served, adapter):
    created, _ = stamped_invoice(adapter, CAMILA, "[ML-511]")
    url = adapter.invoice_pdf_url(created.erp_id)
    with served.state.lock:
        for token, (invoice_id, _) in list(served.state.pdf_links.items()):
            served.state.pdf_links[token] = (invoice_id, 0.0)
    answer = httpx.get(url)
    assert answer.status_code == 403
    with pytest.raises(NotFound):
        fetch_pdf(url, timeout=2, allow_private_network=True)


def test_the_handmade_pdf_has_a_valid_cross_reference_table():
    content = minimal_pdf(["Factura FEV1001", "Café (origen) \\ Huila"])
    assert content.startswith(b"%PDF-1.4") and content.rstrip().endswith(b"%%EOF")
    startxref = int(content.rsplit(b"startxref", 1)[1].split()[0])
    assert content[startxref:].startswith(b"xref\n0 6\n")
    entries = content[startxref:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, start=1):
        assert len(entry) == 19 and entry.endswith(b" n ")  # 20 bytes with the newline
        assert content[int(entry[:10]):].startswith(b"%d 0 obj" % number)
    assert b"Caf\xe9 \\(origen\\) \\\\ Huila" in content


# -- e-mail, bank accounts, payments -----------------------------------------------------------------


def test_emails_are_recorded_per_invoice(served, adapter):
    created, _ = stamped_invoice(adapter, CAMILA, "[ML-520]")
    adapter.email_invoice(created.erp_id, ["camila@example.co"])
    adapter.email_invoice(created.erp_id, ["camila@example.co", "contabilidad@example.co"])
    assert served.state.emails_for(int(created.erp_id)) == [
        ["camila@example.co"], ["camila@example.co", "contabilidad@example.co"]]


def test_bank_accounts_are_seeded(adapter):
    assert [(a.name, a.extra["type"]) for a in adapter.list_bank_accounts()] == [
        ("Mercado Pago", "bank"), ("Bancolombia Ahorros", "bank"), ("Caja general", "cash")]


def payment(invoice_id: str, contact_id: str, amount: str) -> PaymentDraft:
    return PaymentDraft(marker="[ML-530-P]", date=date(2026, 11, 5), amount=Decimal(amount), account_id="1",
                        method="transfer", invoice_erp_id=invoice_id, contact_id=contact_id)


def test_payments_lower_the_balance_and_never_exceed_it(served, adapter):
    created, contact_id = stamped_invoice(adapter, CAMILA, "[ML-530]")
    first = adapter.create_payment(payment(created.erp_id, contact_id, "50000"))
    after = adapter.get_invoice(created.erp_id)
    assert after.balance == created.total - Decimal("50000")
    assert [(p.erp_id, p.amount, p.account_id) for p in after.payments] == [(first.erp_id, Decimal("50000"), "1")]
    with pytest.raises(PermanentRejection, match="supera el saldo"):
        adapter.create_payment(payment(created.erp_id, contact_id, str(after.balance + 1)))
    adapter.create_payment(payment(created.erp_id, contact_id, str(after.balance)))
    assert adapter.get_invoice(created.erp_id).balance == 0
    recorded = served.state.payments_for(int(created.erp_id))
    assert [p["observations"] for p in recorded] == ["[ML-530-P]", "[ML-530-P]"]


def test_a_draft_takes_no_payment(served, adapter):
    draft = adapter.create_invoice(sale_draft("1", "[ML-531]", status="draft", stamp=False))
    with pytest.raises(PermanentRejection, match="abiertas"):
        adapter.create_payment(payment(draft.erp_id, "1", "1000"))
    assert served.state.payments_for(int(draft.erp_id)) == []


def test_an_inline_payment_creates_the_invoice_open_and_paid(served, adapter):
    contact_id = adapter.create_contact(CAMILA)
    probe = adapter.create_invoice(sale_draft(contact_id, "[ML-532-probe]", stamp=False))
    inline = replace(payment("", contact_id, str(probe.total)), invoice_erp_id=None)
    paid = adapter.create_invoice(sale_draft(contact_id, "[ML-532]", payment=inline))
    read = adapter.get_invoice(paid.erp_id)
    assert (read.status, read.balance, len(read.payments)) == ("open", Decimal("0"), 1)
    assert served.state.payments_for(int(paid.erp_id))[0]["amount"] == float(probe.total)


# -- the write faults apply to every new write -------------------------------------------------------


def test_a_dropped_answer_after_a_stamp_is_ambiguous_and_the_stamp_happened(served, adapter):
    draft = adapter.create_invoice(sale_draft("1", "[ML-540]", status="draft", stamp=False))
    served.knobs.update({"reset_after_commit_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.stamp_invoice(draft.erp_id)
    served.knobs.update({"reset_after_commit_rate": 0.0})
    assert served.state.stamp_count(int(draft.erp_id)) == 1
    assert adapter.get_invoice(draft.erp_id).legal_status.is_final  # read, never re-sent


def test_a_500_before_a_payment_writes_nothing_and_a_drop_after_it_keeps_it(served, adapter):
    created, contact_id = stamped_invoice(adapter, CAMILA, "[ML-541]")
    served.knobs.update({"error_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.create_payment(payment(created.erp_id, contact_id, "1000"))
    served.knobs.update({"error_rate": 0.0, "reset_after_commit_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.create_payment(payment(created.erp_id, contact_id, "1000"))
    with pytest.raises(AmbiguousOutcome):
        adapter.email_invoice(created.erp_id, ["camila@example.co"])
    served.knobs.update({"reset_after_commit_rate": 0.0})
    assert len(served.state.payments_for(int(created.erp_id))) == 1
    assert served.state.emails_for(int(created.erp_id)) == [["camila@example.co"]]
    assert served.knobs.injected["reset_after_commit_rate"] == 2


def test_the_records_are_served_for_a_sandbox_in_another_process(served, adapter):
    created, contact_id = stamped_invoice(adapter, CAMILA, "[ML-550]")
    adapter.email_invoice(created.erp_id, ["camila@example.co"])
    adapter.create_payment(payment(created.erp_id, contact_id, "1000"))
    answer = httpx.get(served.url.replace("/api/v1", "/_sandbox/records")).json()
    assert answer == served.state.records()
    assert answer["stamps_emitted"] == {created.erp_id: 1} and answer["legal_status"] == {created.erp_id: ACCEPTED}
    assert answer["emails"] == {created.erp_id: [["camila@example.co"]]}
    assert [p["amount"] for p in answer["payments"][created.erp_id]] == [1000.0]
