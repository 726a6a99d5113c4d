"""The Alegra ERP adapter: catalog, settings lists, contacts, invoices and what follows them (e-invoice
status, stamping, PDF, e-mail, payments, credit notes) over Alegra's REST API v1."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any, ClassVar

import httpx

from connector.errors import ConfigurationError, InvalidPayload, NotFound, PermanentRejection
from connector.http import RateLimitPolicy, iter_offset_pages
from connector.ratelimit import LocalBackend, SharedRateLimit
from erp.alegra import declaration, invoice_parsing, parsing
from erp.alegra.client import (
    DEFAULT_BASE_URL,
    MAX_PAGE_SIZE,
    RATE_LIMIT_PER_MINUTE,
    build_requestor,
    read_window,
)
from erp.alegra.countries import country_profile
from erp.alegra.credit_notes import credit_note_payload, parse_credit_note
from erp.alegra.documents import fetch_pdf
from erp.alegra.payloads import PAYMENT_METHODS, contact_payload, id_value, invoice_payload, payment_payload
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
    PaymentDraft,
    PaymentResult,
)

log = logging.getLogger(__name__)


class AlegraAdapter:
    """:class:`erp.base.ERPAdapter` for Alegra. Every call goes through one requestor.

    ``credentials`` = ``{"email", "token", "country"}`` (country defaults to ``"CO"``). ``sleep`` and
    ``clock`` drive retries and the rate-limit waits, so tests control time.
    """

    name: ClassVar[str] = "alegra"
    display_name: ClassVar[str] = "Alegra"
    setup_help: ClassVar[str] = declaration.SETUP_HELP
    credential_fields: ClassVar[tuple[CredentialField, ...]] = declaration.CREDENTIAL_FIELDS
    country_credential: ClassVar[str | None] = declaration.COUNTRY_CREDENTIAL
    supported_settings: ClassVar[frozenset[str]] = declaration.SUPPORTED_SETTINGS

    @classmethod
    def fiscal_profile(cls, country: str | None) -> FiscalProfile:
        """The fiscal profile of an Alegra account of ``country`` (:mod:`erp.alegra.countries`)."""
        return country_profile(country)

    # The limit is per Alegra user: workers share one window keyed by the user (see connector/ratelimit.py).
    rate_limit_per_minute: ClassVar[int] = RATE_LIMIT_PER_MINUTE
    read_window = staticmethod(read_window)

    @staticmethod
    def rate_limit_user(credentials: dict[str, Any]) -> str:
        """Who the API counts requests against: the Alegra user (its e-mail)."""
        return str(credentials.get("email") or "").strip().lower()

    def __init__(self, credentials: dict[str, Any], options: ERPOptions | None = None, *,
                 rate_limit: RateLimitPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        email = str(credentials.get("email") or "").strip()
        token = str(credentials.get("token") or "").strip()
        if not email or not token:
            missing = " y ".join(n for n, v in (("el correo", email), ("el token", token)) if not v)
            raise ConfigurationError(f"Falta {missing} de Alegra: complétalo en la conexión con Alegra.")
        self.options = options or ERPOptions()
        self.profile = country_profile(credentials.get("country"))
        self.country = self.profile.country
        self.tax_authority = self.profile.tax_authority
        # Standalone (tests, one-off scripts): a window of its own. The connector passes the shared one.
        self.rate_limit = rate_limit or SharedRateLimit(LocalBackend(clock=clock), f"alegra:{email.lower()}",
                                                        RATE_LIMIT_PER_MINUTE, read_window, sleep=sleep)
        self.requestor = build_requestor(
            email=email, token=token, base_url=self.options.base_url or DEFAULT_BASE_URL,
            timeout=self.options.timeout, rate_limit=self.rate_limit, transport=transport, sleep=sleep,
            wait_limits=self.options.wait_limits,
        )
        self._pdf_transport = transport  # PDFs are fetched by a client of their own, without credentials
        self._templates: list[Choice] | None = None

    # -- account -----------------------------------------------------------------------------

    def validate_credentials(self) -> AccountInfo:
        """``GET /company``; a 401 becomes ``InvalidCredentials`` ("Alegra rechazó las credenciales: ...")."""
        company = self.requestor.get("/company").json()
        if not isinstance(company, dict):
            raise InvalidPayload("Alegra devolvió datos de empresa inesperados.", detail=repr(company)[:300])
        identification = parsing.contact_identification(company)
        remote_id = parsing.as_id(company.get("id")) or identification or ""
        extra = {"identification": identification, "email": company.get("email"),
                 "applicationVersion": company.get("applicationVersion"), "country": self.country}
        return AccountInfo(remote_id=remote_id, display_name=parsing.as_text(company.get("name")) or remote_id,
                           extra={k: v for k, v in extra.items() if v})

    # -- catalog -----------------------------------------------------------------------------

    def iter_items(self) -> Iterator[CatalogItem]:
        """Every item, variants as their own items. A parent's ``itemVariants`` missing from the list
        are yielded at the end from the parent's summary (inheriting its taxes and prices)."""
        seen: set[str] = set()
        pending: dict[str, CatalogItem] = {}
        for raw in self._iter_list("/items", order_field="id", order_direction="ASC"):
            item = self._parse_item_or_skip(raw)
            if item is None:
                continue
            seen.add(item.erp_id)
            pending.pop(item.erp_id, None)
            yield item
            for variant_raw in parsing.embedded_variants(raw):
                variant = self._parse_item_or_skip(variant_raw, parent=item)
                if variant is not None and variant.erp_id not in seen:
                    pending.setdefault(variant.erp_id, variant)
        yield from pending.values()

    def search_items(self, text: str) -> list[CatalogItem]:
        records, _ = parsing.records_of(
            self.requestor.get("/items", params={"query": text, "start": 0, "limit": MAX_PAGE_SIZE}).json())
        return [item for item in map(self._parse_item_or_skip, records) if item is not None]

    def get_item(self, erp_id: str) -> CatalogItem:
        raw = self.requestor.get(f"/items/{erp_id}").json()
        if not isinstance(raw, dict):
            raise InvalidPayload(f"Alegra devolvió el ítem {erp_id} con un formato inesperado.")
        return parsing.parse_item(raw, self.options)

    def _parse_item_or_skip(self, raw: dict[str, Any], parent: CatalogItem | None = None) -> CatalogItem | None:
        try:
            return parsing.parse_item(raw, self.options, parent=parent)
        except InvalidPayload as exc:  # one odd item must not stop a catalog sync
            log.warning("skipping Alegra item: %s (%s)", exc.user_message, exc.detail)
            return None

    # -- settings lists ----------------------------------------------------------------------

    def list_warehouses(self) -> list[Choice]:
        return self._choices("/warehouses", parsing.parse_warehouse_choice)

    def list_price_lists(self) -> list[Choice]:
        return self._choices("/price-lists", parsing.parse_price_list_choice)

    def list_taxes(self) -> list[Choice]:
        return self._choices("/taxes", parsing.parse_tax_choice)

    def list_number_templates(self) -> list[Choice]:
        return self._choices("/number-templates", parsing.parse_number_template_choice)

    def _choices(self, path: str, parse: Callable[[dict[str, Any]], Choice | None]) -> list[Choice]:
        return [c for c in map(parse, self._iter_list(path)) if c is not None]

    # -- contacts ----------------------------------------------------------------------------

    def find_contact(self, identification_number: str) -> str | None:
        """Alegra matches ``identification`` by *contains*: only an exactly equal number counts."""
        wanted = identification_number.strip()
        if not wanted:
            return None
        for raw in self._iter_list("/contacts", identification=wanted):
            if parsing.contact_identification(raw) == wanted:
                return parsing.as_id(raw.get("id"))
        return None

    def create_contact(self, contact: ContactDraft) -> str:
        body = self.requestor.post("/contacts", json=contact_payload(contact, country=self.country)).json()
        contact_id = parsing.as_id(body.get("id")) if isinstance(body, dict) else None
        if contact_id is None:
            raise InvalidPayload("Alegra creó el contacto pero no devolvió su id.", detail=repr(body)[:300])
        return contact_id

    def update_contact(self, contact_id: str, contact: ContactDraft) -> None:
        """``PUT /contacts/{id}`` with the creation body. A PUT of the same data is idempotent, so it is
        retried like a read."""
        self.requestor.request("PUT", f"/contacts/{_path_id(contact_id)}",
                               json=contact_payload(contact, country=self.country), idempotent=True)

    # -- invoices ----------------------------------------------------------------------------

    def create_invoice(self, draft: InvoiceDraft) -> InvoiceResult:
        """POST once. ``AmbiguousOutcome`` propagates: the caller then uses :meth:`find_invoice_by_marker`.

        Where the buyer decides the kind of document (Peru: a factura for a RUC, a boleta otherwise) and
        the seller chose no numbering, the numbering of that kind is used (its ``documentType``)."""
        if draft.document_kind and not draft.number_template_id:
            template = self._number_template_for(draft.document_kind)
            if template is not None:
                draft = replace(draft, number_template_id=template)
        return invoice_parsing.parse_invoice(self.requestor.post("/invoices", json=invoice_payload(draft)).json())

    def _number_template_for(self, kind: str) -> str | None:
        """The active numbering whose ``documentType`` is ``kind`` (read once per adapter), preferring the
        default one. *Unconfirmed*: the ``documentType`` words Alegra Peru uses for a boleta."""
        if self._templates is None:
            self._templates = self.list_number_templates()
        matching = [t for t in self._templates if t.extra.get("documentType") == kind
                    and t.extra.get("status", "active") == "active"]
        matching.sort(key=lambda t: not t.extra.get("isDefault"))
        return matching[0].id if matching else None

    def find_invoice_by_marker(self, marker: str, *, contact_id: str | None, around: date) -> InvoiceResult | None:
        """The invoice whose ``observations`` contain ``marker``, dated ``around`` ± 1 day.

        Assumption: Alegra's documented list filter is ``date`` (one exact day) plus ``client_id``; we
        query the three days one by one rather than rely on undocumented range filters.
        """
        raw = self._find_by_marker("/invoices", marker, contact_id=contact_id, around=around)
        return invoice_parsing.parse_invoice(raw) if raw is not None else None

    def iter_invoices(self, start: date, end: date) -> Iterator[InvoiceResult]:
        """Every invoice dated ``start``..``end`` (inclusive), day by day (the documented ``date`` filter)."""
        return map(invoice_parsing.parse_invoice, self._iter_days("/invoices", start, end))

    # -- after the invoice -------------------------------------------------------------------
    # Writes here are never re-sent by the requestor on an ambiguous answer (AmbiguousOutcome): the
    # caller reads get_invoice before any repeat, since Alegra has no idempotency key.

    def get_invoice(self, erp_id: str) -> InvoiceResult:
        """``GET /invoices/{id}?fields=pdf``: e-invoice status and reasons, CUFE, balance, payments and
        the PDF link as Alegra has them (the link rides along: no second request for it)."""
        return invoice_parsing.parse_invoice(self._invoice_with_pdf(erp_id))

    def stamp_invoice(self, erp_id: str) -> None:
        """``POST /invoices/stamp {"ids": [id]}``. **Not idempotent** (a second call may emit a second
        fiscal document), so it is sent once: a timeout or 5xx is ``AmbiguousOutcome``. An answer that
        reports an error for this invoice is a ``PermanentRejection`` in Alegra's words."""
        response = self.requestor.post("/invoices/stamp", json={"ids": [id_value(_path_id(erp_id))]})
        try:
            body = response.json()
        except ValueError:
            body = None
        refusal = invoice_parsing.stamp_refusal(body, str(erp_id))
        if refusal:
            raise PermanentRejection(f"Alegra no emitió la factura electrónica: {refusal}",
                                     detail=f"POST /invoices/stamp id={erp_id}: {repr(body)[:300]}")

    def invoice_pdf_url(self, erp_id: str) -> str | None:
        """``GET /invoices/{id}?fields=pdf`` → ``pdf`` (a short-lived storage link), or None without one."""
        return parsing.as_text(self._invoice_with_pdf(erp_id).get("pdf"))

    def download_invoice_pdf(self, erp_id: str) -> InvoiceDocument:
        """The PDF behind :meth:`invoice_pdf_url`, fetched without Alegra's credentials (see
        :mod:`erp.alegra.documents`); ``NotFound`` when Alegra has no PDF for it yet."""
        raw = self._invoice_with_pdf(erp_id)
        url = parsing.as_text(raw.get("pdf"))
        if url is None:
            raise NotFound(f"Alegra aún no tiene el PDF de la factura {erp_id}.", detail="no pdf field")
        content = fetch_pdf(url, timeout=self.options.timeout,
                            allow_private_network=self.options.allow_private_network or bool(self.options.base_url),
                            transport=self._pdf_transport)
        number = invoice_parsing.invoice_number(raw) or str(erp_id)
        return InvoiceDocument(content=content, filename=f"factura-{_filename_safe(number)}.pdf")

    def email_invoice(self, erp_id: str, emails: list[str]) -> None:
        """``POST /invoices/{id}/email {"emails": [...]}``: Alegra sends the invoice. Sent once."""
        addresses = [e.strip() for e in emails if e and e.strip()]
        if not addresses:
            raise InvalidPayload("No hay correos a los que enviar la factura.", detail=f"invoice {erp_id}")
        self.requestor.post(f"/invoices/{_path_id(erp_id)}/email", json={"emails": addresses})

    def list_bank_accounts(self) -> list[Choice]:
        """``GET /bank-accounts``: banks and cash boxes (``extra["type"]`` is Alegra's kind of account)."""
        return self._choices("/bank-accounts", parsing.parse_bank_account_choice)

    def payment_methods(self) -> list[Choice]:
        """Alegra's documented payment methods (no endpoint lists them)."""
        return [Choice(id=code, name=label) for code, label in PAYMENT_METHODS]

    def create_payment(self, draft: PaymentDraft) -> PaymentResult:
        """``POST /payments`` (money in, against ``draft.invoice_erp_id``, the marker in ``observations``).
        Sent once: ``AmbiguousOutcome`` means read the invoice's ``payments`` before any repeat."""
        body = self.requestor.post("/payments", json=payment_payload(draft)).json()
        payment = invoice_parsing.parse_payment(body)
        if payment is None or payment.erp_id is None:
            raise InvalidPayload("Alegra registró el pago pero no devolvió su id.", detail=repr(body)[:300])
        return payment

    def _invoice_with_pdf(self, erp_id: str) -> dict[str, Any]:
        raw = self.requestor.get(f"/invoices/{_path_id(erp_id)}", params={"fields": "pdf"}).json()
        if not isinstance(raw, dict):
            raise InvalidPayload(f"Alegra devolvió la factura {erp_id} con un formato inesperado.",
                                 detail=repr(raw)[:300])
        return raw

    # -- credit notes ------------------------------------------------------------------------
    # Like invoices: POSTed once (AmbiguousOutcome means search for the marker before any repeat).

    def credit_note_types(self) -> list[Choice]:
        """The credit-note types of the account's country (:mod:`erp.alegra.countries`); ``extra["use"]``
        marks the default type to void a whole invoice (``"full"``) or reduce it (``"partial"``)."""
        return [Choice(id=t.code, name=t.label, extra={"use": t.use} if t.use else {})
                for t in self.profile.credit_note_types]

    def create_credit_note(self, draft: CreditNoteDraft) -> CreditNoteResult:
        """``POST /credit-notes`` once, linked to ``draft.invoice_erp_id`` with ``draft.amount``."""
        payload = credit_note_payload(draft, self.profile)
        return parse_credit_note(self.requestor.post("/credit-notes", json=payload).json())

    def find_credit_note_by_marker(self, marker: str, *, contact_id: str | None,
                                   around: date) -> CreditNoteResult | None:
        """The credit note whose ``observations`` contain ``marker``, dated ``around`` ± 1 day (searched
        like :meth:`find_invoice_by_marker`)."""
        raw = self._find_by_marker("/credit-notes", marker, contact_id=contact_id, around=around)
        return parse_credit_note(raw) if raw is not None else None

    def get_credit_note(self, erp_id: str) -> CreditNoteResult:
        """``GET /credit-notes/{id}``: the note with its e-invoice status as Alegra has it now."""
        return parse_credit_note(self.requestor.get(f"/credit-notes/{_path_id(erp_id)}").json())

    def iter_credit_notes(self, start: date, end: date) -> Iterator[CreditNoteResult]:
        """Every credit note dated ``start``..``end`` (inclusive), day by day."""
        return map(parse_credit_note, self._iter_days("/credit-notes", start, end))

    # -- plumbing ----------------------------------------------------------------------------

    def _find_by_marker(self, path: str, marker: str, *, contact_id: str | None,
                        around: date) -> dict[str, Any] | None:
        """The first record of ``path`` dated ``around``, the day before or the day after (in that order),
        for ``contact_id`` when known, whose ``observations`` contain ``marker``."""
        for day in (around, around - timedelta(days=1), around + timedelta(days=1)):
            filters: dict[str, Any] = {"date": day.isoformat()}
            if contact_id:
                filters["client_id"] = contact_id
            for raw in self._iter_list(path, **filters):
                if marker in str(raw.get("observations") or ""):
                    return raw
        return None

    def _iter_days(self, path: str, start: date, end: date) -> Iterator[dict[str, Any]]:
        day = start
        while day <= end:
            yield from self._iter_list(path, date=day.isoformat())
            day += timedelta(days=1)

    def _iter_list(self, path: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every record of a list endpoint, ``start``/``limit`` pages of 30 (Alegra's maximum)."""

        def fetch(start: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
            response = self.requestor.get(path, params={**filters, "start": start, "limit": limit})
            return parsing.records_of(response.json())

        return iter_offset_pages(fetch, page_size=MAX_PAGE_SIZE)

    @property
    def calls(self) -> int:
        return self.requestor.calls

    def close(self) -> None:
        self.requestor.close()


def _path_id(erp_id: str) -> str:
    """An Alegra id fit for a URL path: Alegra's ids are numbers, so anything else cannot exist."""
    text = str(erp_id).strip()
    if not text.isdigit():
        raise NotFound(f"«{text[:30]}» no es un id de Alegra.", detail="non-numeric Alegra id")
    return text


def _filename_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "sin-numero"
