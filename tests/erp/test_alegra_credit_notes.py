"""AlegraAdapter's credit notes (strict respx mocks on documented shapes): the country's note types, the
``POST /credit-notes`` body (sent once), the answer with its e-invoice status, the marker search, reads
and the day-by-day listing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import AmbiguousOutcome, InvalidPayload, NotFound, PermanentRejection
from erp.alegra.adapter import AlegraAdapter
from erp.alegra.countries import country_profile
from erp.alegra.credit_notes import parse_credit_note
from erp.base import CreditNoteDraft, ERPOptions, InvoiceLineDraft, LegalStatus

BASE = "https://alegra.test/api/v1"
CREDENTIALS = {"email": "facturacion@tiendacafetera.co", "token": "tok-5ecret-9f2c77", "country": "CO"}
FIXTURES = Path(__file__).parent / "fixtures" / "alegra"
MARKER = "[ML-2000001234-R1]"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_adapter(country: str = "CO") -> AlegraAdapter:
    adapter = AlegraAdapter({**CREDENTIALS, "country": country}, ERPOptions(base_url=BASE), sleep=lambda _s: None)
    adapter.requestor.jitter = lambda: 0.0
    return adapter


@pytest.fixture
def adapter():
    adapter = make_adapter()
    yield adapter
    adapter.close()


def note_draft(**changes) -> CreditNoteDraft:
    draft = CreditNoteDraft(
        marker=MARKER, contact_id="57", invoice_erp_id="1203", issue_date=date(2026, 11, 9),
        lines=(InvoiceLineDraft("1", Decimal("1"), Decimal("28000"), "Café de origen Huila 500 g",
                                tax_ids=("2",)),),
        amount=Decimal("29400"), note_type="PARTIALL_DEVOLUTION", observations="Devolución del pedido")
    return replace(draft, **changes)


# -- the country's types -------------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "expected"), [
    ("CO", [("VOID_ELECTRONIC_INVOICE", "Anulación de factura electrónica", "full"),
            ("PARTIALL_DEVOLUTION", "Devolución parcial de los bienes", "partial"),
            ("REDUCTION_DISCOUNT_PARTIAL_TOTAL", "Rebaja o descuento parcial o total", "reduction"),
            ("PRICE_ADJUSTMENT", "Ajuste de precio", None),
            ("OTHER", "Otros", None)]),
    ("PE", [("01", "Anulación de la operación", "full"), ("06", "Devolución total", "full"),
            ("07", "Devolución por ítem", "partial"), ("04", "Descuento global", None),
            ("05", "Descuento por ítem", None), ("09", "Disminución en el valor", None),
            ("10", "Otros conceptos", None)]),
    ("MX", [("01", "Nota de crédito de los documentos relacionados", "reduction"),
            ("03", "Devolución de mercancía", "partial"), ("02", "Cancelación (sustitución) del CFDI", "full")]),
    ("cr", [("VOID", "Anulación de la factura", "full"), ("PARTIAL_RETURN", "Devolución parcial", "partial")]),
])
def test_credit_note_types_follow_the_accounts_country(country, expected):
    adapter = make_adapter(country)
    types = adapter.credit_note_types()
    assert [(t.id, t.name, t.extra.get("use")) for t in types] == expected
    assert adapter.calls == 0  # a declared list, no request


@pytest.mark.parametrize("country", ["CO", "PE", "MX", "AR", "XX"])
def test_every_country_has_a_full_and_a_partial_default(country):
    uses = [t.extra.get("use") for t in make_adapter(country).credit_note_types()]
    assert "full" in uses and "partial" in uses


def test_the_tax_authority_comes_from_the_same_country_profile():
    assert make_adapter("PE").tax_authority == "La SUNAT" == country_profile(" pe ").tax_authority
    assert make_adapter("XX").tax_authority == "La autoridad tributaria"


# -- creating one --------------------------------------------------------------------------------------


def test_create_credit_note_sends_every_field_and_reads_the_answer(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/credit-notes").respond(201, json=fixture("credit-note-created-waiting-response.json"))
        result = adapter.create_credit_note(note_draft(warehouse_id="1", stamp=True))
    assert json.loads(route.calls.last.request.content) == {
        "date": "2026-11-09",
        "client": {"id": 57},
        "items": [{"id": 1, "price": "28000", "quantity": 1, "description": "Café de origen Huila 500 g",
                   "tax": [{"id": 2}]}],
        "invoices": [{"id": 1203, "amount": "29400"}],
        "type": "PARTIALL_DEVOLUTION",
        "observations": f"Devolución del pedido {MARKER}",
        "warehouse": {"id": 1},
        "stamp": {"generateStamp": True},
    }
    assert (result.erp_id, result.number, result.total, result.status) == ("41", "NC12", Decimal("29400"), "open")
    assert (result.legal_status, result.cufe, result.legal_reasons) == (LegalStatus.PENDING, "5d0e8a17", ())
    assert result.invoice_erp_ids == ("1203",)
    assert result.observations == f"Devolución del pedido {MARKER}" and result.raw["type"] == "PARTIALL_DEVOLUTION"


def test_a_note_without_stamp_nor_warehouse_leaves_them_out_and_keeps_six_decimals(adapter):
    line = InvoiceLineDraft("12", Decimal("1"), Decimal("9900") / Decimal("1.19"), "Envío", tax_ids=("1",))
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/credit-notes").respond(201, json=fixture("credit-note-plain-without-stamp.json"))
        result = adapter.create_credit_note(note_draft(lines=(line,), amount=Decimal("9900.00"), observations=""))
    sent = json.loads(route.calls.last.request.content)
    assert "stamp" not in sent and "warehouse" not in sent
    assert sent["items"][0]["price"] == "8319.327731" and sent["invoices"] == [{"id": 1203, "amount": "9900.00"}]
    assert sent["observations"] == MARKER
    assert result.legal_status is LegalStatus.NOT_ELECTRONIC and result.cufe is None


def test_long_observations_are_cut_but_keep_the_marker_whole(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/credit-notes").respond(201, json=fixture("credit-note-created-waiting-response.json"))
        adapter.create_credit_note(note_draft(observations="Devolución " * 80))
    observations = json.loads(route.calls.last.request.content)["observations"]
    assert len(observations) == 500 and observations.endswith(MARKER)


@pytest.mark.parametrize("changes", [
    {"lines": ()}, {"amount": Decimal("0")}, {"amount": Decimal("-1")}, {"invoice_erp_id": ""},
    {"contact_id": ""}, {"note_type": ""}, {"note_type": "PARTIAL_DEVOLUTION"},  # not Alegra's spelling
], ids=["no-lines", "zero", "negative", "no-invoice", "no-client", "no-type", "type-not-colombian"])
def test_an_incomplete_note_is_refused_before_sending(adapter, changes):
    with pytest.raises(InvalidPayload):
        adapter.create_credit_note(note_draft(**changes))
    assert adapter.calls == 0


def test_where_the_codes_are_unconfirmed_any_type_is_sent_as_given():
    adapter = make_adapter("PE")
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/credit-notes").respond(201, json=fixture("credit-note-plain-without-stamp.json"))
        adapter.create_credit_note(note_draft(note_type="ANULACION"))
    assert json.loads(route.calls.last.request.content)["type"] == "ANULACION"


@pytest.mark.parametrize("failure", [httpx.Response(502, json={"message": "Bad gateway"}),
                                     httpx.Response(500, json={"message": "Internal server error"}),
                                     httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"),
                                     httpx.Response(200, content=b"")],
                         ids=["502", "500", "timeout", "dropped", "empty-2xx"])
def test_the_note_post_is_never_retried_on_an_ambiguous_failure(adapter, failure):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/credit-notes").mock(side_effect=[failure])
        with pytest.raises(AmbiguousOutcome):
            adapter.create_credit_note(note_draft())
    assert route.call_count == 1


def test_alegras_refusal_is_a_permanent_rejection_in_its_words(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/credit-notes").respond(400, json={"message": "El valor supera el saldo de la factura",
                                                        "code": 4012})
        with pytest.raises(PermanentRejection, match="El valor supera el saldo de la factura"):
            adapter.create_credit_note(note_draft())


# -- reading -------------------------------------------------------------------------------------------


def test_get_credit_note_reads_strings_template_arrays_and_the_authoritys_reasons(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/credit-notes/42").respond(
            200, json=fixture("credit-note-rejected-strings-and-template-array.json"))
        result = adapter.get_credit_note("42")
    assert (result.erp_id, result.number, result.total) == ("42", "NC13", Decimal("119000.00"))
    assert (result.legal_status, result.cufe) == (LegalStatus.REJECTED, "77ab01")
    assert result.legal_reasons == ("CAD09e: La factura referenciada no ha sido aceptada por la DIAN.",
                                    "Documento rechazado por la DIAN")
    assert result.invoice_erp_ids == ("1207",)


def test_a_non_numeric_note_id_never_reaches_a_path(adapter):
    with pytest.raises(NotFound):
        adapter.get_credit_note("../invoices")
    assert adapter.calls == 0


@pytest.mark.parametrize("raw", [{"total": 10}, [], "NC12"], ids=["no-id", "list", "text"])
def test_an_answer_that_is_not_a_note_is_invalid(raw):
    with pytest.raises(InvalidPayload):
        parse_credit_note(raw)


def test_a_notes_code_is_read_as_cufe_or_cude():
    assert parse_credit_note({"id": 7, "total": 10, "stamp": {"legalStatus": "STAMPED_AND_ACCEPTED",
                                                               "cude": "e41b"}}).cufe == "e41b"


def test_a_note_linked_to_several_invoices_lists_each_once():
    result = parse_credit_note({"id": 7, "total": 10, "invoices": [{"id": 1}, {"id": "2"}, {"id": 1}, 3]})
    assert result.invoice_erp_ids == ("1", "2", "3")


def test_find_credit_note_by_marker_searches_the_days_around_for_that_client(adapter):
    found = fixture("credit-note-created-waiting-response.json")
    other = {**found, "id": 40, "observations": "[ML-1999-R1]"}
    by_day = {"2026-11-09": [other], "2026-11-08": [other, found]}

    def notes(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=by_day[request.url.params["date"]])

    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/credit-notes").mock(side_effect=notes)
        result = adapter.find_credit_note_by_marker(MARKER, contact_id="57", around=date(2026, 11, 9))
    assert result is not None and result.erp_id == "41"
    params = [call.request.url.params for call in route.calls]
    assert [p["date"] for p in params] == ["2026-11-09", "2026-11-08"]
    assert all(p["client_id"] == "57" and p["limit"] == "30" for p in params)


def test_find_credit_note_by_marker_returns_none_after_three_days(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/credit-notes").respond(200, json={"metadata": {"total": 0}, "data": []})
        assert adapter.find_credit_note_by_marker(MARKER, contact_id=None, around=date(2026, 11, 9)) is None
    assert [c.request.url.params["date"] for c in route.calls] == ["2026-11-09", "2026-11-08", "2026-11-10"]
    assert all("client_id" not in call.request.url.params for call in route.calls)


def test_iter_credit_notes_goes_day_by_day_and_page_by_page(adapter):
    first = fixture("credit-note-created-waiting-response.json")
    page = [{**first, "id": 100 + i} for i in range(30)]

    def notes(request: httpx.Request) -> httpx.Response:
        day, start = request.url.params["date"], int(request.url.params["start"])
        if day == "2026-11-09":
            return httpx.Response(200, json=page if start == 0 else [{**first, "id": 200}])
        return httpx.Response(200, json=[])

    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/credit-notes").mock(side_effect=notes)
        found = list(adapter.iter_credit_notes(date(2026, 11, 9), date(2026, 11, 10)))
    assert [n.erp_id for n in found] == [str(100 + i) for i in range(30)] + ["200"]
    assert [(c.request.url.params["date"], c.request.url.params["start"]) for c in route.calls] == [
        ("2026-11-09", "0"), ("2026-11-09", "30"), ("2026-11-10", "0")]


# -- any answer: a note or InvalidPayload, nothing else ---------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(field=st.sampled_from(sorted(fixture("credit-note-created-waiting-response.json"))), value=_json_values)
def test_a_mangled_answer_parses_or_is_invalid_never_crashes(field, value):
    raw = {**fixture("credit-note-created-waiting-response.json"), field: value}
    try:
        result = parse_credit_note(raw)
    except InvalidPayload:
        return
    assert isinstance(result.legal_status, LegalStatus) and isinstance(result.total, Decimal)
