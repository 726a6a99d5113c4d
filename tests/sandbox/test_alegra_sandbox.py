"""The Alegra sandbox served on loopback, driven by the real AlegraAdapter."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import httpx
import pytest

from connector.errors import AmbiguousOutcome, InvalidCredentials, PermanentRejection, TransientError
from erp.base import ContactDraft, InvoiceDraft, InvoiceLineDraft
from sandbox.catalog import FINAL_CONSUMER_ID, PRODUCTS, SHIPPING_PRODUCT
from tests.sandbox.conftest import EMAIL, OTHER_EMAIL, OTHER_TOKEN, TOKEN

PRODUCTS_BY_KEY = {p.key: p for p in PRODUCTS}


def sale_draft(contact_id: str, marker: str, **changes) -> InvoiceDraft:
    cafe, mochila = PRODUCTS_BY_KEY["cafe-500"], PRODUCTS_BY_KEY["mochila"]
    values = dict(
        marker=marker, contact_id=contact_id, issue_date=date(2026, 11, 2), due_date=date(2026, 11, 2),
        lines=(
            InvoiceLineDraft("1", Decimal("2"), cafe.price, cafe.name, tax_ids=(str(cafe.tax_id),)),
            InvoiceLineDraft("5", Decimal("1"), mochila.price, mochila.name, tax_ids=(str(mochila.tax_id),)),
            # 9 900 paid for shipping, tax included at 19 %: the price before tax needs 6 decimals
            InvoiceLineDraft(str(len_items_before_shipping() + 1), Decimal("1"), Decimal("9900") / Decimal("1.19"),
                             "Envío", tax_ids=("1",)),
        ),
        status="open", stamp=True, number_template_id="1", observations=f"Pedido {marker}",
    )
    values.update(changes)
    return InvoiceDraft(**values)


def len_items_before_shipping() -> int:
    return sum(1 + len(p.variants) for p in PRODUCTS)


def test_validate_credentials_good_and_bad(served):
    account = served.adapter().validate_credentials()
    assert account.display_name == "Tienda Cafetera S.A.S."
    with pytest.raises(InvalidCredentials) as caught:
        served.adapter(token="wrong-token-123").validate_credentials()
    assert "Las credenciales no son válidas" in caught.value.user_message
    assert "wrong-token-123" not in caught.value.user_message + (caught.value.detail or "")


def test_iter_items_yields_every_product_and_variant_with_barcodes(served):
    adapter = served.adapter()
    items = list(adapter.iter_items())
    variants = [(p, options, barcode) for p in PRODUCTS for options, barcode in p.variants]
    assert len(items) == len(PRODUCTS) + len(variants) + 1
    assert len({i.erp_id for i in items}) == len(items)
    assert served.state.count("GET /items") == 1  # 25 items: one short page ends the listing
    by_barcode = {code: item for item in items for code in item.barcodes}
    for product in PRODUCTS:
        if product.barcode:
            assert by_barcode[product.barcode].name == product.name
        assert by_barcode[product.reference].kind == product.kind
    for parent, options, barcode in variants:
        variant = by_barcode[barcode]
        assert variant.kind == "variant"
        assert variant.parent_id == by_barcode[parent.reference].erp_id
        assert variant.variant_options == dict(zip(parent.attributes, options, strict=True))
        assert variant.tax_ids == (str(parent.tax_id),) and variant.prices["1"] == parent.price
    assert by_barcode[SHIPPING_PRODUCT.reference].kind == "service"


def test_settings_lists_and_search(served):
    adapter = served.adapter()
    assert [t.extra["percentage"] for t in adapter.list_taxes()] == [Decimal("19.00"), Decimal("5.00"), Decimal("0.00")]
    assert [w.extra["isDefault"] for w in adapter.list_warehouses()] == [True, False]
    assert [p.name for p in adapter.list_price_lists()] == ["General", "Mayorista"]
    assert [n.extra["isElectronic"] for n in adapter.list_number_templates()] == [True, False]
    assert {i.name for i in adapter.search_items("café")} == {"Café de origen Huila 500 g", "Café de origen Nariño 250 g"}
    assert [i.erp_id for i in adapter.search_items("cam-pim-negro-m")] == ["18"]


def test_contact_and_invoice_total_is_the_tax_included_amount(served):
    adapter = served.adapter()
    assert adapter.find_contact(FINAL_CONSUMER_ID) == "1"
    buyer = ContactDraft(name="Camila Restrepo", identification_type="CC", identification_number="1020304050",
                         kind_of_person="PERSON_ENTITY", city="Medellín", department="Antioquia")
    contact_id = adapter.create_contact(buyer)
    assert adapter.find_contact("1020304050") == contact_id
    assert adapter.find_contact("1020304") is None  # contains-match elsewhere is not this buyer

    result = adapter.create_invoice(sale_draft(contact_id, "[ML-1]"))
    cafe, mochila = PRODUCTS_BY_KEY["cafe-500"], PRODUCTS_BY_KEY["mochila"]
    assert result.total == 2 * cafe.price_with_tax() + mochila.price_with_tax() + Decimal("9900")
    assert (result.number, result.status, result.stamp_status) == ("FEV1001", "open", "STAMPED_AND_WAITING_RESPONSE")
    stored = served.state.invoices_for_marker("[ML-1]")
    assert [str(inv["id"]) for inv in stored] == [result.erp_id]
    assert stored[0]["items"][2]["price"] == pytest.approx(8319.327731)


def test_the_sandbox_rejects_what_alegra_rejects_with_its_message(served):
    adapter = served.adapter()
    parent_line = InvoiceLineDraft("13", Decimal("1"), Decimal("49900"), tax_ids=("1",))
    with pytest.raises(PermanentRejection, match="tiene variantes"):
        adapter.create_invoice(sale_draft("1", "[ML-2]", lines=(parent_line,)))
    with pytest.raises(PermanentRejection, match="El cliente indicado no existe"):
        adapter.create_invoice(sale_draft("999", "[ML-3]"))
    with pytest.raises(PermanentRejection, match="no es de facturación electrónica"):
        adapter.create_invoice(sale_draft("1", "[ML-4]", number_template_id="2"))
    answer = httpx.get(f"{served.url}/items", params={"limit": 31}, auth=(EMAIL, TOKEN))
    assert answer.status_code == 400 and "30" in answer.json()["message"]
    assert served.state.invoices == []


def test_rate_limit_headers_then_429_and_the_adapter_waits_for_the_window(served):
    served.knobs.update({"rate_limit_per_minute": 3, "rate_window_seconds": 1.0})
    with httpx.Client(base_url=served.url, auth=(OTHER_EMAIL, OTHER_TOKEN)) as client:
        answers = [client.get("/taxes") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["X-Rate-Limit-Limit"] == "3" and int(a.headers["X-Rate-Limit-Reset"]) <= 1 for a in answers)
    assert answers[3].json()["code"] == 429

    adapter = served.adapter(sleep=time.sleep)  # another user: its own window
    started = time.monotonic()
    for _ in range(5):
        assert len(adapter.list_taxes()) == 3
    assert time.monotonic() - started >= 0.5
    assert adapter.rate_limit.waited  # it waited for the reset instead of hammering
    assert adapter.calls == 5


def test_timeout_after_commit_is_ambiguous_and_the_marker_finds_the_invoice(served):
    served.knobs.update({"timeout_after_commit_rate": 1.0, "commit_stall_seconds": 1.5})
    adapter = served.adapter(timeout=0.4)
    with pytest.raises(AmbiguousOutcome):
        adapter.create_invoice(sale_draft("1", "[ML-77]"))
    served.knobs.update({"timeout_after_commit_rate": 0.0})
    assert served.state.count("POST /invoices") == 1
    found = adapter.find_invoice_by_marker("[ML-77]", contact_id="1", around=date(2026, 11, 2))
    assert found is not None
    assert [str(inv["id"]) for inv in served.state.invoices_for_marker("[ML-77]")] == [found.erp_id]


def test_reset_after_commit_is_ambiguous_and_the_marker_finds_the_invoice(served):
    served.knobs.update({"reset_after_commit_rate": 1.0})
    adapter = served.adapter()
    with pytest.raises(AmbiguousOutcome):
        adapter.create_invoice(sale_draft("1", "[ML-78]"))
    served.knobs.update({"reset_after_commit_rate": 0.0})
    assert served.state.count("POST /invoices") == 1
    found = adapter.find_invoice_by_marker("[ML-78]", contact_id=None, around=date(2026, 11, 3))
    assert found is not None and found.number == "FEV1001"


def _counter_sales(adapter, count: int) -> list[str]:
    """``count`` invoices of the final consumer (contact 1) made by someone else: the volume a marker
    search has to look through. Returns their ids."""
    return [adapter.create_invoice(sale_draft("1", f"[OTRO-{n}]", status="draft", stamp=False)).erp_id
            for n in range(count)]


def test_an_ambiguous_invoice_of_a_busy_contact_is_settled_from_its_newest_page(served):
    adapter = served.adapter()
    earlier = _counter_sales(adapter, 70)  # more than two pages of the same contact
    served.knobs.update({"reset_after_commit_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.create_invoice(sale_draft("1", "[ML-90]"))
    served.knobs.update({"reset_after_commit_rate": 0.0, "reset_before_commit_rate": 1.0})
    with pytest.raises(AmbiguousOutcome):
        adapter.create_invoice(sale_draft("1", "[ML-91]"))
    served.knobs.update({"reset_before_commit_rate": 0.0})
    reads = served.state.count("GET /invoices")

    found = adapter.find_invoice_by_marker("[ML-90]", contact_id="1", around=date(2026, 11, 2),
                                           older_than=earlier[-1])
    assert found is not None and served.state.count("GET /invoices") - reads == 1
    # never committed: the newest page reaches the invoice recorded before the attempt, so nothing newer
    # can be missing — one read, no scan of the day's 71 invoices
    assert adapter.find_invoice_by_marker("[ML-91]", contact_id="1", around=date(2026, 11, 2),
                                          older_than=earlier[-1]) is None
    assert served.state.count("GET /invoices") - reads == 2
    assert adapter.marker_search.full_scans == 0


def test_without_a_known_older_invoice_a_busy_contact_falls_back_to_the_day_scan(served):
    adapter = served.adapter()
    _counter_sales(adapter, 65)
    reads = served.state.count("GET /invoices")
    assert adapter.find_invoice_by_marker("[ML-92]", contact_id="1", around=date(2026, 11, 2)) is None
    # two newest pages, then the three days (three pages of 2026-11-02, one empty page each side)
    assert served.state.count("GET /invoices") - reads == 2 + 3 + 2
    assert adapter.marker_search.full_scans == 1


def test_lists_honour_order_field_and_direction(served):
    adapter = served.adapter()
    ids = _counter_sales(adapter, 3)
    url, auth = f"{served.url}/invoices", (EMAIL, TOKEN)
    newest = httpx.get(url, params={"order_field": "id", "order_direction": "DESC", "limit": 2}, auth=auth).json()
    oldest = httpx.get(url, params={"order_field": "id", "order_direction": "ASC", "limit": 2}, auth=auth).json()
    assert [str(i["id"]) for i in newest] == ids[::-1][:2] and [str(i["id"]) for i in oldest] == ids[:2]
    wrong = httpx.get(url, params={"order_direction": "sideways"}, auth=auth)
    assert wrong.status_code == 400 and "order_direction" in wrong.json()["message"]


def test_maintenance_is_a_transient_error_on_reads_after_retries(served):
    served.knobs.update({"maintenance_until": time.time() + 60})
    adapter = served.adapter()
    with pytest.raises(TransientError) as caught:
        adapter.list_taxes()
    assert type(caught.value) is TransientError
    assert "mantenimiento" in caught.value.user_message
    assert adapter.calls == adapter.requestor.max_attempts


def test_stamp_and_email_endpoints(served):
    adapter = served.adapter()
    draft_invoice = adapter.create_invoice(sale_draft("1", "[ML-90]", status="draft", stamp=False))
    assert draft_invoice.number is None and draft_invoice.status == "draft"
    with httpx.Client(base_url=served.url, auth=(EMAIL, TOKEN)) as client:
        stamped = client.post("/invoices/stamp", json={"ids": [int(draft_invoice.erp_id)]})
        too_many = client.post("/invoices/stamp", json={"ids": list(range(1, 12))})
        emailed = client.post(f"/invoices/{draft_invoice.erp_id}/email", json={"emails": ["a@b.co"]})
    assert stamped.status_code == 200 and stamped.json()[0]["stamp"]["legalStatus"] == "STAMPED_AND_WAITING_RESPONSE"
    assert too_many.status_code == 400
    assert emailed.status_code == 200 and served.state.emails_sent[0]["emails"] == ["a@b.co"]
