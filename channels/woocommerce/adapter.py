"""The WooCommerce channel adapter: orders by page number (``X-WP-TotalPages``) and webhooks.

Webhooks: WooCommerce signs each delivery with ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(raw
body, secret)), the secret typed when the webhook was created (the connector generates one and shows
it, unless the seller gave theirs). ``X-WC-Webhook-Delivery-ID`` identifies the delivery.

Refunds: an order object lists its refunds only in summary; for an order whose summary is not
empty the adapter also reads ``GET /orders/{id}/refunds`` (one request, only for those orders).

When a webhook is created WooCommerce sends an **unsigned ping** (body ``webhook_id=N``) and refuses
to save the webhook unless it is answered 200. The ping carries no data and triggers nothing, so it
is acknowledged without a signature and nothing is stored or queued; every other delivery without
a valid signature is rejected.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
    header,
    hmac_sha256_base64,
    numeric_order_id,
    order_id_in_webhook,
    require_matching_secret,
)
from channels.delivery import ErpEmailDelivery
from channels.payloads import parse_iso_datetime, text_of
from channels.woocommerce import endpoints, products
from channels.woocommerce.client import Resolver, WooCommerceClient, resolve_host
from channels.woocommerce.parser import parse_order
from channels.woocommerce.refunds import has_refunds
from connector.canonical import Order, PulledOrder
from connector.errors import ConfigurationError, NotFound
from connector.http import iter_page_number_pages

ORDER_TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")
_PING = re.compile(rb"webhook_id=\d+")


class WooCommerceAdapter(ErpEmailDelivery):
    """One WooCommerce store (see :class:`channels.base.ChannelAdapter`).

    ``credentials``: ``store_url``, ``consumer_key``, ``consumer_secret`` (required),
    ``webhook_secret``, ``auth_method`` (``basic`` or ``query``) and ``document_field`` (where the
    store keeps the buyer's document, see :mod:`channels.woocommerce.parser`).
    """

    name: ClassVar[str] = "woocommerce"
    display_name: ClassVar[str] = "WooCommerce"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("store_url", "Dirección de la tienda (https://mitienda.com)"),
        CredentialField("consumer_key", "Consumer key (ck_...)", secret=True,
                        help="WooCommerce › Ajustes › Avanzado › API REST, con permiso de lectura."),
        CredentialField("consumer_secret", "Consumer secret (cs_...)", secret=True),
        CredentialField("webhook_secret", "Secreto de los webhooks", secret=True, required=False,
                        help="Si lo dejas vacío, el conector genera uno para pegarlo al crear el webhook."),
        CredentialField("auth_method", "Autenticación", required=False,
                        help="basic (por defecto) o query, si el hosting elimina la cabecera Authorization."),
        CredentialField("document_field", "Dónde guarda la tienda el documento del comprador", required=False,
                        help="auto, meta:<clave>, billing_company o none."),
    )
    webhook_secret_field: ClassVar[str] = "webhook_secret"
    generates_webhook_secret: ClassVar[bool] = True
    invoice_delivery: ClassVar[str] = InvoiceDelivery.ERP_EMAIL  # the buyer has an e-mail: the ERP sends it
    rate_limit: ClassVar[RateLimitSpec] = RateLimitSpec(
        "backoff", "WooCommerce no documenta un límite; el hosting puede responder 429 (se respeta Retry-After) "
                   "o 503: se reintenta con espera exponencial y variación aleatoria.")

    def __init__(self, credentials: dict[str, Any], options: ChannelOptions | None = None, *,
                 on_credentials_changed: CredentialsChanged | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 resolve: Resolver = resolve_host):
        options = options or ChannelOptions()
        self.client = WooCommerceClient(credentials, base_url=options.base_url, timeout=options.timeout,
                                        allow_private_network=options.allow_private_network, transport=transport,
                                        sleep=sleep, resolve=resolve, wait_limits=options.wait_limits)
        self.credentials = self.client.credentials
        self.page_size = min(options.page_size or endpoints.MAX_PAGE_SIZE, endpoints.MAX_PAGE_SIZE)
        self.document_field = str(credentials.get("document_field") or "auto")

    # -- ChannelAdapter ---------------------------------------------------------------------

    def validate_credentials(self) -> AccountInfo:
        """List one order (proves the keys can read orders), then read the site's name."""
        try:
            endpoints.list_orders(self.client.api, page=1, per_page=1, modified_after=None)
        except NotFound as exc:
            raise ConfigurationError("Esa dirección no responde como una tienda WooCommerce (no se encontró "
                                     "/wp-json/wc/v3); revisa la URL y que los enlaces permanentes estén activos.",
                                     detail=exc.detail) from exc
        store = self.client.store_url
        host = urlsplit(store).netloc + urlsplit(store).path
        try:
            name = text_of(endpoints.get_site_index(self.client.api).get("name"))
        except (NotFound, ConfigurationError):
            name = None
        return AccountInfo(remote_id=host, display_name=name or host, extra={"store_url": store})

    def pull_orders(self, since: datetime | None, *, known: KnownOrder | None = None) -> Iterator[PulledOrder]:
        """Every order changed since ``since``, all pages, in creation order as the pages arrive.

        The order does not matter to the cursor: the core commits each order as it arrives and
        moves the cursor to the newest change it saw only once the whole pull has succeeded.
        """
        recent = _PreviousPageIds()

        def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
            orders, total_pages = endpoints.list_orders(self.client.api, page=page, per_page=self.page_size,
                                                        modified_after=since)
            recent.turn_to(orders)
            return orders, total_pages

        for order in iter_page_number_pages(fetch):
            order_id = text_of(order.get("id"))
            if order_id is not None and not recent.on_previous_page(order_id):
                pulled = _pulled(order)
                if known is None or not known(pulled.external_id, pulled.updated_at):
                    yield self._with_refunds(pulled)

    def fetch_order(self, external_id: str) -> PulledOrder:
        """One order by id; ``NotFound`` if it does not exist."""
        order_id = numeric_order_id(external_id, self.display_name)
        order = endpoints.get_order(self.client.api, order_id)
        return self._with_refunds(_pulled(order if order.get("id") is not None else {**order, "id": order_id}))

    def parse_order(self, pulled: PulledOrder) -> Order:
        return parse_order(pulled, document_field=self.document_field)

    # -- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, headers: Headers, raw_body: bytes, *, query: Mapping[str, str] | None = None) -> None:
        """``X-WC-Webhook-Signature`` must be the HMAC of the raw bytes (the unsigned set-up ping aside)."""
        given = header(headers, "X-WC-Webhook-Signature")
        if given is None and is_ping(raw_body):
            return
        secret = text_of(self.credentials.get(self.webhook_secret_field))
        require_matching_secret(hmac_sha256_base64(secret, raw_body) if secret else None, given, self.display_name)

    def parse_webhook(self, headers: Headers, raw_body: bytes, *,
                      query: Mapping[str, str] | None = None) -> WebhookEvent:
        if header(headers, "X-WC-Webhook-Signature") is None and is_ping(raw_body):
            return WebhookEvent(None, "ping", None)
        topic = header(headers, "X-WC-Webhook-Topic") or ""
        delivery_id = header(headers, "X-WC-Webhook-Delivery-ID")
        if not topic.startswith("order."):
            return WebhookEvent(delivery_id, topic, None)
        order_id = order_id_in_webhook(raw_body, self.display_name)
        return WebhookEvent(delivery_id, topic, order_id)

    def webhook_registration(self, url: str) -> WebhookRegistration:
        return WebhookRegistration(
            url=url, topics=ORDER_TOPICS, secret=text_of(self.credentials.get(self.webhook_secret_field)),
            instructions="En WordPress: WooCommerce › Ajustes › Avanzado › Webhooks › Añadir webhook. Estado "
                         "activo, versión API v3, esta URL de entrega y este secreto; uno por cada tema.")

    # -- stock (channels.woocommerce.products) ----------------------------------------------------

    def iter_listings(self) -> Iterator[Listing]:
        return products.iter_listings(self.client.api)

    def get_listing(self, listing_id: str) -> Listing:
        return products.get_listing(self.client.api, str(listing_id))

    def set_listing_stock(self, listing: Listing, quantity: int, price: Decimal | None = None) -> None:
        products.set_stock(self.client.api, listing, quantity, price)

    def close(self) -> None:
        self.client.close()

    def _with_refunds(self, pulled: PulledOrder) -> PulledOrder:
        """The order with its refunds (``raw["refunds"]``) when its summary lists any; no request otherwise."""
        order = pulled.raw["order"]
        if not has_refunds(order):
            return pulled
        refunds = endpoints.list_refunds(self.client.api, pulled.external_id)
        return pulled.model_copy(update={"raw": {**pulled.raw, "refunds": refunds}})


def is_ping(raw_body: bytes) -> bool:
    """WooCommerce's set-up ping: ``webhook_id=<n>`` and nothing else."""
    return bool(_PING.fullmatch(raw_body.strip()))


class _PreviousPageIds:
    """The ids of the page before the current one, to yield an order that moved between pages once.

    Pages are sorted by creation date. An order that starts matching ``modified_after`` during the
    pull (it changed after the pull began) enters the listing at its creation date; when that is
    on a page already read, every later order moves one place down and the last order of the
    previous page is listed again at the top of the next one: that repeat is skipped here.

    What this cannot catch, and why it is acceptable: when more than a page of orders enters the
    listing between two page requests, a repeat comes from an earlier page and is yielded again;
    the core stores an order that did not change as unchanged, so it costs one write, nothing
    else. An order trashed during the pull leaves the listing and moves later orders one place
    up, so the order at the next page boundary is not listed by this pull (no memory of ids can see
    what was never listed): its webhook brings it, and so does a later pull once it changes or
    when the cursor this pull leaves is not past its last change. This was so before pages were
    streamed too; only re-reading an overlapping page (``offset``) would close it.
    """

    def __init__(self) -> None:
        self.previous: set[str] = set()
        self.current: set[str] = set()

    def turn_to(self, orders: list[dict[str, Any]]) -> None:
        """A new page arrived: the current page's ids become the previous page's."""
        self.previous = self.current
        self.current = {order_id for order in orders if (order_id := text_of(order.get("id"))) is not None}

    def on_previous_page(self, order_id: str) -> bool:
        return order_id in self.previous


def _pulled(order: dict[str, Any]) -> PulledOrder:
    updated = (parse_iso_datetime(order.get("date_modified_gmt")) or parse_iso_datetime(order.get("date_modified"))
               or parse_iso_datetime(order.get("date_created_gmt")))
    return PulledOrder(external_id=str(order["id"]), updated_at=updated, raw={"order": order})
