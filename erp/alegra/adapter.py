"""The Alegra ERP adapter: catalog, settings lists, contacts and invoices over Alegra's REST API v1."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any, ClassVar

import httpx

from channels.base import AccountInfo, CredentialField
from connector.errors import ConfigurationError, InvalidPayload
from connector.http import RateLimitPolicy, iter_offset_pages
from connector.ratelimit import LocalBackend, SharedRateLimit
from erp.alegra import parsing
from erp.alegra.client import (
    DEFAULT_BASE_URL,
    MAX_PAGE_SIZE,
    RATE_LIMIT_PER_MINUTE,
    build_requestor,
    read_window,
)
from erp.alegra.payloads import contact_payload, invoice_payload
from erp.base import CatalogItem, Choice, ContactDraft, ERPOptions, InvoiceDraft, InvoiceResult

log = logging.getLogger(__name__)


class AlegraAdapter:
    """:class:`erp.base.ERPAdapter` for Alegra. Every call goes through one requestor.

    ``credentials`` = ``{"email", "token", "country"}`` (country defaults to ``"CO"``). ``sleep`` and
    ``clock`` drive retries and the rate-limit waits, so tests control time.
    """

    name: ClassVar[str] = "alegra"
    display_name: ClassVar[str] = "Alegra"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("email", "Correo del usuario de Alegra"),
        CredentialField("token", "Token de la API", secret=True,
                        help="En Alegra: Configuración > Integraciones > API."),
        CredentialField("country", "País de la cuenta", required=False, help="Código ISO, por ejemplo CO."),
    )

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
        self.country = str(credentials.get("country") or "CO").strip().upper()
        # Standalone (tests, one-off scripts): a window of its own. The connector passes the shared one.
        self.rate_limit = rate_limit or SharedRateLimit(LocalBackend(clock=clock), f"alegra:{email.lower()}",
                                                        RATE_LIMIT_PER_MINUTE, read_window, sleep=sleep)
        self.requestor = build_requestor(
            email=email, token=token, base_url=self.options.base_url or DEFAULT_BASE_URL,
            timeout=self.options.timeout, rate_limit=self.rate_limit, transport=transport, sleep=sleep,
            wait_limits=self.options.wait_limits,
        )

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

    # -- invoices ----------------------------------------------------------------------------

    def create_invoice(self, draft: InvoiceDraft) -> InvoiceResult:
        """POST once. ``AmbiguousOutcome`` propagates: the caller then uses :meth:`find_invoice_by_marker`."""
        return parsing.parse_invoice(self.requestor.post("/invoices", json=invoice_payload(draft)).json())

    def find_invoice_by_marker(self, marker: str, *, contact_id: str | None, around: date) -> InvoiceResult | None:
        """The invoice whose ``observations`` contain ``marker``, dated ``around`` ± 1 day.

        Assumption: Alegra's documented list filter is ``date`` (one exact day) plus ``client_id``; we
        query the three days one by one rather than rely on undocumented range filters.
        """
        for day in (around, around - timedelta(days=1), around + timedelta(days=1)):
            filters: dict[str, Any] = {"date": day.isoformat()}
            if contact_id:
                filters["client_id"] = contact_id
            for raw in self._iter_list("/invoices", **filters):
                if marker in str(raw.get("observations") or ""):
                    return parsing.parse_invoice(raw)
        return None

    def iter_invoices(self, start: date, end: date) -> Iterator[InvoiceResult]:
        """Every invoice dated ``start``..``end`` (inclusive), day by day (the documented ``date`` filter)."""
        day = start
        while day <= end:
            for raw in self._iter_list("/invoices", date=day.isoformat()):
                yield parsing.parse_invoice(raw)
            day += timedelta(days=1)

    # -- plumbing ----------------------------------------------------------------------------

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
