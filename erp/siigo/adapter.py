"""The Siigo (Siigo Nube, Colombia) ERP adapter over Siigo API v1: catalog, settings lists, customers,
invoices and what follows them (e-invoice status, PDF, e-mail, payments as cash receipts, credit notes);
products created from a SKU and their stock (:mod:`erp.siigo.products`), product webhooks for the mirror
(:mod:`erp.siigo.mirror`).

What Siigo does not offer is said, never faked: an existing invoice cannot be sent to the DIAN through
the API (:meth:`SiigoAdapter.stamp_invoice` raises ``FeatureNotAvailable``), the PDF comes as bytes
rather than a link, and Siigo does not tell whom it e-mailed. Facts and sources: ``API_FACTS.md``.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from connector.errors import (
    ConfigurationError,
    FeatureNotAvailable,
    InvalidPayload,
    NotFound,
    PermanentRejection,
)
from connector.http import RateLimitPolicy
from connector.ratelimit import LocalBackend, SharedRateLimit
from erp.base import (
    AccountInfo,
    CatalogItem,
    Choice,
    ContactDraft,
    CredentialField,
    CreditNoteDraft,
    CreditNoteResult,
    ERPOptions,
    FiscalProfile,
    InvoiceDocument,
    InvoiceDraft,
    InvoiceResult,
    LegalStatus,
    PaymentDraft,
    PaymentResult,
)
from erp.siigo import declaration, parsing
from erp.siigo.client import DEFAULT_BASE_URL, PAGE_SIZE, RATE_LIMIT_PER_MINUTE, build_requestor, read_window
from erp.siigo.mirror import SiigoMirrorMixin
from erp.siigo.payloads import (
    customer_payload,
    idempotency_key,
    observations_with,
    priced_items,
    split_document_name,
)
from erp.siigo.products import SiigoProducts

_UUID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


class SiigoAdapter(SiigoMirrorMixin, SiigoProducts):
    """:class:`erp.base.ERPAdapter` for Siigo. ``credentials`` = ``{"username", "access_key"}``.

    Every call goes through one requestor (token, ``Partner-Id``, errors, retries). Catalog answers
    that rarely change within a process (taxes, document types, payment types, the seller) are read once.
    """

    name: ClassVar[str] = "siigo"
    display_name: ClassVar[str] = "Siigo"
    setup_help: ClassVar[str] = declaration.SETUP_HELP
    credential_fields: ClassVar[tuple[CredentialField, ...]] = declaration.CREDENTIAL_FIELDS
    country_credential: ClassVar[str | None] = None  # Siigo Nube invoices in Colombia only
    supported_settings: ClassVar[frozenset[str]] = declaration.SUPPORTED_SETTINGS
    rate_limit_per_minute: ClassVar[int] = RATE_LIMIT_PER_MINUTE
    read_window = staticmethod(read_window)
    tax_authority = declaration.COLOMBIA.tax_authority

    @classmethod
    def fiscal_profile(cls, country: str | None) -> FiscalProfile:
        """Colombia's, in Siigo's codes, whatever ``country`` says (Siigo serves no other country)."""
        return declaration.COLOMBIA

    @staticmethod
    def rate_limit_user(credentials: dict[str, Any]) -> str:
        """Siigo counts per company; before signing in we only know the API user, one per company."""
        return str(credentials.get("username") or "").strip().lower()

    def __init__(self, credentials: dict[str, Any], options: ERPOptions | None = None, *,
                 rate_limit: RateLimitPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        username = str(credentials.get("username") or "").strip()
        access_key = str(credentials.get("access_key") or "").strip()
        if not username or not access_key:
            missing = " y ".join(n for n, v in (("el usuario", username), ("la access key", access_key)) if not v)
            raise ConfigurationError(f"Falta {missing} de Siigo: complétalo en la conexión con Siigo.")
        self.username = username
        self.options = options or ERPOptions()
        self.rate_limit = rate_limit or SharedRateLimit(LocalBackend(clock=clock), f"siigo:{username.lower()}",
                                                        RATE_LIMIT_PER_MINUTE, read_window, sleep=sleep)
        self.requestor = build_requestor(
            username=username, access_key=access_key, base_url=self.options.base_url or DEFAULT_BASE_URL,
            timeout=self.options.timeout, rate_limit=self.rate_limit, transport=transport, sleep=sleep,
            clock=clock, wait_limits=self.options.wait_limits)
        self._cache: dict[str, Any] = {}
        self._cache_lock = threading.Lock()

    # -- account -----------------------------------------------------------------------------

    def validate_credentials(self) -> AccountInfo:
        """Signs in (``POST /auth``) and reads the users now: a refusal is ``InvalidCredentials``."""
        with self._cache_lock:
            self._cache.pop("seller", None)  # a check of the credentials asks Siigo, never the cache
        seller = self._seller()
        return AccountInfo(remote_id=self.username.lower(), display_name=self.username,
                           extra={"seller": seller.name, "seller_id": seller.id})

    # -- catalog -----------------------------------------------------------------------------

    def iter_items(self) -> Iterator[CatalogItem]:
        for raw in self._iter_pages("/v1/products"):
            try:
                yield parsing.parse_product(raw)
            except InvalidPayload:  # one odd product must not stop a catalog sync
                continue

    def search_items(self, text: str) -> list[CatalogItem]:
        """Products whose code or name contains ``text`` (at most a page of 25). Siigo filters products by
        exact ``code`` only, so that is asked first; otherwise the catalog is read page by page until a
        page of matches is found (a seller's search in the panel; rarely more than a few pages)."""
        wanted = " ".join(text.split())
        if not wanted:
            return []
        if " " not in wanted:
            exact = [parsing.parse_product(r) for r in self._page("/v1/products", code=wanted)]
            if exact:
                return exact
        needle = wanted.casefold()
        found: list[CatalogItem] = []
        for item in self.iter_items():
            if needle in item.erp_id.casefold() or needle in item.name.casefold():
                found.append(item)
                if len(found) == PAGE_SIZE:
                    break
        return found

    def get_item(self, erp_id: str) -> CatalogItem:
        """``GET /v1/products?code=`` (the ``erp_id`` is the code; ``GET /v1/products/{id}`` takes the UUID)."""
        raw = self._product_by_code(erp_id)
        if raw is not None:
            return parsing.parse_product(raw)
        raise NotFound(f"Siigo no tiene un producto con el código «{erp_id}».", detail="GET /v1/products?code")

    # -- settings lists ----------------------------------------------------------------------

    def list_warehouses(self) -> list[Choice]:
        return self._choices("/v1/warehouses")

    def list_price_lists(self) -> list[Choice]:
        """Price lists by ``position`` (products carry their prices by position, not by id)."""
        raws = self.requestor.get("/v1/price-lists").json()
        return [Choice(id=str(r.get("position")), name=parsing.text(r.get("name")) or str(r.get("position")),
                       extra={"main": r.get("position") == 1}) for r in parsing.page_of(raws)[0]
                if r.get("active") is not False and parsing.text(r.get("position"))]

    def list_taxes(self) -> list[Choice]:
        """The taxes an item may carry (retentions are the buyer's, not part of a price)."""
        return [Choice(id=t, name=name, extra={"percentage": str(rate)})
                for t, (name, rate, kind) in self._taxes().items() if kind in parsing.CHARGED_TAX_TYPES]

    def list_number_templates(self) -> list[Choice]:
        """The sales-invoice document types (``FV``): what Siigo numbers invoices with."""
        return list(self._cached("fv", lambda: self._choices("/v1/document-types", type="FV", extra_keys=(
            "code", "electronic_type", "discount_type", "automatic_number"))))

    # -- contacts ----------------------------------------------------------------------------
    # The contact id the core keeps is the identification number: an invoice names its customer by it.

    def find_contact(self, identification_number: str) -> str | None:
        return identification_number.strip() if self._customer(identification_number) else None

    def create_contact(self, contact: ContactDraft) -> str:
        """``POST /v1/customers``. A customer created meanwhile (``already_exists``) is the one wanted."""
        body = customer_payload(contact)
        try:
            self.requestor.post("/v1/customers", json=body)
        except PermanentRejection as exc:
            if not (exc.status_code == 400 and self._customer(body["identification"])):
                raise
        return body["identification"]

    def update_contact(self, contact_id: str, contact: ContactDraft) -> None:
        """``PUT /v1/customers/{id}`` with every field (Siigo replaces the customer): idempotent."""
        found = self._customer(contact_id)
        if found is None or parsing.text(found.get("id")) is None:
            raise NotFound(f"Siigo no tiene un cliente con el documento {contact_id}.", detail="no customer")
        body = customer_payload(contact) | {"identification": contact_id}
        self.requestor.request("PUT", f"/v1/customers/{_path_id(found['id'])}", json=body, idempotent=True)

    def _customer(self, identification: str) -> dict[str, Any] | None:
        wanted = identification.strip()
        if not wanted:
            return None
        return next((r for r in self._iter_pages("/v1/customers", identification=wanted)
                     if parsing.customer_identification(r) == wanted), None)

    # -- invoices ----------------------------------------------------------------------------

    def create_invoice(self, draft: InvoiceDraft) -> InvoiceResult:
        """``POST /v1/invoices`` once, with an ``Idempotency-Key`` from the marker (a safety net: an
        ``AmbiguousOutcome`` is still settled by :meth:`find_invoice_by_marker`)."""
        document = self._document_type(draft.number_template_id)
        # A per-item warehouse only when the draft names one and only for products with stock control:
        # Siigo refuses it for the others (a service such as the shipping line, "product_settings").
        items = priced_items(draft.lines, self._tax_rates(),
                             discount_by_value=document.extra.get("discount_type") == "Value")
        if draft.warehouse_id:  # only where the product counts stock: else Siigo refuses it (product_settings)
            for line, item in zip(draft.lines, items, strict=True):
                if self._keeps_stock(line.item_id):
                    item.body["warehouse"] = int(draft.warehouse_id)
        total = sum((i.total for i in items), Decimal(0))
        if draft.currency and draft.currency.upper() != "COP":
            raise InvalidPayload(f"El conector factura en Siigo solo en pesos colombianos, no en {draft.currency}.",
                                 detail="foreign currency")
        payment = self._payment_form(draft)
        body = {
            "document": {"id": int(document.id)}, "date": draft.issue_date.isoformat(),
            "customer": {"identification": draft.contact_id, "branch_office": 0}, "seller": int(self._seller().id),
            # Siigo has no draft invoices: a "draft" is registered but not sent to the DIAN (the seller
            # sends it from Siigo Nube), an "open" one is sent when the seller asked to emit.
            "stamp": {"send": bool(draft.stamp) and draft.status == "open"}, "mail": {"send": False},
            "observations": observations_with(draft.marker, draft.annotation, draft.observations),
            "items": [i.body for i in items],
            "payments": [{"id": int(payment.id), "value": float(total),
                          **({"due_date": draft.due_date.isoformat()} if payment.extra.get("due_date") else {})}],
        }
        response = self.requestor.post("/v1/invoices", json=body,
                                       headers={"Idempotency-Key": idempotency_key(draft.marker)})
        return parsing.parse_invoice(response.json())

    def find_invoice_by_marker(self, marker: str, *, contact_id: str | None, around: date,
                               older_than: str | None = None) -> InvoiceResult | None:
        """The invoice dated ``around`` ± 1 day (for that customer when known) whose observations hold
        ``marker`` (the documented ``date_start``/``date_end``/``customer_identification`` filters).
        ``older_than`` is not used: Siigo documents no newest-first order for its invoice list, so the
        date window (pages of 25) is the search."""
        filters = {"date_start": (around - timedelta(days=1)).isoformat(),
                   "date_end": (around + timedelta(days=1)).isoformat()}
        if contact_id:
            filters["customer_identification"] = contact_id
        for raw in self._iter_pages("/v1/invoices", **filters):
            if marker in str(raw.get("observations") or ""):
                return parsing.parse_invoice(raw)
        return None

    def iter_invoices(self, start: date, end: date) -> Iterator[InvoiceResult]:
        return map(parsing.parse_invoice,
                   self._iter_pages("/v1/invoices", date_start=start.isoformat(), date_end=end.isoformat()))

    # -- after the invoice -------------------------------------------------------------------

    def get_invoice(self, erp_id: str) -> InvoiceResult:
        """``GET /v1/invoices/{id}``; a rejected one also reads the DIAN's reasons
        (``GET /v1/invoices/{id}/stamp/errors``)."""
        result = parsing.parse_invoice(self.requestor.get(f"/v1/invoices/{_path_id(erp_id)}").json())
        if result.legal_status == LegalStatus.REJECTED and not result.legal_reasons:
            errors = self.requestor.get(f"/v1/invoices/{_path_id(erp_id)}/stamp/errors").json()
            reasons = parsing.reasons_of(errors.get("errors") if isinstance(errors, dict) else None)
            result = InvoiceResult(**{**result.__dict__, "legal_reasons": reasons})
        return result

    def stamp_invoice(self, erp_id: str) -> None:
        """Siigo sends an invoice to the DIAN only when it is created (``stamp.send``); there is no API
        call for an existing one, so this says how to do it instead of pretending."""
        raise FeatureNotAvailable(
            "Siigo no permite enviar a la DIAN por la API una factura ya creada: envíala desde Siigo Nube "
            "(Facturación electrónica > Envío masivo de comprobantes electrónicos).",
            detail=f"no stamp endpoint for existing invoices (invoice {erp_id})")

    def invoice_pdf_url(self, erp_id: str) -> str | None:
        """Siigo hands the PDF itself (base64), never a link to it."""
        return None

    def download_invoice_pdf(self, erp_id: str) -> InvoiceDocument:
        """``GET /v1/invoices/{id}/pdf`` -> ``{"base64"}``."""
        body = self.requestor.get(f"/v1/invoices/{_path_id(erp_id)}/pdf").json()
        encoded = body.get("base64") if isinstance(body, dict) else None
        try:
            content = base64.b64decode(encoded or "", validate=True)
        except (binascii.Error, ValueError):
            content = b""
        if not content:
            raise NotFound(f"Siigo aún no tiene el PDF de la factura {erp_id}.", detail="no pdf base64")
        return InvoiceDocument(content=content, filename=f"factura-{re.sub(r'[^A-Za-z0-9._-]+', '-', erp_id)}.pdf")

    def email_invoice(self, erp_id: str, emails: list[str]) -> None:
        """``POST /v1/invoices/{id}/mail {"mail_to", "copy_to": "a;b"}`` (at most 5 addresses). Sent once."""
        addresses = [e.strip() for e in emails if e and e.strip()][:5]
        if not addresses:
            raise InvalidPayload("No hay correos a los que enviar la factura.", detail=f"invoice {erp_id}")
        body = {"mail_to": addresses[0], **({"copy_to": ";".join(addresses[1:])} if addresses[1:] else {})}
        self.requestor.post(f"/v1/invoices/{_path_id(erp_id)}/mail", json=body)

    def list_bank_accounts(self) -> list[Choice]:
        """Where money comes in: the payment forms without a due date (cash, banks)."""
        return [c for c in self._payment_types() if not c.extra.get("due_date")]

    def payment_methods(self) -> list[Choice]:
        """Siigo has no method apart from the payment form (the chosen "account")."""
        return [Choice(id="payment_form", name="La forma de pago de Siigo elegida")]

    def create_payment(self, draft: PaymentDraft) -> PaymentResult:
        """A cash receipt (``POST /v1/vouchers``, type ``DebtPayment``) paying the invoice's first
        instalment, the marker in its observations. Sent once (``Idempotency-Key`` as a safety net)."""
        if not draft.invoice_erp_id:
            raise InvalidPayload("El pago no dice a qué factura corresponde.", detail="no invoice id")
        invoice = self.requestor.get(f"/v1/invoices/{_path_id(draft.invoice_erp_id)}").json()
        due = split_document_name(parsing.text(invoice.get("name")) if isinstance(invoice, dict) else None)
        customer = invoice.get("customer") if isinstance(invoice, dict) else None
        identification = parsing.text(customer.get("identification")) if isinstance(customer, dict) else None
        if due is None or identification is None:
            raise InvalidPayload("Siigo devolvió la factura sin número o sin cliente.", detail=repr(invoice)[:300])
        receipt = self._first_choice("rc", "/v1/document-types", "recibos de caja", type="RC")
        amount = draft.amount.quantize(Decimal("0.01"))
        body = {
            "document": {"id": int(receipt.id)}, "date": draft.date.isoformat(), "type": "DebtPayment",
            "customer": {"identification": identification, "branch_office": 0},
            "items": [{"due": {"prefix": due[0], "consecutive": due[1], "quote": 1, "date": draft.date.isoformat()},
                       "value": float(amount)}],
            "payment": {"id": int(draft.account_id), "value": float(amount)},
            "observations": observations_with(draft.marker),
        }
        response = self.requestor.post("/v1/vouchers", json=body,
                                       headers={"Idempotency-Key": idempotency_key(draft.marker)})
        return parsing.parse_voucher(response.json(), amount=amount, account_id=draft.account_id)

    # -- credit notes ------------------------------------------------------------------------

    def credit_note_types(self) -> list[Choice]:
        return [Choice(id=o.code, name=o.label, extra={"use": o.use} if o.use else {})
                for o in declaration.CREDIT_NOTE_REASONS]

    def create_credit_note(self, draft: CreditNoteDraft) -> CreditNoteResult:
        """``POST /v1/credit-notes`` once, linked to the invoice, paid back with the invoice's own form."""
        invoice = self.requestor.get(f"/v1/invoices/{_path_id(draft.invoice_erp_id)}").json()
        forms = [p for p in (invoice.get("payments") or []) if isinstance(p, dict) and p.get("id")] \
            if isinstance(invoice, dict) else []
        form_id = forms[0]["id"] if forms else self._first_choice("fvpay", "/v1/payment-types", "formas de pago",
                                                                  document_type="FV").id
        items = priced_items(draft.lines, self._tax_rates(), discount_by_value=False)
        total = sum((i.total for i in items), Decimal(0))
        note_type = self._first_choice("nc", "/v1/document-types", "notas crédito", type="NC")
        body = {
            "document": {"id": int(note_type.id)}, "date": draft.issue_date.isoformat(),
            "invoice": draft.invoice_erp_id, "reason": int(draft.note_type) if draft.note_type.isdigit() else 1,
            "items": [i.body for i in items],
            "payments": [{"id": int(form_id), "value": float(total),
                          **({"due_date": draft.issue_date.isoformat()} if self._has_due_date(form_id) else {})}],
            "observations": observations_with(draft.marker, draft.observations), "stamp": {"send": bool(draft.stamp)},
            "mail": {"send": False},
        }
        response = self.requestor.post("/v1/credit-notes", json=body,
                                       headers={"Idempotency-Key": idempotency_key(draft.marker)})
        return parsing.parse_credit_note(response.json())

    def find_credit_note_by_marker(self, marker: str, *, contact_id: str | None,
                                   around: date) -> CreditNoteResult | None:
        """Credit notes are listed by creation date only: those created ``around`` ± 1 day."""
        for raw in self._iter_pages("/v1/credit-notes", created_start=(around - timedelta(days=1)).isoformat(),
                                    created_end=(around + timedelta(days=2)).isoformat()):
            if marker in str(raw.get("observations") or ""):
                return parsing.parse_credit_note(raw)
        return None

    def get_credit_note(self, erp_id: str) -> CreditNoteResult:
        return parsing.parse_credit_note(self.requestor.get(f"/v1/credit-notes/{_path_id(erp_id)}").json())

    def iter_credit_notes(self, start: date, end: date) -> Iterator[CreditNoteResult]:
        for raw in self._iter_pages("/v1/credit-notes", created_start=start.isoformat(),
                                    created_end=(end + timedelta(days=1)).isoformat()):
            note = parsing.parse_credit_note(raw)
            day = parsing.day_of(raw.get("date"))
            if day is None or start <= day <= end:
                yield note

    @property
    def calls(self) -> int:
        return self.requestor.calls

    def close(self) -> None:
        self.requestor.close()


def _path_id(erp_id: str) -> str:
    """A Siigo id fit for a URL path (Siigo's ids are UUIDs: anything else cannot exist)."""
    text = str(erp_id).strip()
    if not _UUID.match(text):
        raise NotFound(f"«{text[:30]}» no es un id de Siigo.", detail="malformed Siigo id")
    return text
