"""The Mercado Libre channel adapter: pulls orders with their shipment and billing info.

``pull_orders`` lists the seller's orders changed since a cursor (``order.date_last_updated.from``)
with ``sort=date_asc``, which ML applies to the *creation* date, so offset pages stay stable while
orders change during the pull. Each order is enriched and yielded as soon as its page arrives: the
adapter holds one page and the ids of the orders sharing the last creation date it saw (see below),
never the listing, so pulling a backlog of any length needs the same memory.

The orders arrive in creation order, not in order of their last change, and the cursor does not
need more: the core (:func:`connector.sync.pull_channel_connection`) commits each order as it
arrives and moves the cursor only once the whole pull has succeeded, to the newest ``last_updated``
it saw. A pull that fails part-way leaves the cursor where it was, so the next pull reads the same
orders again (storing an order that did not change is a no-op).

``/orders/search`` refuses offsets past a cap. A longer listing goes on in a new *window* that
starts at the last creation date seen (``order.date_created.from``, inclusive), so the orders of
the previous window created at that very date are listed again: only their ids are remembered, and
each of them is yielded once. Orders created at that date that the previous window did not reach
are new to the pull and are yielded.

An order that starts matching the filter during the pull (it changed after the pull began) enters
the listing at its creation date; when that is before the current offset it pushes the rest one
place down and one order is listed twice. That duplicate is yielded again and stored as unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

import httpx

from channels.base import (
    AccountInfo,
    ChannelOptions,
    CredentialField,
    CredentialsChanged,
    Headers,
    InvoiceDelivery,
    KnownOrder,
    Listing,
    RateLimitSpec,
    WebhookEvent,
    WebhookRegistration,
)
from channels.mercadolibre import endpoints, listings, webhooks
from channels.mercadolibre.client import DEFAULT_BASE_URL, MercadoLibreClient
from channels.mercadolibre.parser import parse_ml_datetime, parse_order
from connector.canonical import Order, PulledOrder
from connector.errors import NotFound, PermanentRejection, TransientError
from connector.http import iter_offset_pages

log = logging.getLogger(__name__)

DEFAULT_SITE_ID = "MCO"  # Colombia

MAX_FISCAL_DOCUMENT_BYTES = 1024 * 1024  # Mercado Libre's documented limit

# ML refuses offsets past a cap on /orders/search (unconfirmed value; reports vary). When a listing
# is longer, the next window starts at the last seen creation date (order.date_created.from).
MAX_SEARCH_OFFSET = 10_000


class MercadoLibreAdapter:
    """One seller's Mercado Libre account (see :class:`channels.base.ChannelAdapter`).

    ``credentials``: ``client_id``, ``client_secret``, ``refresh_token`` (required) and optionally
    ``access_token``, ``access_token_expires_at`` (ISO), ``user_id``, ``site_id`` (default ``MCO``).
    Whenever ML rotates the refresh token, ``on_credentials_changed`` receives the full new dict.
    """

    name: ClassVar[str] = "mercadolibre"
    display_name: ClassVar[str] = "Mercado Libre"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("client_id", "ID de la aplicación (client_id)"),
        CredentialField("client_secret", "Clave secreta de la aplicación", secret=True,
                        env_aliases=("ML_CLIENT_SECRET",)),  # the first CLI's names, kept working
        CredentialField("refresh_token", "Refresh token", secret=True, env_aliases=("ML_REFRESH_TOKEN",),
                        help="Se obtiene al autorizar la aplicación; se renueva solo en cada uso."),
        CredentialField("user_id", "ID del vendedor", required=False,
                        help="Se completa solo al validar la conexión."),
        CredentialField("site_id", "Sitio de Mercado Libre", required=False, help="MCO para Colombia."),
        CredentialField("webhook_secret", "Clave de la URL de notificaciones", secret=True, required=False,
                        help="La genera el conector (connector channel webhook-url)."),
    )
    webhook_secret_field: ClassVar[str] = "webhook_secret"
    generates_webhook_secret: ClassVar[bool] = True
    # The invoice is attached to the pack and Mercado Libre notifies the buyer itself.
    invoice_delivery: ClassVar[str] = InvoiceDelivery.CHANNEL
    rate_limit: ClassVar[RateLimitSpec] = RateLimitSpec(
        "backoff", "Límite por aplicación sin cabeceras documentadas: un 429 se reintenta con espera "
                   "exponencial y variación aleatoria (5 intentos, ~8-15 s en total).", retry_after=False)

    max_search_offset: int = MAX_SEARCH_OFFSET

    def __init__(self, credentials: dict[str, Any], options: ChannelOptions | None = None, *,
                 on_credentials_changed: CredentialsChanged | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        options = options or ChannelOptions()
        self.client = MercadoLibreClient(
            credentials, base_url=options.base_url or DEFAULT_BASE_URL, timeout=options.timeout,
            on_credentials_changed=on_credentials_changed, transport=transport, sleep=sleep,
            wait_limits=options.wait_limits,
        )
        self.site_id = str(credentials.get("site_id") or DEFAULT_SITE_ID).upper()
        self.page_size = min(options.page_size or endpoints.DEFAULT_SEARCH_LIMIT, endpoints.MAX_SEARCH_LIMIT)

    @property
    def credentials(self) -> dict[str, Any]:
        """The current credentials, including a rotated refresh token (a copy)."""
        return self.client.auth.credentials

    # -- ChannelAdapter ---------------------------------------------------------------------

    def validate_credentials(self) -> AccountInfo:
        """Refresh the token (proves the refresh token works) and read ``/users/me``."""
        self.client.auth.refresh()
        me = endpoints.get_me(self.client.api)
        site_id = str(me.get("site_id") or self.site_id)
        return AccountInfo(remote_id=str(me.get("id") or self.client.auth.user_id or ""),
                           display_name=str(me.get("nickname") or me.get("id") or ""),
                           extra={"site_id": site_id})

    def pull_orders(self, since: datetime | None, *, known: KnownOrder | None = None) -> Iterator[PulledOrder]:
        """Every order changed since ``since`` (inclusive), enriched, in creation order as the pages
        arrive (see the module docstring for why that is all the cursor needs). An order ``known``
        already holds as of its ``last_updated`` is skipped before its shipment and billing info are
        fetched: those two calls per order are what a pull costs."""
        for order in self._search_orders(since):
            if known is not None and known(str(order["id"]), _last_updated(order)):
                continue
            yield self._enrich(order)

    def fetch_order(self, external_id: str) -> PulledOrder:
        """One order by id, with its shipment and billing info; ``NotFound`` if it does not exist."""
        order = endpoints.get_order(self.client.api, str(external_id))
        if order.get("id") is None:
            order = {**order, "id": external_id}
        return self._enrich(order)

    def parse_order(self, pulled: PulledOrder) -> Order:
        return parse_order(pulled)

    # -- webhooks (see channels.mercadolibre.webhooks for why a URL secret) ------------------

    def verify_webhook(self, headers: Headers, raw_body: bytes, *, query: Mapping[str, str] | None = None) -> None:
        webhooks.verify_notification(self.credentials, raw_body, query)

    def parse_webhook(self, headers: Headers, raw_body: bytes, *,
                      query: Mapping[str, str] | None = None) -> WebhookEvent:
        return webhooks.parse_notification(raw_body)

    def webhook_registration(self, url: str) -> WebhookRegistration:
        secret = self.credentials.get(self.webhook_secret_field)
        separator = "&" if "?" in url else "?"
        return WebhookRegistration(
            url=f"{url}{separator}{webhooks.SECRET_PARAMETER}={secret}" if secret else url,
            topics=webhooks.ORDER_TOPICS,
            instructions="En developers.mercadolibre.com.co › tus aplicaciones › esta aplicación: pega esta URL "
                         "en «URL de retorno de notificaciones» y activa el tema orders_v2.")

    # -- invoice delivery: the PDF attached to the pack --------------------------------------

    def invoice_delivery_refusal(self, order: Order) -> str | None:
        """Why Mercado Libre takes no invoice for this order: Brazil's site never (it has its own fiscal
        flow), Chile's Full packs neither; None when it can be attached. The site is the connection's
        (``site_id`` in the credentials, ``MCO`` by default)."""
        if self.site_id == "MLB":
            return "Mercado Livre Brasil no recibe facturas por esta vía."
        if self.site_id == "MLC" and order.is_fulfillment:
            return "Mercado Libre Chile no recibe facturas de paquetes Full por esta vía."
        return None

    def fiscal_documents(self, order: Order) -> list[str]:
        """The ids of the documents attached to the order's pack (the order id when it has no pack)."""
        return endpoints.list_fiscal_documents(self.client.api, _pack_path_id(order))

    def upload_fiscal_document(self, order: Order, content: bytes, filename: str) -> str:
        """Attach the invoice PDF to the order's pack; returns the document id. Mercado Libre's limits
        (a PDF, at most 1 MB) are checked before sending; the POST is sent once (``AmbiguousOutcome``
        on a timeout or 5xx: read :meth:`fiscal_documents` before any repeat)."""
        if len(content) > MAX_FISCAL_DOCUMENT_BYTES:
            raise PermanentRejection(
                f"La factura pesa {len(content) / 1024 / 1024:.1f} MB y Mercado Libre solo recibe hasta 1 MB.",
                detail=f"fiscal document of {len(content)} bytes")
        if not content.startswith(b"%PDF"):
            raise PermanentRejection("El documento de la factura no es un PDF; Mercado Libre solo lo recibe en PDF.",
                                     detail=f"fiscal document starts with {content[:8]!r}")
        return endpoints.upload_fiscal_document(self.client.api, _pack_path_id(order), content,
                                                filename or "factura.pdf")

    # -- stock (channels.mercadolibre.listings) ----------------------------------------------

    def iter_listings(self) -> Iterator[Listing]:
        return listings.iter_listings(self.client.api, self._seller_id())

    def get_listing(self, listing_id: str) -> Listing:
        return listings.get_listing(self.client.api, str(listing_id))

    def set_listing_stock(self, listing: Listing, quantity: int, price: Decimal | None = None) -> None:
        listings.set_stock(self.client.api, listing, quantity, price)

    def close(self) -> None:
        self.client.close()

    # -- internals --------------------------------------------------------------------------

    def _seller_id(self) -> str:
        if self.client.auth.user_id is None:
            self.client.auth.access_token()  # the token answer carries user_id
        if self.client.auth.user_id is None:
            me = endpoints.get_me(self.client.api)
            if me.get("id") is None:
                raise TransientError("Mercado Libre no informó el vendedor de la cuenta.",
                                     detail="/users/me without id")
            return str(me["id"])
        return self.client.auth.user_id

    def _search_orders(self, since: datetime | None) -> Iterator[dict[str, Any]]:
        """The listing's orders as their pages arrive, window after offset-capped window; an order
        listed again at the start of a window (it shares the boundary creation date) comes once."""
        seller_id = self._seller_id()
        created_from: str | None = None
        listed_before: set[str] = set()  # ids the previous window listed at ``created_from``
        while True:
            window = _SearchWindow()
            fetch = partial(self._search_page, seller_id, since, created_from, window)
            for order in iter_offset_pages(fetch, page_size=self.page_size):
                window.note(order)
                if order.get("id") is None:
                    log.warning("Mercado Libre listed an order without id; skipped")
                elif str(order["id"]) not in listed_before:
                    yield order
            if not window.truncated(self.max_search_offset):
                return
            if not isinstance(window.last_created, str) or window.last_created == created_from:
                log.warning("more than %s orders share creation date %s; listing cut short",
                            self.max_search_offset, window.last_created)
                return
            created_from, listed_before = window.last_created, window.ids_at_last_created

    def _search_page(self, seller_id: str, since: datetime | None, created_from: str | None,
                     window: _SearchWindow, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """One page of ``/orders/search`` and how far the window can go (the total, capped)."""
        page = endpoints.search_orders(self.client.api, seller_id=seller_id, offset=offset, limit=limit,
                                       updated_from=since, created_from=created_from)
        results = page.get("results")
        if not isinstance(results, list):
            raise TransientError("Mercado Libre respondió una lista de pedidos inesperada.",
                                 detail="orders/search without a results list")
        window.total = endpoints.paging_total(page)
        reachable = self.max_search_offset if window.total is None else min(window.total, self.max_search_offset)
        return [r for r in results if isinstance(r, dict)], reachable

    def _enrich(self, order: dict[str, Any]) -> PulledOrder:
        """The order with its shipment and billing info (``None`` for a part that is missing)."""
        shipment_id = _nested_id(order, "shipping")
        billing_info_id = _nested_id(order.get("buyer"), "billing_info")
        shipment = endpoints.get_shipment(self.client.api, shipment_id) if shipment_id else None
        billing_info = (endpoints.get_billing_info(self.client.api, self.site_id, billing_info_id)
                        if billing_info_id else None)
        return PulledOrder(external_id=str(order["id"]), updated_at=_last_updated(order),
                           raw={"order": order, "shipment": shipment, "billing_info": billing_info})


@dataclass
class _SearchWindow:
    """What one offset-capped run of ``/orders/search`` saw: enough to start the next run."""

    listed: int = 0
    total: int | None = None  # paging.total of the last page, when usable
    last_created: Any = None  # date_created of the last order listed
    ids_at_last_created: set[str] = field(default_factory=set)  # ids listed with that creation date

    def note(self, order: dict[str, Any]) -> None:
        self.listed += 1
        created = order.get("date_created")
        if created != self.last_created:
            self.last_created, self.ids_at_last_created = created, set()
        if order.get("id") is not None:
            self.ids_at_last_created.add(str(order["id"]))

    def truncated(self, cap: int) -> bool:
        """Whether the cap cut this run short (more orders match than it could list)."""
        return self.listed >= cap and (self.total is None or self.total > self.listed)


def _last_updated(order: dict[str, Any]) -> datetime | None:
    return parse_ml_datetime(order.get("last_updated") or order.get("date_last_updated")) or \
        parse_ml_datetime(order.get("date_created"))


def _nested_id(parent: Any, key: str) -> str | None:
    child = parent.get(key) if isinstance(parent, dict) else None
    value = child.get("id") if isinstance(child, dict) else None
    return str(value) if value not in (None, "") and not isinstance(value, bool) else None


def _pack_path_id(order: Order) -> str:
    """The pack id for ``/packs/{id}/...``: the order's pack, else the order itself (documented). Only digits
    reach the path: anything else cannot be a Mercado Libre pack."""
    pack_id = str(order.pack_id or order.external_id).strip()
    if not pack_id.isdigit():
        raise NotFound(f"«{pack_id[:30]}» no es un paquete de Mercado Libre.", detail="non-numeric pack id")
    return pack_id

