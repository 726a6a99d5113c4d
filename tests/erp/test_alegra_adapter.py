"""AlegraAdapter on documented payload shapes (strict respx mocks): parsing, paging, contacts, invoices."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from connector.errors import InvalidPayload, NotFound
from connector.metrics import marker_scans
from erp.alegra.adapter import AlegraAdapter
from erp.alegra.invoice_parsing import parse_invoice
from erp.alegra.parsing import as_decimal, as_id
from erp.alegra.payloads import amount_text, fit_observations, split_person_name
from erp.base import ContactDraft, ERPOptions, InvoiceDraft, InvoiceLineDraft

BASE = "https://alegra.test/api/v1"
CREDENTIALS = {"email": "facturacion@tiendacafetera.co", "token": "tok-5ecret-9f2c77", "country": "CO"}
FIXTURES = Path(__file__).parent / "fixtures" / "alegra"
MARKER = "[ML-2000001234]"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_adapter(**options) -> AlegraAdapter:
    adapter = AlegraAdapter(CREDENTIALS, ERPOptions(base_url=BASE, **options), sleep=lambda _s: None)
    adapter.requestor.jitter = lambda: 0.0
    return adapter


@pytest.fixture
def adapter():
    adapter = make_adapter()
    yield adapter
    adapter.close()


def item_with(item_id: int, **fields) -> dict:
    item = copy.deepcopy(fixture("item-simple-with-barcode-custom-field.json"))
    item.update(id=item_id, name=f"Ítem {item_id}", reference=f"REF-{item_id}", **fields)
    return item


# -- account and settings --------------------------------------------------------------------------


def test_validate_credentials_returns_the_company(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/company").respond(200, json=fixture("company.json"))
        account = adapter.validate_credentials()
    assert (account.remote_id, account.display_name) == ("8812", "Tienda Cafetera S.A.S.")
    assert account.extra["identification"] == "901234567"


def test_taxes_and_number_templates_become_choices_with_useful_extras(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/taxes").respond(200, json=fixture("taxes.json"))
        router.get("/number-templates").respond(200, json=fixture("number-templates.json"))
        taxes = adapter.list_taxes()
        templates = adapter.list_number_templates()
    assert [(t.id, t.extra["percentage"]) for t in taxes] == [("1", Decimal("19.00")), ("2", Decimal("5"))]
    assert [(t.id, t.extra["prefix"], t.extra["isElectronic"], t.extra["isDefault"]) for t in templates] == [
        ("1", "FEV", True, True), ("2", "POS", False, False)]


def test_warehouses_and_price_lists_mark_the_default(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/warehouses").respond(200, json=[{"id": 1, "name": "Bodega principal", "isDefault": True},
                                                     {"id": "2", "name": "Bogotá", "isDefault": False}])
        router.get("/price-lists").respond(200, json={"metadata": {"total": 1},
                                                      "data": [{"id": 1, "name": "General", "main": True}]})
        warehouses, price_lists = adapter.list_warehouses(), adapter.list_price_lists()
    assert [(w.id, w.extra["isDefault"]) for w in warehouses] == [("1", True), ("2", False)]
    assert [(p.id, p.name, p.extra["isDefault"]) for p in price_lists] == [("1", "General", True)]


# -- items ---------------------------------------------------------------------------------------


def test_iter_items_pages_by_30_and_never_asks_for_more():
    catalog = [item_with(i) for i in range(1, 86)]  # 30 + 30 + 25

    def page(request: httpx.Request) -> httpx.Response:
        start, limit = int(request.url.params["start"]), int(request.url.params["limit"])
        return httpx.Response(200, json=catalog[start:start + limit])

    adapter = make_adapter()
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/items").mock(side_effect=page)
        items = list(adapter.iter_items())
    assert [i.erp_id for i in items] == [str(i) for i in range(1, 86)]
    params = [call.request.url.params for call in route.calls]
    assert [p["start"] for p in params] == ["0", "30", "60"]
    assert all(p["limit"] == "30" and p["order_field"] == "id" for p in params)


def test_simple_item_parses_prices_taxes_and_custom_field_barcode(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/items/1").respond(200, json=fixture("item-simple-with-barcode-custom-field.json"))
        item = adapter.get_item("1")
    assert item.erp_id == "1" and item.kind == "product" and item.active
    assert item.barcodes == ("7700000010019", "CAF-HUI-500")  # default "both": accent/case-insensitive name
    assert item.tax_ids == ("2",) and item.tax_rate == Decimal("5.00")
    assert item.prices == {"1": Decimal("28000"), "2": Decimal("25200.5")}


@pytest.mark.parametrize(("source", "custom_field_variant", "reference_variant"), [
    ("custom_field", ("7700000020028",), ()),
    ("reference", ("CAM-PIM-BLANCO-M",), ("7700000021032",)),
    ("both", ("7700000020028", "CAM-PIM-BLANCO-M"), ("7700000021032",)),
])
def test_variant_barcodes_follow_the_barcode_source(source, custom_field_variant, reference_variant):
    adapter = make_adapter(barcode_source=source)
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/items").respond(200, json=[fixture("item-variant-with-barcode-custom-field.json"),
                                                fixture("item-variant-with-barcode-in-reference.json")])
        in_custom_field, in_reference = adapter.iter_items()
    assert in_custom_field.barcodes == custom_field_variant
    assert in_reference.barcodes == reference_variant


def test_variants_carry_parent_and_options_in_both_documented_shapes(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/items").respond(200, json=[fixture("item-variant-with-barcode-custom-field.json"),
                                                fixture("item-variant-with-barcode-in-reference.json")])
        shirt, shoe = adapter.iter_items()
    assert (shirt.kind, shirt.parent_id, shirt.variant_options) == ("variant", "13", {"Color": "Blanco", "Talla": "M"})
    assert (shirt.tax_ids, shirt.tax_rate, shirt.prices) == (("1",), Decimal("19"), {"1": Decimal("49900")})
    assert (shoe.parent_id, shoe.variant_options, shoe.active) == ("20", {"Talla": "40"}, False)


def test_a_parent_yields_its_listed_variants_missing_from_the_list_once(adapter):
    listed_variant = fixture("item-variant-with-barcode-custom-field.json")  # id "15", also in itemVariants
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/items").respond(200, json=[fixture("item-variant-parent-with-item-variants.json"), listed_variant])
        items = list(adapter.iter_items())
    assert [(i.erp_id, i.kind) for i in items] == [("13", "variantParent"), ("15", "variant"), ("14", "variant")]
    parent, _, embedded = items
    assert parent.variant_options == {} and parent.barcodes == ("CAM-PIM",)
    assert (embedded.parent_id, embedded.tax_ids, embedded.prices) == ("13", ("1",), {"1": Decimal("49900")})
    assert embedded.variant_options == {"Color": "Blanco", "Talla": "S"}


def test_a_top_level_barcode_field_is_accepted_and_an_item_without_id_is_skipped(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/items").respond(200, json=[{"name": "sin id"}, item_with(7, barcode=7701234567890)])
        items = list(adapter.iter_items())
    assert [(i.erp_id, i.barcodes[0]) for i in items] == [("7", "7701234567890")]


def test_search_items_is_one_page_with_the_query(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/items", params={"query": "café", "limit": "30"}).respond(200, json=[item_with(1)])
        assert [i.erp_id for i in adapter.search_items("café")] == ["1"]
    assert route.call_count == 1


def test_get_item_404_is_not_found(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/items/404").respond(404, json={"message": "El ítem no existe", "code": 404})
        with pytest.raises(NotFound, match="El ítem no existe"):
            adapter.get_item("404")


# -- contacts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "expected"), [
    ("1020304050", "57"),  # identificationObject.number
    ("10203040", "58"),  # identification as an object
    ("110203040", "59"),  # identification as a string
    ("1020304", None),  # Alegra's contains-match returns all three: none is this buyer
])
def test_find_contact_accepts_only_an_exact_identification(adapter, number, expected):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/contacts").respond(200, json=fixture("contacts-identification-contains-match.json"))
        assert adapter.find_contact(number) == expected
    assert route.calls.last.request.url.params["identification"] == number


def test_create_contact_sends_alegras_colombian_shape(adapter):
    contact = ContactDraft(
        name="María José Restrepo Gómez", identification_type="CC", identification_number="1020304050",
        kind_of_person="PERSON_ENTITY", regime="SIMPLIFIED_REGIME", email="mj@example.co", phone="3001234567",
        address="Calle 10 # 43-12", city="Medellín", department="Antioquia", country="Colombia",
    )
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/contacts").respond(201, json={"id": 61, "name": contact.name})
        assert adapter.create_contact(contact) == "61"
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "name": "María José Restrepo Gómez", "type": ["client"],
        "nameObject": {"firstName": "María José", "lastName": "Restrepo Gómez"},
        "identificationObject": {"type": "CC", "number": "1020304050"},
        "kindOfPerson": "PERSON_ENTITY", "regime": "SIMPLIFIED_REGIME", "email": "mj@example.co",
        "phonePrimary": "3001234567",
        "address": {"address": "Calle 10 # 43-12", "city": "Medellín", "department": "Antioquia",
                    "country": "Colombia"},
    }


def test_a_company_contact_gets_no_name_object_and_keeps_its_dv(adapter):
    contact = ContactDraft(name="Comercializadora Zapata S.A.S.", identification_type="NIT",
                           identification_number="900123456", dv="7", kind_of_person="LEGAL_ENTITY")
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/contacts").respond(201, json={"id": "62"})
        assert adapter.create_contact(contact) == "62"
    sent = json.loads(route.calls.last.request.content)
    assert "nameObject" not in sent
    assert sent["identificationObject"] == {"type": "NIT", "number": "900123456", "dv": "7"}


def test_person_names_split_into_given_names_and_surnames():
    assert split_person_name("Camila") == {"firstName": "Camila"}
    assert split_person_name("Camila Restrepo") == {"firstName": "Camila", "lastName": "Restrepo"}
    assert split_person_name("Camila Restrepo Gómez") == {"firstName": "Camila", "lastName": "Restrepo Gómez"}


# -- invoices ------------------------------------------------------------------------------------


def invoice_draft(**changes) -> InvoiceDraft:
    draft = InvoiceDraft(
        marker=MARKER, contact_id="57", issue_date=date(2026, 11, 2), due_date=date(2026, 12, 2),
        lines=(
            InvoiceLineDraft("1", Decimal("2"), Decimal("28000"), "Café Huila", "CAF-HUI-500", tax_ids=("2",)),
            InvoiceLineDraft("25", Decimal("1"), Decimal("8319.327731092437"), "Envío", tax_ids=("1",),
                             discount_percent=Decimal("12.5")),
        ),
        status="open", stamp=True, warehouse_id="1", price_list_id="1", number_template_id="1",
        payment_form="CASH", payment_method="CASH", observations=f"Pedido Mercado Libre {MARKER}",
        annotation="Gracias por tu compra",
    )
    return replace(draft, **changes)


def test_create_invoice_sends_decimal_prices_as_text_and_every_field(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices").respond(201, json=fixture("invoice-created.json"))
        result = adapter.create_invoice(invoice_draft())
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "date": "2026-11-02", "dueDate": "2026-12-02", "client": {"id": 57}, "status": "open",
        "items": [
            {"id": 1, "price": "28000", "quantity": 2, "description": "Café Huila", "reference": "CAF-HUI-500",
             "tax": [{"id": 2}]},
            {"id": 25, "price": "8319.327731", "quantity": 1, "discount": "12.5", "description": "Envío",
             "tax": [{"id": 1}]},
        ],
        "observations": f"Pedido Mercado Libre {MARKER}", "anotation": "Gracias por tu compra",
        "warehouse": {"id": 1}, "priceList": {"id": 1}, "numberTemplate": {"id": 1},
        "paymentForm": "CASH", "paymentMethod": "CASH", "stamp": {"generateStamp": True},
    }
    assert (result.erp_id, result.number, result.total, result.status) == ("1203", "FEV1001", Decimal("58800"), "open")
    assert result.stamp_status == "STAMPED_AND_ACCEPTED"


def test_a_draft_without_stamp_or_annotation_leaves_them_out_and_adds_the_marker(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices").respond(201, json=fixture("invoice-created-number-template-array.json"))
        result = adapter.create_invoice(invoice_draft(status="draft", stamp=False, annotation="", observations=""))
    sent = json.loads(route.calls.last.request.content)
    assert "stamp" not in sent and "anotation" not in sent
    assert sent["observations"] == MARKER and sent["status"] == "draft"
    assert (result.erp_id, result.number, result.total, result.stamp_status) == ("1204", "POS17", Decimal("220150.00"), None)


def test_long_observations_are_cut_to_500_but_keep_the_marker_whole():
    for text in ("x" * 600 + f" {MARKER}", f"{MARKER} " + "y" * 600, "z" * 495 + MARKER):
        fitted = fit_observations(text, MARKER)
        assert len(fitted) <= 500 and MARKER in fitted
    assert fit_observations("corto", MARKER) == f"corto {MARKER}"


def test_long_annotation_is_truncated_to_500(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices").respond(201, json=fixture("invoice-created.json"))
        adapter.create_invoice(invoice_draft(annotation="n" * 800))
    assert len(json.loads(route.calls.last.request.content)["anotation"]) == 500


def test_an_invoice_without_lines_is_refused_before_sending(adapter):
    with pytest.raises(InvalidPayload):
        adapter.create_invoice(invoice_draft(lines=()))
    assert adapter.calls == 0


def test_find_invoice_by_marker_reads_the_clients_newest_invoices_first(adapter):
    found = fixture("invoice-created.json")
    newest = [{**found, "id": 1300 - i, "observations": f"[ML-{i}]"} for i in range(10)] + [found]
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/invoices").respond(200, json=newest)
        result = adapter.find_invoice_by_marker(MARKER, contact_id="57", around=date(2026, 11, 2))
    assert result is not None and result.erp_id == "1203"
    params = route.calls.last.request.url.params
    assert route.call_count == 1 and "date" not in params
    assert (params["order_field"], params["order_direction"], params["start"], params["limit"],
            params["client_id"]) == ("id", "DESC", "0", "30", "57")
    assert adapter.marker_search.full_scans == 0


def test_a_short_newest_page_proves_the_invoice_was_not_created_in_one_read(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/invoices").respond(200, json=[{**fixture("invoice-created.json"), "observations": ""}])
        assert adapter.find_invoice_by_marker(MARKER, contact_id=None, around=date(2026, 11, 2)) is None
    assert route.call_count == 1
    assert "client_id" not in route.calls.last.request.url.params


def _full_pages(first_id: int, pages: int) -> list[list[dict]]:
    plain = {**fixture("invoice-created.json"), "observations": "[ML-1999]"}
    return [[{**plain, "id": first_id - 30 * p - i} for i in range(30)] for p in range(pages)]


def test_a_newest_page_reaching_an_older_invoice_proves_absence(adapter):
    pages = _full_pages(2000, 2)  # ids 2000..1971, then 1970..1941

    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/invoices").mock(side_effect=[httpx.Response(200, json=p) for p in pages])
        # 1950 was recorded before the attempt: the second page reaches it, nothing newer is missing
        assert adapter.find_invoice_by_marker(MARKER, contact_id="57", around=date(2026, 11, 2),
                                              older_than="1950") is None
    assert [c.request.url.params["start"] for c in route.calls] == ["0", "30"]
    assert adapter.marker_search.full_scans == 0


def test_a_page_not_in_newest_first_order_proves_nothing(adapter):
    oldest_first = _full_pages(2000, 1)[0][::-1]  # a server that ignored order_direction
    found = {**fixture("invoice-created.json"), "id": 2100}

    def invoices(request: httpx.Request) -> httpx.Response:
        if "date" not in request.url.params:
            return httpx.Response(200, json=oldest_first)
        return httpx.Response(200, json=[found] if request.url.params["date"] == "2026-11-02" else [])

    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/invoices").mock(side_effect=invoices)
        # 1950 is on the page, but the page is the oldest invoices: the new one may be above them
        result = adapter.find_invoice_by_marker(MARKER, contact_id="57", around=date(2026, 11, 2),
                                                older_than="1950")
    assert result is not None and result.erp_id == "2100"
    assert [c.request.url.params.get("date") for c in route.calls] == [None, "2026-11-02"]
    assert adapter.marker_search.full_scans == 1


def test_the_day_by_day_scan_is_the_last_resort_and_counted(adapter):
    found = fixture("invoice-created.json")
    other = {**found, "id": 1190, "observations": "[ML-1999]"}
    pages = _full_pages(5000, 2)
    by_day = {"2026-11-02": [other], "2026-11-01": [other, found], "2026-11-03": []}

    def invoices(request: httpx.Request) -> httpx.Response:
        if "date" not in request.url.params:
            return httpx.Response(200, json=pages[int(request.url.params["start"]) // 30])
        return httpx.Response(200, json=by_day[request.url.params["date"]])

    scans_before = marker_scans.snapshot().get(("Alegra", "scan"), 0)
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/invoices").mock(side_effect=invoices)
        # no older invoice known (or one older than both pages): two full pages prove nothing
        result = adapter.find_invoice_by_marker(MARKER, contact_id="57", around=date(2026, 11, 2), older_than="10")
    assert result is not None and result.erp_id == "1203"
    params = [call.request.url.params for call in route.calls]
    assert [p.get("date") for p in params] == [None, None, "2026-11-02", "2026-11-01"]
    assert all(p["client_id"] == "57" and p["limit"] == "30" for p in params)
    assert adapter.marker_search.full_scans == 1
    assert marker_scans.snapshot()[("Alegra", "scan")] == scans_before + 1  # /metrics shows it too


# -- scalar readers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [(12, "12"), ("12", "12"), (12.0, "12"), ({"id": 12}, "12"),
                                               (None, None), ("", None)])
def test_ids_come_as_numbers_or_strings(raw, expected):
    assert as_id(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("19.00", Decimal("19.00")), (19, Decimal("19")),
                                               (0.1, Decimal("0.1")), ("abc", None), (None, None)])
def test_amounts_come_as_numbers_or_strings(raw, expected):
    assert as_decimal(raw) == expected


def test_amount_text_keeps_six_decimals_without_float_noise():
    assert amount_text(Decimal("23529.411764705882")) == "23529.411765"
    assert amount_text(Decimal("2.8E+4")) == "28000"
    assert amount_text(Decimal("0.10")) == "0.10"


def test_an_invoice_answer_without_id_is_invalid():
    with pytest.raises(InvalidPayload):
        parse_invoice({"total": 10})
