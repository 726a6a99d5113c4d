"""Credit notes in the Alegra sandbox, over loopback HTTP and driven by the real AlegraAdapter: Alegra's
validation (the invoice and its client, its items and what is left to credit of them, the amount, the
type), the e-invoice lifecycle of a note, numbering, lists and reads, what a note does to the invoice's
balance, the fault knobs and the records the chaos oracle reads."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest

from connector.errors import AmbiguousOutcome, NotFound, PermanentRejection, TransientError
from erp.base import ContactDraft, CreditNoteDraft, InvoiceLineDraft, LegalStatus, PaymentDraft
from sandbox.alegra_stamps import ACCEPTED, WAITING
from tests.sandbox.conftest import EMAIL, TOKEN
from tests.sandbox.test_alegra_sandbox import sale_draft

CAMILA = ContactDraft(name="Camila Restrepo", identification_type="CC", identification_number="1020304050",
                      kind_of_person="PERSON_ENTITY", email="camila@example.co")
ZAPATA = ContactDraft(name="Comercializadora Zapata S.A.S.", identification_type="NIT",
                      identification_number="800197268", dv="4", kind_of_person="LEGAL_ENTITY",
                      email="compras@zapata.co")


@pytest.fixture
def adapter(served):
    served.knobs.update({"stamp_answer_delay": 0.0})
    adapter = served.adapter()
    yield adapter
    adapter.close()


def invoiced(adapter, marker: str, contact: ContactDraft = CAMILA, **changes):
    """A stamped, open invoice of ``sale_draft`` (2 cafés, 1 mochila, shipping) and its contact id."""
    contact_id = adapter.find_contact(contact.identification_number) or adapter.create_contact(contact)
    return adapter.create_invoice(sale_draft(contact_id, marker, **changes)), contact_id


def note(invoice, contact_id: str, marker: str, *, lines=None, amount=None, **changes) -> CreditNoteDraft:
    """A note over ``lines`` of the invoice (default: all of them, for its whole total)."""
    invoice_lines = sale_draft(contact_id, marker).lines
    return CreditNoteDraft(marker=marker, contact_id=contact_id, invoice_erp_id=invoice.erp_id,
                           issue_date=changes.pop("issue_date", date(2026, 11, 9)), lines=invoice_lines if lines is None else lines,
                           amount=invoice.total if amount is None else Decimal(amount),
                           note_type=changes.pop("note_type", "VOID_ELECTRONIC_INVOICE"), **changes)


def one_cafe(contact_id: str, quantity: str = "1") -> tuple[InvoiceLineDraft, ...]:
    return (replace(sale_draft(contact_id, "-").lines[0], quantity=Decimal(quantity)),)


CAFE_WITH_TAX = Decimal("28000") * Decimal("1.05")  # the seeded café: 28 000 before 5 % tax


def post_raw(served, body: dict) -> httpx.Response:
    return httpx.post(f"{served.url}/credit-notes", json=body, auth=(EMAIL, TOKEN), timeout=5)


# -- a note's life ----------------------------------------------------------------------------------------


def test_a_full_note_voids_the_invoice_is_numbered_and_stamped_then_accepted(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-600]")
    served.knobs.update({"stamp_answer_delay": 0.3})
    created = adapter.create_credit_note(note(invoice, contact_id, "[ML-600-C]", stamp=True))
    assert (created.number, created.total, created.invoice_erp_ids) == ("NC-1", invoice.total, (invoice.erp_id,))
    assert created.legal_status is LegalStatus.PENDING and len(created.cufe or "") == 96
    assert "[ML-600-C]" in created.observations
    time.sleep(0.35)
    accepted = adapter.get_credit_note(created.erp_id)
    assert (accepted.legal_status, accepted.cufe) == (LegalStatus.ACCEPTED, created.cufe)
    assert served.state.credit_note_stamp_count(int(created.erp_id)) == 1
    assert served.state.stamp_count(int(invoice.erp_id)) == 1  # the invoice's own stamps are apart
    assert adapter.get_invoice(invoice.erp_id).balance == 0
    with pytest.raises(PermanentRejection, match="por acreditar"):  # nothing is left to credit
        adapter.create_credit_note(note(invoice, contact_id, "[ML-600-D]", lines=one_cafe(contact_id), amount="1"))
    other, _ = invoiced(adapter, "[ML-600-E]")
    second = adapter.create_credit_note(note(other, contact_id, "[ML-600-F]", lines=one_cafe(contact_id),
                                             amount="1", note_type="OTHER"))
    assert second.number == "NC-2" and second.legal_status is LegalStatus.NOT_ELECTRONIC


def test_a_note_without_stamp_is_a_plain_document(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-601]")
    created = adapter.create_credit_note(note(invoice, contact_id, "[ML-601-C]", lines=one_cafe(contact_id),
                                              amount=str(CAFE_WITH_TAX), note_type="PARTIALL_DEVOLUTION"))
    assert (created.legal_status, created.cufe, created.total) == (LegalStatus.NOT_ELECTRONIC, None, CAFE_WITH_TAX)
    assert served.state.credit_note_stamp_count(int(created.erp_id)) == 0


def test_an_electronic_note_needs_an_invoice_the_authority_accepted(served, adapter):
    served.knobs.update({"stamp_answer_delay": 30.0})
    pending, contact_id = invoiced(adapter, "[ML-620]")
    with pytest.raises(PermanentRejection, match="no ha sido aceptada por la DIAN"):
        adapter.create_credit_note(note(pending, contact_id, "[ML-620-C]", stamp=True))
    served.knobs.update({"stamp_answer_delay": 0.0})
    rejected, no_email_id = invoiced(adapter, "[ML-621]", replace(ZAPATA, email=None))
    assert adapter.get_invoice(rejected.erp_id).legal_status is LegalStatus.REJECTED
    with pytest.raises(PermanentRejection, match="no ha sido aceptada por la DIAN"):
        adapter.create_credit_note(note(rejected, no_email_id, "[ML-621-C]", stamp=True))
    plain, _ = invoiced(adapter, "[ML-622]", stamp=False)
    with pytest.raises(PermanentRejection, match="no es una factura electrónica"):
        adapter.create_credit_note(note(plain, contact_id, "[ML-622-C]", stamp=True))
    assert served.state.credit_notes == []
    # without a stamp, a note may credit any of them
    for invoice, client in ((pending, contact_id), (rejected, no_email_id), (plain, contact_id)):
        adapter.create_credit_note(note(invoice, client, f"[ML-62x-{invoice.erp_id}]"))
    assert len(served.state.credit_notes) == 3 and served.state.credit_note_stamps.emitted == {}


# -- the invoice and its client ---------------------------------------------------------------------------


def test_the_invoice_must_exist_belong_to_the_client_and_not_be_a_draft(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-602]")
    other_id = adapter.create_contact(ZAPATA)
    with pytest.raises(PermanentRejection, match="no pertenece al cliente"):
        adapter.create_credit_note(note(invoice, other_id, "[ML-602-C]"))
    with pytest.raises(PermanentRejection, match="no existe"):
        adapter.create_credit_note(note(replace(invoice, erp_id="9999"), contact_id, "[ML-602-C]"))
    draft = adapter.create_invoice(sale_draft(contact_id, "[ML-603]", status="draft", stamp=False))
    with pytest.raises(PermanentRejection, match="borrador"):
        adapter.create_credit_note(note(draft, contact_id, "[ML-603-C]"))
    assert served.state.credit_notes == []


# -- the items and what is left to credit of them ---------------------------------------------------------


def test_items_must_be_items_of_the_invoice(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-604]")
    not_sold = (InvoiceLineDraft("2", Decimal("1"), Decimal("30000"), tax_ids=("2",)),)
    with pytest.raises(PermanentRejection, match="no está en la factura"):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-604-C]", lines=not_sold, amount="100"))
    assert served.state.credit_notes_for(int(invoice.erp_id)) == []


def test_quantities_never_exceed_what_earlier_notes_left(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-605]")  # 2 cafés
    with pytest.raises(PermanentRejection, match="supera la que queda por acreditar"):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-605-A]", lines=one_cafe(contact_id, "3"),
                                        amount="1000"))
    adapter.create_credit_note(note(invoice, contact_id, "[ML-605-B]", lines=one_cafe(contact_id), amount="1000",
                                    note_type="PARTIALL_DEVOLUTION"))
    with pytest.raises(PermanentRejection, match=r"supera la que queda por acreditar .*\(1\)"):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-605-C]", lines=one_cafe(contact_id, "2"),
                                        amount="1000"))
    adapter.create_credit_note(note(invoice, contact_id, "[ML-605-D]", lines=one_cafe(contact_id), amount="1000",
                                    note_type="PARTIALL_DEVOLUTION"))
    with pytest.raises(PermanentRejection, match=r"\(0\)"):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-605-E]", lines=one_cafe(contact_id),
                                        amount="1000"))
    assert [n["observations"] for n in served.state.credit_notes_for(int(invoice.erp_id))] == [
        "[ML-605-B]", "[ML-605-D]"]


def test_notes_of_another_invoice_do_not_count(served, adapter):
    first, contact_id = invoiced(adapter, "[ML-606]")
    second, _ = invoiced(adapter, "[ML-607]")
    adapter.create_credit_note(note(first, contact_id, "[ML-606-C]"))
    adapter.create_credit_note(note(second, contact_id, "[ML-607-C]"))
    assert [len(served.state.credit_notes_for(int(i.erp_id))) for i in (first, second)] == [1, 1]


# -- the amount ------------------------------------------------------------------------------------------


def test_the_amount_may_not_pass_the_notes_total(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-608]")
    with pytest.raises(PermanentRejection, match="supera el total de la nota"):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-608-C]", lines=one_cafe(contact_id),
                                        amount=str(CAFE_WITH_TAX + 1)))


def test_what_limits_a_note_is_the_total_minus_earlier_notes_not_the_balance(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-609]")
    paid = PaymentDraft(marker="[ML-609-P]", date=date(2026, 11, 5), amount=invoice.total, account_id="1",
                        method="transfer", invoice_erp_id=invoice.erp_id, contact_id=contact_id)
    adapter.create_payment(paid)
    assert adapter.get_invoice(invoice.erp_id).balance == 0
    # balance 0, yet the invoice can still be credited (the money goes back to the buyer) ...
    # (a price adjustment on one café worth all of it but 1 000, so quantities are left to credit)
    adjusted = replace(one_cafe(contact_id)[0], unit_price=((invoice.total - 1000) / Decimal("1.05")).quantize(
        Decimal("0.000001")))
    adapter.create_credit_note(note(invoice, contact_id, "[ML-609-A]", lines=(adjusted,),
                                    amount=str(invoice.total - 1000), note_type="PRICE_ADJUSTMENT"))
    assert adapter.get_invoice(invoice.erp_id).balance == 0  # never negative
    # ... but never more than its total minus what earlier notes took off it
    with pytest.raises(PermanentRejection, match=r"valor por acreditar de la factura \(1000.00\)"):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-609-B]", lines=one_cafe(contact_id),
                                        amount="1000.01"))
    adapter.create_credit_note(note(invoice, contact_id, "[ML-609-C]", lines=one_cafe(contact_id), amount="1000"))
    assert [n["observations"] for n in served.state.records()["credit_notes"][invoice.erp_id]] == ["[ML-609-A]", "[ML-609-C]"]


def test_a_note_lowers_an_unpaid_balance(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-610]")
    adapter.create_credit_note(note(invoice, contact_id, "[ML-610-C]", lines=one_cafe(contact_id),
                                    amount=str(CAFE_WITH_TAX), note_type="PARTIALL_DEVOLUTION"))
    assert adapter.get_invoice(invoice.erp_id).balance == invoice.total - CAFE_WITH_TAX


# -- what only a raw request can send: Alegra's own answers -------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    ({"type": None}, "El tipo de la nota crédito es obligatorio"),
    ({"type": "PARTIAL_DEVOLUTION"}, "El tipo de la nota crédito debe ser uno de"),
    ({"date": None}, "El campo date es obligatorio"),
    ({"items": []}, "al menos un ítem"),
    ({"invoices": []}, "Indica la factura"),
    ({"invoices": [{"id": 1, "amount": 1}, {"id": 2, "amount": 1}]}, "solo puede aplicarse a una factura"),
    ({"client": {"id": 999}}, "El cliente indicado no existe"),
    ({"observations": "x" * 501}, "no puede tener más de 500"),
    ({"invoices": [{"id": 1, "amount": 0}]}, "mayor que cero"),
], ids=["no-type", "type-misspelt", "no-date", "no-items", "no-invoice", "two-invoices", "unknown-client",
        "long-observations", "zero-amount"])
def test_a_refused_note_is_a_400_in_alegras_envelope_and_writes_nothing(served, adapter, change, message):
    invoice, contact_id = invoiced(adapter, "[ML-611]")
    assert invoice.erp_id == "1"
    good = {"date": "2026-11-09", "client": {"id": int(contact_id)}, "type": "OTHER",
            "items": [{"id": 1, "price": 28000, "quantity": 1, "tax": [{"id": 2}]}],
            "invoices": [{"id": 1, "amount": 29400}], "observations": "[ML-611-C]"}
    answer = post_raw(served, {**good, **change})
    assert answer.status_code == 400 and set(answer.json()) == {"message", "code"}
    assert message in answer.json()["message"]
    assert served.state.credit_notes == []
    assert post_raw(served, good).status_code == 201  # the same note, corrected, goes through


def test_without_an_amount_the_note_applies_its_total(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-612]")
    answer = post_raw(served, {"date": "2026-11-09", "client": {"id": int(contact_id)}, "type": "OTHER",
                               "items": [{"id": 1, "price": 28000, "quantity": 1, "tax": [{"id": 2}]}],
                               "invoices": [{"id": int(invoice.erp_id)}]})
    assert answer.status_code == 201
    assert answer.json()["invoices"][0]["amount"] == answer.json()["total"] == float(CAFE_WITH_TAX)


# -- lists and reads --------------------------------------------------------------------------------------


def test_lists_filter_by_day_and_client_page_by_30_and_the_marker_finds_a_note(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-613]")
    created = adapter.create_credit_note(note(invoice, contact_id, "[ML-613-C]", lines=one_cafe(contact_id),
                                              amount="100"))
    later = adapter.create_credit_note(note(invoice, contact_id, "[ML-613-D]", lines=one_cafe(contact_id),
                                            amount="100", issue_date=date(2026, 11, 10)))
    auth, url = (EMAIL, TOKEN), f"{served.url}/credit-notes"
    assert [n["id"] for n in httpx.get(url, params={"date": "2026-11-09"}, auth=auth).json()] == [1]
    assert httpx.get(url, params={"client_id": 999}, auth=auth).json() == []
    listed = httpx.get(url, params={"metadata": "true", "client_id": contact_id}, auth=auth).json()
    assert listed["metadata"] == {"total": 2} and [n["id"] for n in listed["data"]] == [2, 1]  # newest first
    assert httpx.get(url, params={"limit": 31}, auth=auth).status_code == 400
    found = adapter.find_credit_note_by_marker("[ML-613-D]", contact_id=contact_id, around=date(2026, 11, 9))
    assert found is not None and found.erp_id == later.erp_id
    assert [n.erp_id for n in adapter.iter_credit_notes(date(2026, 11, 8), date(2026, 11, 10))] == [
        created.erp_id, later.erp_id]
    with pytest.raises(NotFound):
        adapter.get_credit_note("999")


# -- the fault knobs apply ------------------------------------------------------------------------------------


def test_a_dropped_answer_after_commit_is_ambiguous_and_the_marker_finds_the_note(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-614]")
    served.knobs.update({"reset_after_commit_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-614-C]"))
    served.knobs.update({"reset_after_commit_rate": 0.0})
    found = adapter.find_credit_note_by_marker("[ML-614-C]", contact_id=contact_id, around=date(2026, 11, 9))
    assert found is not None and len(served.state.credit_notes_for(int(invoice.erp_id))) == 1
    assert [n["id"] for n in served.state.credit_notes_for_marker("[ML-614-C]")] == [int(found.erp_id)]


def test_a_500_or_429_before_the_write_writes_nothing_and_maintenance_is_transient(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-615]")
    served.knobs.update({"error_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.create_credit_note(note(invoice, contact_id, "[ML-615-C]"))
    served.knobs.update({"error_rate": 0.0, "burst_429_rate": 1.0})
    assert post_raw(served, {}).status_code == 429
    served.knobs.update({"burst_429_rate": 0.0, "maintenance_until": time.time() + 60})
    with pytest.raises(TransientError):
        adapter.get_credit_note("1")
    served.knobs.update({"maintenance_until": 0.0})
    assert served.state.credit_notes == []
    assert served.state.count("POST /credit-notes") == 2


# -- the records ---------------------------------------------------------------------------------------------


def test_the_records_list_each_invoices_notes_in_process_and_over_http(served, adapter):
    invoice, contact_id = invoiced(adapter, "[ML-616]")
    created = adapter.create_credit_note(note(invoice, contact_id, "[ML-616-C]", stamp=True))
    answer = httpx.get(served.url.replace("/api/v1", "/_sandbox/records")).json()
    assert answer == served.state.records()
    assert answer["credit_notes"] == {invoice.erp_id: [{
        "id": int(created.erp_id), "number": "NC-1", "total": float(invoice.total), "type": "VOID_ELECTRONIC_INVOICE",
        "observations": "[ML-616-C]", "legal_status": ACCEPTED}]}
    assert answer["stamps_emitted"] == {invoice.erp_id: 1}  # the invoice's; the note's are counted apart
    assert served.state.credit_note(int(created.erp_id))["stamp"]["legalStatus"] in (WAITING, ACCEPTED)
