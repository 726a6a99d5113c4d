"""The ERP contract (erp/base.py), run over every registered ERP against its own sandbox, in every
country its sandbox serves — a second ERP is picked up from the registry and ``sandbox.erp_sandboxes``.

What the core relies on: the declaration is complete and consistent (the CLI and the panel render
from it), credentials are checked, the catalog is read, a buyer is found or created by the exact
document, an invoice is created once and found again by its marker (also after an answer that never
came), what follows the invoice (status, stamp, PDF, e-mail, payment), credit notes, and each failure
becomes the error that tells the caller what to do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from connector.errors import (
    AmbiguousOutcome,
    ConnectorError,
    FeatureNotAvailable,
    InvalidCredentials,
    NotFound,
    PermanentRejection,
)
from connector.http import WaitLimits
from connector.outcomes import Outcome, outcome_of
from connector.rules import InvoicingSettings
from erp.base import (
    AccountInfo,
    CatalogItem,
    Choice,
    ContactDraft,
    CreditNoteDraft,
    ERPOptions,
    InvoiceDraft,
    InvoiceLineDraft,
    ItemDraft,
    LegalStatus,
    PaymentDraft,
    declaration_problems,
)
from erp.registry import ERPS, erp_class
from sandbox.erp_sandboxes import ERP_SANDBOX_COUNTRIES, ERP_SANDBOXES, erp_knobs
from sandbox.knobs import Knobs
from sandbox.server import Sandbox

CASES = [(kind, country) for kind in sorted(ERPS) for country in ERP_SANDBOX_COUNTRIES.get(kind, (None,))]


@dataclass
class Kit:
    """One ERP's sandbox (``Sandbox.erp(kind)``) in one country, as this suite uses it."""

    kind: str
    country: str | None
    base_url: str
    credentials: dict[str, str]
    bad_credentials: dict[str, str]
    knobs: Knobs


@pytest.fixture(params=CASES, ids=[f"{kind}-{country or 'default'}" for kind, country in CASES])
def kit(request):
    kind, country = request.param
    if kind not in ERP_SANDBOXES:
        pytest.fail(f"{kind} has no sandbox in sandbox/erp_sandboxes.py: the contract cannot run over it")
    box = Sandbox(order_count=1, country=country or "CO",
                  **erp_knobs(kind, rate_limit_per_minute=0, stamp_answer_delay=0.0)).start()
    erp = box.erp(kind)
    yield Kit(kind, country, erp.url, erp.credentials, erp.wrong_credentials, erp.knobs)
    box.stop()


def make(kit, *, credentials=None, timeout: float = 10.0):
    options = ERPOptions(base_url=kit.base_url, timeout=timeout, wait_limits=WaitLimits(max_retry_after=1, deadline=8),
                         allow_private_network=True)
    return erp_class(kit.kind)(credentials or kit.credentials, options)


@pytest.fixture
def erp(kit):
    adapter = make(kit)
    yield adapter
    adapter.close()


def profile_of(kit):
    return erp_class(kit.kind).fiscal_profile(kit.country)


def a_buyer(kit, **changes) -> ContactDraft:
    """A buyer with a fresh document of the country's default identification type."""
    profile = profile_of(kit)
    number = str(uuid.uuid4().int)[:10]
    values = dict(name="Ana Ríos", identification_type=profile.default("identification_type"),
                  identification_number=number, kind_of_person=profile.default("kind_of_person"),
                  regime=profile.default("regime"), email="ana@example.com", address="Calle 1 # 2-3",
                  city="Ciudad", department="Provincia", country=profile.country_name, zip_code="00000",
                  district="Centro")
    values.update(changes)
    return ContactDraft(**values)


def an_item(erp) -> CatalogItem:
    return next(i for i in erp.iter_items() if i.kind in ("product", "variant") and i.prices)


def an_invoice(kit, erp, contact_id: str, item: CatalogItem, *, quantity: int = 2) -> InvoiceDraft:
    profile = profile_of(kit)
    price = next(iter(item.prices.values()))
    return InvoiceDraft(
        marker=f"[CX-T-{uuid.uuid4().hex[:10]}]", contact_id=contact_id, issue_date=date.today(),
        due_date=date.today(), status="open", payment_form=profile.default("payment_form"),
        payment_method=profile.default("payment_method"),
        lines=(InvoiceLineDraft(item_id=item.erp_id, quantity=Decimal(quantity), unit_price=price,
                                description=item.name, tax_ids=item.tax_ids),))


def expected_total(item: CatalogItem, quantity: int) -> Decimal:
    price = next(iter(item.prices.values()))
    return (price * quantity * (1 + item.tax_rate / 100)).quantize(Decimal("0.01"), ROUND_HALF_UP)


# -- the declaration ----------------------------------------------------------------------------


def test_every_registered_erp_has_a_sandbox_for_this_suite():
    assert set(ERPS) <= set(ERP_SANDBOXES), "an ERP without a sandbox in sandbox/erp_sandboxes.py"


def test_the_declaration_is_complete_and_consistent(kit):
    cls = erp_class(kit.kind)
    assert cls.name == kit.kind and cls.display_name and cls.setup_help
    assert declaration_problems(cls) == []
    assert cls.supported_settings <= set(InvoicingSettings.model_fields), "a setting the core does not know"
    for field in cls.credential_fields:
        assert field.label
        if any(word in field.name for word in ("token", "secret", "password", "key")):
            assert field.secret, f"{field.name} must be marked secret"
        if field.default is not None and field.choices:
            assert field.default in field.choice_codes()
    if cls.country_credential is not None:
        country_field = next(f for f in cls.credential_fields if f.name == cls.country_credential)
        assert kit.country in country_field.choice_codes()


def test_the_country_profile_is_the_kit_country_and_its_codes_are_usable(kit):
    profile = profile_of(kit)
    if kit.country:
        assert profile.country == kit.country
    assert profile.tax_authority and profile.currency and profile.country_name
    for name in ("identification_type", "kind_of_person", "regime", "payment_form", "payment_method"):
        assert profile.default(name) in {o.code for o in profile.options(name)}, name
    uses = {o.use for o in profile.credit_note_types}
    assert {"full", "partial"} <= uses
    assert {f.name for f in dataclass_fields(ContactDraft)} >= set(profile.required_address_fields)


# -- credentials --------------------------------------------------------------------------------


def test_good_credentials_name_the_account(erp):
    info = erp.validate_credentials()
    assert isinstance(info, AccountInfo) and info.remote_id and info.display_name


def test_bad_credentials_are_refused_in_words_without_the_secret(kit):
    adapter = make(kit, credentials=kit.bad_credentials)
    with pytest.raises(InvalidCredentials) as refused:
        adapter.validate_credentials()
    adapter.close()
    message = refused.value.user_message
    assert message and outcome_of(refused.value) is Outcome.MISCONFIGURED
    for field in erp_class(kit.kind).credential_fields:
        if field.secret:
            assert kit.bad_credentials[field.name] not in message


# -- catalog ------------------------------------------------------------------------------------


def test_the_catalog_reads_every_item_with_its_tax(erp):
    items = list(erp.iter_items())
    assert items and all(isinstance(i, CatalogItem) and i.erp_id and i.name for i in items)
    assert len({i.erp_id for i in items}) == len(items)
    rates = {Decimal(str(t.extra.get("percentage"))) for t in erp.list_taxes() if "percentage" in t.extra}
    taxed = [i for i in items if i.tax_ids]
    assert taxed and all(i.tax_rate in rates for i in taxed)
    item = an_item(erp)
    assert erp.get_item(item.erp_id).erp_id == item.erp_id
    assert item.erp_id in {i.erp_id for i in erp.search_items(item.name.split()[0])}
    for choices in (erp.list_warehouses(), erp.list_price_lists(), erp.list_number_templates()):
        assert choices and all(isinstance(c, Choice) and c.id and c.name for c in choices)


def test_an_unknown_item_is_not_found(erp):
    with pytest.raises(NotFound):
        erp.get_item("987654321")


def test_the_country_taxes_are_served(kit, erp):
    """The sandbox serves each country's own taxes (IVA 19 % Colombia, 16 % Mexico, IGV 18 % Peru...)."""
    general = {"CO": Decimal("19"), "MX": Decimal("16"), "PE": Decimal("18"), "PA": Decimal("7")}.get(
        profile_of(kit).country)
    if general is None:
        pytest.skip("no known general rate for this country")
    assert general in {Decimal(str(t.extra.get("percentage"))) for t in erp.list_taxes()}


# -- contacts -----------------------------------------------------------------------------------


def test_a_buyer_is_created_once_and_found_by_the_exact_document(kit, erp):
    buyer = a_buyer(kit)
    assert erp.find_contact(buyer.identification_number) is None
    contact_id = erp.create_contact(buyer)
    assert contact_id
    assert erp.find_contact(buyer.identification_number) == contact_id
    assert erp.find_contact(buyer.identification_number[:-2]) is None  # contains is not the same document
    erp.update_contact(contact_id, a_buyer(kit, identification_number=buyer.identification_number,
                                           email="nuevo@example.com"))
    assert erp.find_contact(buyer.identification_number) == contact_id


def test_the_final_consumer_of_the_country_can_be_invoiced(kit, erp):
    consumer = profile_of(kit).final_consumer
    contact_id = erp.find_contact(consumer.identification_number) or erp.create_contact(ContactDraft(
        name=consumer.name, identification_type=consumer.identification_type,
        identification_number=consumer.identification_number, kind_of_person=consumer.kind_of_person))
    item = an_item(erp)
    result = erp.create_invoice(an_invoice(kit, erp, contact_id, item, quantity=1))
    assert result.total == expected_total(item, 1)


# -- a product created from a SKU, stock and prices for the channels -----------------------------


def supported(kit, call):
    """``call()``, or a skip naming the ERP's own words when the ERP declares the operation unsupported
    (``FeatureNotAvailable``): the only reason this suite skips an operation."""
    try:
        return call()
    except FeatureNotAvailable as unsupported:
        pytest.skip(f"{kit.kind} declares it unsupported: {unsupported.user_message}")


def test_an_item_is_created_once_found_by_its_code_and_a_duplicate_code_is_refused(kit, erp):
    tax = next(t for t in erp.list_taxes() if Decimal(str(t.extra.get("percentage") or 0)) > 0)
    code = f"CX{uuid.uuid4().hex[:12].upper()}"
    assert erp.find_item_by_code(code) is None
    draft = ItemDraft(name="Taza de cerámica", code=code, price=Decimal("12000"), tax_ids=(tax.id,))
    created = supported(kit, lambda: erp.create_item(draft))
    assert created.erp_id and created.name == "Taza de cerámica" and created.tax_ids == (tax.id,)
    assert Decimal("12000") in created.prices.values()
    found = erp.find_item_by_code(code)
    assert found is not None and found.erp_id == created.erp_id
    assert erp.get_item(created.erp_id).name == "Taza de cerámica"
    with pytest.raises(PermanentRejection) as refused:
        erp.create_item(replace(draft, name="Otra taza", price=Decimal("9000")))
    assert refused.value.user_message and outcome_of(refused.value) is Outcome.REJECTED
    assert erp.find_item_by_code(code).erp_id == created.erp_id


def test_stock_is_read_per_warehouse_and_an_invoice_naming_the_warehouse_lowers_it(kit, erp):
    warehouse = erp.list_warehouses()[0]
    stocks = supported(kit, lambda: list(erp.iter_item_stock(warehouse.id)))
    assert any(s.quantity is None for s in stocks), "a service keeps no stock: quantity None"
    stock = next(s for s in stocks if s.quantity is not None and s.quantity >= 2 and s.prices)
    assert erp.get_item_stock(stock.erp_id, warehouse.id) == stock
    everywhere = erp.get_item_stock(stock.erp_id, None).quantity
    assert everywhere >= stock.quantity
    item = erp.get_item(stock.erp_id)
    contact_id = erp.create_contact(a_buyer(kit))
    erp.create_invoice(replace(an_invoice(kit, erp, contact_id, item, quantity=2), warehouse_id=warehouse.id))
    after = erp.get_item_stock(item.erp_id, warehouse.id)
    assert after.quantity == stock.quantity - 2 and after.prices == stock.prices
    assert erp.get_item_stock(item.erp_id, None).quantity == everywhere - 2
    assert next(s for s in erp.iter_item_stock(warehouse.id) if s.erp_id == item.erp_id).quantity == after.quantity


def test_the_stock_of_an_unknown_item_is_not_found(kit, erp):
    with pytest.raises(NotFound):
        supported(kit, lambda: erp.get_item_stock("987654321", None))


# -- invoices -----------------------------------------------------------------------------------


def test_an_invoice_is_created_with_the_expected_total_and_found_by_its_marker(kit, erp):
    item = an_item(erp)
    contact_id = erp.create_contact(a_buyer(kit))
    draft = an_invoice(kit, erp, contact_id, item)
    created = erp.create_invoice(draft)
    assert created.erp_id and created.total == expected_total(item, 2)
    found = erp.find_invoice_by_marker(draft.marker, contact_id=contact_id, around=draft.issue_date)
    assert found is not None and found.erp_id == created.erp_id
    assert erp.find_invoice_by_marker("[CX-NADIE-0]", contact_id=None, around=draft.issue_date) is None
    listed = {i.erp_id for i in erp.iter_invoices(draft.issue_date - timedelta(days=1), draft.issue_date)}
    assert created.erp_id in listed


def test_an_answer_that_never_came_is_ambiguous_and_the_marker_finds_the_one_invoice(kit):
    adapter = make(kit, timeout=0.5)
    item = an_item(adapter)
    contact_id = adapter.create_contact(a_buyer(kit))
    draft = an_invoice(kit, adapter, contact_id, item)
    kit.knobs.update({"timeout_after_commit_rate": 1.0, "commit_stall_seconds": 2.0})
    try:
        with pytest.raises(AmbiguousOutcome) as lost:
            adapter.create_invoice(draft)
    finally:
        kit.knobs.update({"timeout_after_commit_rate": 0.0})
    assert outcome_of(lost.value) is Outcome.AMBIGUOUS
    found = adapter.find_invoice_by_marker(draft.marker, contact_id=contact_id, around=draft.issue_date)
    assert found is not None and found.total == expected_total(item, 2)
    adapter.close()


# -- after the invoice --------------------------------------------------------------------------


def test_after_the_invoice_status_stamp_pdf_email_and_payment(kit, erp):
    item = an_item(erp)
    contact_id = erp.create_contact(a_buyer(kit))
    created = erp.create_invoice(an_invoice(kit, erp, contact_id, item))
    now = erp.get_invoice(created.erp_id)
    assert now.erp_id == created.erp_id and now.total == created.total
    assert now.legal_status is LegalStatus.NOT_ELECTRONIC
    try:
        erp.stamp_invoice(created.erp_id)
    except FeatureNotAvailable as unsupported:  # an ERP that emits only at creation says so, in words
        assert unsupported.user_message and outcome_of(unsupported) is Outcome.MISCONFIGURED
    else:
        assert erp.get_invoice(created.erp_id).legal_status is not LegalStatus.NOT_ELECTRONIC
    document = erp.download_invoice_pdf(created.erp_id)
    assert document.content.startswith(b"%PDF") and document.filename
    erp.email_invoice(created.erp_id, ["ana@example.com"])
    account = erp.list_bank_accounts()[0]
    method = erp.payment_methods()[0]
    erp.create_payment(PaymentDraft(marker=f"[CX-P-{uuid.uuid4().hex[:8]}]", date=date.today(),
                                    amount=created.total, account_id=account.id, method=method.id,
                                    invoice_erp_id=created.erp_id, contact_id=contact_id))
    paid = erp.get_invoice(created.erp_id)
    assert paid.balance == 0 and sum(p.amount for p in paid.payments) == created.total


# -- credit notes -------------------------------------------------------------------------------


def test_a_credit_note_voids_the_invoice_once_and_is_found_by_its_marker(kit, erp):
    item = an_item(erp)
    contact_id = erp.create_contact(a_buyer(kit))
    # Emitted first: a note on an electronic invoice needs the authority's acceptance (Siigo refuses it
    # before; the core waits for it too).
    draft = replace(an_invoice(kit, erp, contact_id, item), stamp=True)
    invoice = erp.create_invoice(draft)
    types = erp.credit_note_types()
    full = next(t for t in types if t.extra.get("use") == "full")
    assert any(t.extra.get("use") == "partial" for t in types)
    note = CreditNoteDraft(marker=f"[CX-N-{uuid.uuid4().hex[:8]}]", contact_id=contact_id,
                           invoice_erp_id=invoice.erp_id, issue_date=date.today(), lines=draft.lines,
                           amount=invoice.total, note_type=full.id)
    created = erp.create_credit_note(note)
    assert created.erp_id and created.total == invoice.total
    found = erp.find_credit_note_by_marker(note.marker, contact_id=contact_id, around=note.issue_date)
    assert found is not None and found.erp_id == created.erp_id
    assert invoice.erp_id in erp.get_credit_note(created.erp_id).invoice_erp_ids


# -- errors -------------------------------------------------------------------------------------


def test_an_invoice_of_an_item_that_does_not_exist_is_a_permanent_rejection_in_words(kit, erp):
    contact_id = erp.create_contact(a_buyer(kit))
    draft = InvoiceDraft(marker="[CX-X-1]", contact_id=contact_id, issue_date=date.today(), due_date=date.today(),
                         status="open", lines=(InvoiceLineDraft(item_id="987654321", quantity=Decimal(1),
                                                                unit_price=Decimal(10)),))
    with pytest.raises(PermanentRejection) as refused:
        erp.create_invoice(draft)
    assert outcome_of(refused.value) is Outcome.REJECTED and refused.value.user_message


# (what the sandbox does, the call, what the caller must do): a 5xx on a read is retried later; on a write
# it is ambiguous (the write may have happened: read the remote state before anything is sent again); a
# 429 did nothing, so retrying is safe.
FAILURES = [
    ({"maintenance_until": 4102444800.0}, "read", Outcome.RETRY),
    ({"maintenance_until": 4102444800.0}, "write", Outcome.AMBIGUOUS),
    ({"burst_429_rate": 1.0}, "write", Outcome.RETRY),
]


@pytest.mark.parametrize(("knobs", "call", "outcome"), FAILURES, ids=["5xx-read", "5xx-write", "429-write"])
def test_each_failure_becomes_the_error_that_says_what_to_do(kit, knobs, call, outcome):
    adapter = make(kit, timeout=2)
    contact = a_buyer(kit)
    if call == "write":  # signed in first (an ERP with a session token): the write itself meets the fault
        adapter.list_warehouses()
    kit.knobs.update(knobs)
    try:
        with pytest.raises(ConnectorError) as failed:
            if call == "read":
                adapter.validate_credentials()
            else:
                adapter.create_contact(contact)
    finally:
        kit.knobs.update({key: type(value)(0) for key, value in knobs.items()})
        adapter.close()
    assert outcome_of(failed.value) is outcome and failed.value.user_message
