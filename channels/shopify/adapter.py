"""The Shopify channel adapter: orders by ``updated_at_min`` with Link-header cursors, and webhooks.

``pull_orders`` asks for every status (``status=any``) changed since the cursor, sorted by
``updated_at`` ascending, and follows ``rel="next"`` links (:func:`connector.http.iter_link_header_pages`).

Webhooks: Shopify signs each delivery with ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(raw body,
secret)); the secret is the app's client secret (or, for webhooks created in the store admin, the
key shown under Settings › Notifications › Webhooks). A re-delivery keeps ``X-Shopify-Webhook-Id``.
Order topics carry the order (its ``id``); ``refunds/create`` carries the refund, whose ``order_id``
names the order to fetch again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
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
    header,
    hmac_sha256_base64,
    numeric_order_id,
    order_id_in_webhook,
    require_matching_secret,
)
from channels.delivery import ErpEmailDelivery
from channels.payloads import parse_iso_datetime, text_of
from channels.shopify import endpoints, inventory
from channels.shopify.client import BUCKET_CAPACITY, LEAK_PER_SECOND, ShopifyClient
from channels.shopify.parser import parse_order
from connector.canonical import Order, PulledOrder
from connector.errors import WebhookRejected
from connector.http import iter_link_header_pages

ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
                "refunds/create")
# Topics whose body is another resource of an order: the order is its ``order_id`` (a refund's ``id`` is its own).
ORDER_CHILD_TOPICS = ("refunds/",)


class ShopifyAdapter(ErpEmailDelivery):
    """One Shopify store (see :class:`channels.base.ChannelAdapter`).

    ``credentials``: ``shop`` and ``access_token`` (required), ``webhook_secret``, ``api_version``
    (default 2024-10) and ``document_field`` (where the store keeps the buyer's document, see
    :mod:`channels.shopify.parser`).
    """

    name: ClassVar[str] = "shopify"
    display_name: ClassVar[str] = "Shopify"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("shop", "Tienda (mi-tienda.myshopify.com)"),
        CredentialField("access_token", "Token de acceso de la API de administración", secret=True,
                        help="De la app personalizada de la tienda, con permiso read_orders."),
        CredentialField("webhook_secret", "Clave de firma de los webhooks", secret=True, required=False,
                        help="El «client secret» de la app, o la clave que muestra Configuración › "
                             "Notificaciones › Webhooks. Sin ella los webhooks se rechazan."),
        CredentialField("api_version", "Versión de la API", required=False, help="Por defecto 2024-10."),
        CredentialField("document_field", "Dónde guarda la tienda el documento del comprador", required=False,
                        help="auto, note:<Nombre del atributo>, billing_company, billing_address2 o none."),
    )
    webhook_secret_field: ClassVar[str] = "webhook_secret"
    generates_webhook_secret: ClassVar[bool] = False
    invoice_delivery: ClassVar[str] = InvoiceDelivery.ERP_EMAIL  # the buyer has an e-mail: the ERP sends it
    rate_limit: ClassVar[RateLimitSpec] = RateLimitSpec(
        "leaky_bucket", "Cubeta de 40 peticiones que se vacía a 2 por segundo (planes estándar): se espera "
        "antes de llenarla según X-Shopify-Shop-Api-Call-Limit; un 429 se reintenta tras su Retry-After.",
        capacity=BUCKET_CAPACITY, refill_per_second=LEAK_PER_SECOND)

    def __init__(self, credentials: dict[str, Any], options: ChannelOptions | None = None, *,
                 on_credentials_changed: CredentialsChanged | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        options = options or ChannelOptions()
        self.client = ShopifyClient(credentials, base_url=options.base_url, timeout=options.timeout,
                                    transport=transport, sleep=sleep, clock=clock,
                                    wait_limits=options.wait_limits)
        self.credentials = self.client.credentials
        self.page_size = min(options.page_size or endpoints.MAX_PAGE_SIZE, endpoints.MAX_PAGE_SIZE)
        self.document_field = str(credentials.get("document_field") or "auto")

    # -- ChannelAdapter ---------------------------------------------------------------------

    def validate_credentials(self) -> AccountInfo:
        """Read ``/shop.json`` (proves the token works for this store)."""
        shop = endpoints.get_shop(self.client.api)
        return AccountInfo(remote_id=str(shop.get("id") or self.client.shop),
                           display_name=str(shop.get("name") or self.client.shop),
                           extra={"domain": shop.get("myshopify_domain") or self.client.shop,
                                  "currency": shop.get("currency"), "taxes_included": shop.get("taxes_included")})

    def pull_orders(self, since: datetime | None, *, known: KnownOrder | None = None) -> Iterator[PulledOrder]:
        """Every order changed since ``since`` (inclusive), oldest ``updated_at`` first, all pages."""
        first = endpoints.first_orders_page_params(updated_since=since, limit=self.page_size)

        def fetch(next_params: dict[str, str] | None) -> httpx.Response:
            return endpoints.list_orders(self.client.api, first if next_params is None else next_params)

        for order in iter_link_header_pages(fetch, endpoints.orders_of):
            if text_of(order.get("id")) is None:
                continue  # nothing to key it by; the parser would refuse it anyway
            pulled = _pulled(order)
            if known is None or not known(pulled.external_id, pulled.updated_at):
                yield pulled

    def fetch_order(self, external_id: str) -> PulledOrder:
        """One order by id; ``NotFound`` if it does not exist."""
        order_id = numeric_order_id(external_id, self.display_name)
        order = endpoints.get_order(self.client.api, order_id)
        return _pulled(order if order.get("id") is not None else {**order, "id": order_id})

    def parse_order(self, pulled: PulledOrder) -> Order:
        return parse_order(pulled, document_field=self.document_field)

    # -- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, headers: Headers, raw_body: bytes, *, query: Mapping[str, str] | None = None) -> None:
        """The HMAC of the raw bytes must match ``X-Shopify-Hmac-Sha256``, and the shop must be ours."""
        secret = text_of(self.credentials.get(self.webhook_secret_field))
        given = header(headers, "X-Shopify-Hmac-Sha256")
        expected = hmac_sha256_base64(secret, raw_body) if secret else None
        require_matching_secret(expected, given, self.display_name)
        shop = header(headers, "X-Shopify-Shop-Domain")
        if shop is not None and shop.lower() != self.client.shop:
            raise WebhookRejected("Notificación de Shopify de otra tienda: rechazada.", detail="shop domain mismatch")

    def parse_webhook(self, headers: Headers, raw_body: bytes, *,
                      query: Mapping[str, str] | None = None) -> WebhookEvent:
        topic = header(headers, "X-Shopify-Topic") or ""
        delivery_id = header(headers, "X-Shopify-Webhook-Id") or header(headers, "X-Shopify-Event-Id")
        if topic.startswith(ORDER_CHILD_TOPICS):
            return WebhookEvent(delivery_id, topic, order_id_in_webhook(raw_body, self.display_name, key="order_id"))
        if not topic.startswith("orders/"):
            return WebhookEvent(delivery_id, topic, None)
        order_id = order_id_in_webhook(raw_body, self.display_name)
        return WebhookEvent(delivery_id, topic, order_id)

    def webhook_registration(self, url: str) -> WebhookRegistration:
        return WebhookRegistration(
            url=url, topics=ORDER_TOPICS,
            instructions="En Shopify: Configuración › Notificaciones › Webhooks (o la app), crea un webhook "
                         "JSON por cada tema con esta URL. Guarda aquí la clave de firma que muestra Shopify.")

    # -- stock (channels.shopify.inventory) ----------------------------------------------------

    def iter_listings(self) -> Iterator[Listing]:
        return inventory.iter_listings(self.client.api, self._stock_location())

    def get_listing(self, listing_id: str) -> Listing:
        return inventory.get_listing(self.client.api, str(listing_id), self._stock_location())

    def set_listing_stock(self, listing: Listing, quantity: int, price: Decimal | None = None) -> None:
        inventory.set_stock(self.client.api, listing, quantity, price)

    def _stock_location(self) -> str:
        """The location whose stock is published (the ``location_id`` credential, else the first active)."""
        if getattr(self, "_location_id", None) is None:
            self._location_id = inventory.primary_location(self.client.api, self.credentials.get("location_id"))
        return self._location_id

    def close(self) -> None:
        self.client.close()


def _pulled(order: dict[str, Any]) -> PulledOrder:
    updated = parse_iso_datetime(order.get("updated_at")) or parse_iso_datetime(order.get("created_at"))
    return PulledOrder(external_id=str(order["id"]), updated_at=updated, raw={"order": order})
