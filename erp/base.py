"""What an ERP adapter declares and provides, and the ERP-neutral documents the core hands it.

An ERP adapter knows one ERP and nothing about marketplaces. Adding an ERP is one package
(``erp/<name>/``), its sandbox, its tests and one line in ``erp/registry.py``;
``tests/erp/test_contract.py`` runs the same suite over every registered ERP.

**The declaration** (class attributes and class methods, read without credentials or network):

* ``name`` (the registry key), ``display_name``, ``setup_help`` (where the seller finds the
  credentials, shown above the connect form and in ``connector erp connect --help``);
* ``credential_fields``: the connect form (:class:`~integrations.declarations.CredentialField`, with
  ``choices``/``default``/``help``); the CLI builds ``erp connect``'s flags from it and the panel its
  inputs;
* ``country_credential``: the credential field naming the account's country (its ``choices`` are the
  countries the ERP serves), or ``None`` for an ERP of one country;
* ``supported_settings``: the :class:`connector.rules.InvoicingSettings` names the ERP honours (the
  panel shows only those);
* ``fiscal_profile(country)``: the :class:`FiscalProfile` of a country (its code lists, defaults, the
  final consumer, the address fields it needs, its time zone); ``country=None`` is the ERP's default.

:func:`profile_for_credentials` gives the profile of a stored connection. The core reads every fiscal
code list, default and country fact from the profile, never from a literal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from erp.declaration import (  # noqa: F401 (re-exported: adapters and the core import them from here)
    ContactField,
    FinalConsumer,
    FiscalProfile,
    declaration_problems,
    profile_for_credentials,
)
from integrations.declarations import AccountInfo, CredentialField, Option  # noqa: F401 (re-exported)
from integrations.http import WaitLimits


@dataclass(frozen=True)
class ERPOptions:
    """Process-level options for an ERP adapter. ``base_url`` only in sandbox/dev mode."""

    base_url: str | None = None
    timeout: float = 20.0
    wait_limits: WaitLimits = field(default_factory=WaitLimits)  # Retry-After cap and call deadline
    barcode_source: str = "both"  # "custom_field" | "reference" | "both" (see API_NOTES: unconfirmed)
    barcode_field_names: tuple[str, ...] = ("barcode", "código de barras", "codigo de barras", "ean")
    # Documents the ERP links to (an invoice's PDF) may live on private/loopback hosts: sandbox/dev only.
    allow_private_network: bool = False


@dataclass(frozen=True)
class CatalogItem:
    """One ERP item as the mapping layer needs it.

    ``kind`` is the ERP's type: product | service | kit | variantParent | variant.
    Variant items carry ``parent_id`` and ``variant_options`` ({"Color": "Rojo", "Talla": "M"}).
    """

    erp_id: str
    name: str
    kind: str = "product"
    reference: str | None = None
    barcodes: tuple[str, ...] = ()
    parent_id: str | None = None
    variant_options: dict[str, str] = field(default_factory=dict)
    tax_ids: tuple[str, ...] = ()
    tax_rate: Decimal = Decimal("0")  # total percentage of the item's taxes, e.g. 19
    active: bool = True
    prices: dict[str, Decimal] = field(default_factory=dict)  # price list id -> price


@dataclass(frozen=True)
class ItemDraft:
    """A new ERP item, made from a marketplace line whose SKU the catalog lacks. ``code`` is what the
    seller's matching mode looks for (a reference code or a barcode); ``price`` is before tax when
    ``tax_ids`` is non-empty, as on an invoice line; ``price_list_id`` None: the ERP's default list."""

    name: str
    code: str
    price: Decimal
    tax_ids: tuple[str, ...] = ()
    price_list_id: str | None = None


@dataclass(frozen=True)
class ItemStock:
    """What the ERP has of one item for the channels: its available quantity in one warehouse and its
    prices. ``quantity`` None: the item keeps no inventory (a service, a variant parent) and its stock
    is never published. The ERP owns stock: the connector only reads it (an invoice naming a warehouse
    already lowers it there)."""

    erp_id: str
    quantity: Decimal | None
    prices: dict[str, Decimal] = field(default_factory=dict)  # price list id -> price (before tax)
    name: str = ""


@dataclass(frozen=True)
class Choice:
    """A value from the ERP the seller picks in a dropdown (warehouse, price list, tax, numbering)."""

    id: str
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactDraft:
    """The buyer as the ERP should know them, after fallbacks were applied."""

    name: str
    identification_type: str | None
    identification_number: str
    dv: str | None = None
    kind_of_person: str | None = None  # PERSON_ENTITY | LEGAL_ENTITY
    regime: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    city: str | None = None
    department: str | None = None
    country: str | None = None
    zip_code: str | None = None
    district: str | None = None  # the part of a city some countries ask for (Panama's corregimiento)
    # Country-specific fiscal fields, keyed by the profile's ContactField names (Mexico's uso CFDI,
    # Panama's receiver type...): the adapter places each where its API wants it.
    fiscal_fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvoiceLineDraft:
    item_id: str
    quantity: Decimal
    unit_price: Decimal  # before tax when tax_ids is non-empty
    description: str = ""
    reference: str | None = None
    discount_percent: Decimal = Decimal("0")
    tax_ids: tuple[str, ...] = ()


class LegalStatus(StrEnum):
    """The tax authority's answer on an electronic invoice, in the ERP-neutral words the core uses.

    ``not_electronic``: never stamped (a plain or draft invoice). ``pending``: stamped, no answer yet.
    The last three are final."""

    NOT_ELECTRONIC = "not_electronic"
    PENDING = "pending"
    ACCEPTED = "accepted"
    ACCEPTED_WITH_OBSERVATIONS = "accepted_with_observations"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in (LegalStatus.ACCEPTED, LegalStatus.ACCEPTED_WITH_OBSERVATIONS, LegalStatus.REJECTED)

    @property
    def is_accepted(self) -> bool:
        return self in (LegalStatus.ACCEPTED, LegalStatus.ACCEPTED_WITH_OBSERVATIONS)


@dataclass(frozen=True)
class PaymentDraft:
    """A payment received for an invoice: inline at creation (``invoice_erp_id`` None) or later
    against an existing invoice. ``marker`` lets an ambiguous write be found again."""

    marker: str
    date: date
    amount: Decimal
    account_id: str  # the ERP's bank account or cash box
    method: str  # cash | check | transfer | deposit | credit-card | debit-card
    invoice_erp_id: str | None = None
    contact_id: str | None = None


@dataclass(frozen=True)
class PaymentResult:
    erp_id: str | None
    amount: Decimal
    date: date | None = None
    account_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InvoiceDocument:
    """The printable invoice (its PDF) as the ERP serves it."""

    content: bytes
    filename: str
    content_type: str = "application/pdf"


@dataclass(frozen=True)
class InvoiceDraft:
    """An invoice ready to send. ``marker`` identifies the marketplace order inside the ERP so an
    ambiguous outcome can be resolved by searching for it (the ERP has no idempotency key)."""

    marker: str
    contact_id: str
    issue_date: date
    due_date: date
    lines: tuple[InvoiceLineDraft, ...]
    status: str = "draft"  # "open" | "draft"
    stamp: bool = False  # emit the electronic invoice
    warehouse_id: str | None = None
    price_list_id: str | None = None
    number_template_id: str | None = None
    payment_form: str | None = None  # CASH | CREDIT
    payment_method: str | None = None
    observations: str = ""  # internal, not printed; carries the marker
    annotation: str = ""  # printed on the PDF
    currency: str | None = None
    payment: PaymentDraft | None = None  # recorded inline: invoice and payment are one write
    document_kind: str | None = None  # where the buyer decides it (Peru's factura/boleta): the profile's code


@dataclass(frozen=True)
class InvoiceResult:
    """An invoice as the ERP answers it (on creation, on a search, or on a read by id).

    ``legal_status``/``cufe``/``legal_reasons`` follow the e-invoice; ``balance`` is what is still owed
    (None when unknown); ``payments`` those recorded against it; ``emailed_to`` the addresses the ERP
    says it e-mailed it to, or None when the ERP does not tell (then an uncertain e-mail is never
    repeated by itself)."""

    erp_id: str
    number: str | None
    total: Decimal
    status: str
    stamp_status: str | None = None  # the ERP's own word for the e-invoice status
    raw: dict[str, Any] = field(default_factory=dict)
    legal_status: LegalStatus = LegalStatus.NOT_ELECTRONIC
    cufe: str | None = None  # the authority's unique code of an accepted e-invoice
    legal_reasons: tuple[str, ...] = ()  # the authority's own words (rejection reasons, observations)
    balance: Decimal | None = None
    payments: tuple[PaymentResult, ...] = ()
    emailed_to: tuple[str, ...] | None = None
    pdf_url: str | None = None  # a (short-lived) link to the PDF, when the ERP gave one


@dataclass(frozen=True)
class CreditNoteDraft:
    """A credit note (nota crédito) voiding or reducing an invoice. ``lines`` are the invoice's own
    items in the refunded quantities, priced like the invoice (before tax when taxed); ``amount`` is
    what it takes off the invoice (the note's total, tax included). ``marker`` (in the observations)
    finds it again after an ambiguous answer. ``note_type`` is a code of the country's list
    (:meth:`ERPAdapter.credit_note_types`)."""

    marker: str
    contact_id: str
    invoice_erp_id: str
    issue_date: date
    lines: tuple[InvoiceLineDraft, ...]
    amount: Decimal
    note_type: str
    stamp: bool = False
    warehouse_id: str | None = None
    observations: str = ""


@dataclass(frozen=True)
class CreditNoteResult:
    erp_id: str
    number: str | None
    total: Decimal
    status: str = ""
    legal_status: LegalStatus = LegalStatus.NOT_ELECTRONIC
    cufe: str | None = None
    legal_reasons: tuple[str, ...] = ()
    invoice_erp_ids: tuple[str, ...] = ()  # the invoices it credits
    observations: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class MirrorEvent(StrEnum):
    """A change in the ERP the connector's mirror follows, in ERP-neutral words. Each adapter maps
    them to its own webhook events (:attr:`ERPAdapter.mirror_events`)."""

    ITEM_CREATED = "item.created"
    ITEM_UPDATED = "item.updated"
    ITEM_DELETED = "item.deleted"
    ITEM_STOCK_UPDATED = "item.stock_updated"  # only the item's stock changed (an ERP that tells it apart)
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_DELETED = "contact.deleted"
    INVOICE_UPDATED = "invoice.updated"

    @property
    def record(self) -> str:
        """What it is about: ``item`` | ``contact`` | ``invoice``."""
        return self.value.partition(".")[0]

    @property
    def deletes(self) -> bool:
        return self.value.endswith(".deleted")


@dataclass(frozen=True)
class WebhookSubscription:
    """One webhook subscription as the ERP lists it: its id, the ERP's event name and the URL."""

    remote_id: str
    event: str
    url: str


@dataclass(frozen=True)
class MirrorNotice:
    """What a webhook delivery names: which change and the record's id. The body is never trusted
    beyond this: the record is re-read by id."""

    event: MirrorEvent
    record_id: str


@dataclass(frozen=True)
class ContactRecord:
    """An ERP contact as the local contacts mirror keeps it (enough to find a buyer locally)."""

    erp_id: str
    identification_number: str | None
    identification_type: str | None = None
    name: str = ""


@dataclass(frozen=True)
class ContactPage:
    """One page of the ERP's contacts; ``next_start`` is where the next page starts (None: last page)."""

    contacts: tuple[ContactRecord, ...]
    next_start: int | None


class ERPAdapter(Protocol):
    """One ERP. The declaration (see the module docstring) is read without credentials or network."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    setup_help: ClassVar[str]
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    country_credential: ClassVar[str | None]
    supported_settings: ClassVar[frozenset[str]]
    rate_limit_per_minute: ClassVar[int]  # the API's documented limit per user
    tax_authority: str  # how sellers of the account's country call their tax authority ("DIAN")

    @staticmethod
    def rate_limit_user(credentials: dict[str, Any]) -> str:
        """Who the API counts requests against (the limit is shared by every worker for that user)."""

    @staticmethod
    def read_window(response):
        """What an answer says of the user's rate-limit window (a ``connector.ratelimit.WindowReading``),
        or None when it says nothing; the shared limiter keeps every worker inside the window."""

    @classmethod
    def fiscal_profile(cls, country: str | None) -> FiscalProfile:
        """The profile of ``country`` (an ISO code; None: the ERP's default country)."""

    def validate_credentials(self) -> AccountInfo: ...

    def iter_items(self) -> Iterator[CatalogItem]:
        """Every invoiceable item, variants as their own items, page by page."""

    def search_items(self, text: str) -> list[CatalogItem]:
        """Items whose name or reference matches ``text`` (one page)."""

    def get_item(self, erp_id: str) -> CatalogItem: ...

    def create_item(self, draft: ItemDraft) -> CatalogItem:
        """Create an item once (no idempotency key: an ambiguous answer propagates and the caller
        settles it with :meth:`find_item_by_code`)."""

    def find_item_by_code(self, code: str) -> CatalogItem | None:
        """The item whose reference or barcode is exactly ``code``, if any (how a lost creation is found)."""

    def list_warehouses(self) -> list[Choice]: ...

    # -- stock and prices (read only: the ERP is the single owner of stock) -----------------------

    def iter_item_stock(self, warehouse_id: str | None) -> Iterator[ItemStock]:
        """Every item with its available quantity in ``warehouse_id`` (all warehouses when None) and
        its prices, page by page: the periodic full comparison reads the catalog's stock with it."""

    def get_item_stock(self, erp_id: str, warehouse_id: str | None) -> ItemStock:
        """One item's available quantity in ``warehouse_id`` and its prices (after an invoice or an
        ERP notification names the item); ``NotFound`` when the item is gone."""

    def list_price_lists(self) -> list[Choice]: ...

    def list_taxes(self) -> list[Choice]: ...

    def list_number_templates(self) -> list[Choice]: ...

    # -- the mirror: webhook subscriptions, records read one by one, contacts page by page

    # The ERP's webhook event for each change the mirror follows.
    mirror_events: ClassVar[dict[MirrorEvent, str]]

    def list_webhook_subscriptions(self) -> list[WebhookSubscription]:
        """Every webhook subscription of the account (ours and anyone else's)."""

    def create_webhook_subscription(self, event: str, url: str) -> WebhookSubscription:
        """Subscribe ``url`` to the ERP's ``event``. Sent once (``AmbiguousOutcome``: list to settle it)."""

    def delete_webhook_subscription(self, remote_id: str) -> None:
        """Remove a subscription; ``NotFound`` when it is already gone."""

    def parse_mirror_notice(self, body: bytes) -> MirrorNotice | None:
        """The change and record id a delivery names (None: not one the mirror follows). ``InvalidPayload``
        for an unreadable body."""

    def get_contact(self, erp_id: str) -> ContactRecord:
        """One contact by id (``NotFound`` when deleted)."""

    def list_contacts_page(self, start: int) -> ContactPage:
        """One page of the contacts, oldest first, from offset ``start`` (the mirror's import cursor)."""

    def find_contact(self, identification_number: str) -> str | None:
        """The id of the contact whose identification is exactly this number, if any."""

    def create_contact(self, contact: ContactDraft) -> str: ...

    def update_contact(self, contact_id: str, contact: ContactDraft) -> None:
        """Replace the contact's data (e.g. the seller fixed the buyer's e-mail or NIT before an e-invoice
        the authority rejected is stamped again). Idempotent: the same data twice is one change."""

    def create_invoice(self, draft: InvoiceDraft) -> InvoiceResult:
        """POST the invoice. May raise ``AmbiguousOutcome``: then call ``find_invoice_by_marker``."""

    def find_invoice_by_marker(self, marker: str, *, contact_id: str | None, around: date,
                               older_than: str | None = None) -> InvoiceResult | None:
        """Look for an invoice carrying ``marker`` near ``around`` (for that contact when known).

        ``older_than``: the ERP id of an invoice known to have been created before the attempt (None when
        there is none). An ERP whose ids grow with creation may use it to settle the question from its
        newest invoices: a newest-first page that reaches that invoice holds every later one."""

    def iter_invoices(self, start: date, end: date) -> Iterator[InvoiceResult]:
        """Every invoice dated between ``start`` and ``end`` (inclusive); ``raw`` keeps the ERP's record."""

    # -- after the invoice: each write may raise AmbiguousOutcome; the caller then reads get_invoice

    def get_invoice(self, erp_id: str) -> InvoiceResult:
        """The invoice as the ERP has it now: e-invoice status, balance, payments (read before any repeat)."""

    def stamp_invoice(self, erp_id: str) -> None:
        """Emit the electronic invoice of an existing invoice. **Not idempotent**: never call it twice for
        one invoice without reading ``get_invoice`` in between."""

    def invoice_pdf_url(self, erp_id: str) -> str | None:
        """A (short-lived) address of the invoice's PDF, or None when the ERP has none yet."""

    def download_invoice_pdf(self, erp_id: str) -> InvoiceDocument:
        """The invoice's PDF bytes (to hand to a marketplace)."""

    def email_invoice(self, erp_id: str, emails: list[str]) -> None:
        """Have the ERP e-mail the invoice to ``emails``."""

    def list_bank_accounts(self) -> list[Choice]:
        """Bank accounts and cash boxes a payment can be recorded into."""

    def payment_methods(self) -> list[Choice]:
        """The payment methods a recorded payment may carry (the ERP's own codes and labels)."""

    def create_payment(self, draft: PaymentDraft) -> PaymentResult:
        """Record a payment against ``draft.invoice_erp_id`` (an open invoice)."""

    # -- credit notes: creating one may raise AmbiguousOutcome; the caller then searches by marker

    def credit_note_types(self) -> list[Choice]:
        """The credit-note types of the account's country; ``extra["use"]`` is ``"full"`` for the type that
        voids a whole invoice, ``"partial"`` for a partial return of goods, ``"reduction"`` for an amount
        given back without goods (the defaults the seller starts from)."""

    def create_credit_note(self, draft: CreditNoteDraft) -> CreditNoteResult:
        """POST the credit note once (no idempotency key)."""

    def find_credit_note_by_marker(self, marker: str, *, contact_id: str | None, around: date) -> CreditNoteResult | None:
        """The credit note carrying ``marker`` dated near ``around`` (for that contact when known)."""

    def get_credit_note(self, erp_id: str) -> CreditNoteResult:
        """The credit note as the ERP has it now (its e-invoice status)."""

    def iter_credit_notes(self, start: date, end: date) -> Iterator[CreditNoteResult]:
        """Every credit note dated ``start``..``end`` (for reconciliation)."""

    @property
    def calls(self) -> int:
        """HTTP requests sent so far (benchmarks read it)."""

    def close(self) -> None: ...
