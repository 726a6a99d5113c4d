"""What a channel adapter declares and provides: the contract every marketplace package meets.

A channel adapter knows one marketplace and nothing about ERPs. The core talks to it only through
:class:`ChannelAdapter` and only receives canonical :class:`~connector.canonical.Order` objects.
Adding a marketplace is one package (``channels/<name>/``: client, endpoints, parser, adapter), its
tests and one line in ``channels/registry.py``; ``tests/channels/test_contract.py`` runs the same
suite over every registered adapter.

The contract, point by point:

* **Declarations** (class attributes): ``name`` (the registry key), ``display_name``,
  ``credential_fields`` (the connect form; ``secret=True`` fields are masked everywhere),
  ``webhook_secret_field`` (the credential that authenticates webhooks),
  ``generates_webhook_secret`` (True when the connector chooses that secret and shows it to the
  seller; False when the marketplace dictates it, e.g. a Shopify app's secret) and ``rate_limit``
  (a :class:`RateLimitSpec` saying how the marketplace limits us and how the client honours it).
* **Construction**: ``cls(credentials, ChannelOptions(...), on_credentials_changed=..., transport=...)``.
  Construction never does network I/O; missing credentials raise ``ConfigurationError``.
* **Credentials**: ``validate_credentials()`` calls the API once and returns :class:`AccountInfo`;
  a refusal is ``InvalidCredentials`` with a Spanish message that never contains a secret.
* **Orders**: ``pull_orders(since)`` yields every order changed since the cursor, across all pages
  (the shared paginators of :mod:`connector.http`), each as a :class:`PulledOrder` with its raw
  documents. It streams: each order is yielded as its page arrives, in whatever order the
  marketplace lists them, and the adapter keeps at most a page and the few ids it needs to skip
  an order listed twice, so a backlog of any length is pulled in the same memory. No sort is
  needed because the core moves the cursor (to the newest ``updated_at`` seen) only once the whole
  pull has succeeded. ``fetch_order(id)`` gets one order; ``parse_order`` is pure and raises only
  ``InvalidPayload``.
* **Status**: the parser normalises the marketplace's status to the five canonical ones with the
  same meaning on every channel: *pending* = paid, waiting to be shipped; *shipped* = on its way,
  not confirmed delivered; *completed* = delivered/closed; *cancelled* = cancelled, voided, refunded,
  failed; *other* = not paid yet or anything else (so "pending" never invoices an unpaid order).
  Each parser's module docstring has its table.
* **Money**: ``OrderLine.unit_price`` is what the buyer paid per unit, ``discount`` an amount off the
  line, ``shipping_cost`` what the buyer paid for shipping, all in the order's tax convention
  (``prices_include_tax``), so the invoice total equals what the buyer paid.
* **Refunds**: the parser fills ``Order.refunds`` with what the marketplace shows now of money given
  back after the sale (refunds, returns, cancellations after payment), oldest first, in the order's
  tax convention, each under an id that is the same on every pull (``cancel-<order id>`` for a
  cancellation with no refund object of its own); a refund it cannot read is skipped with a logged
  warning, never making the order unreadable (:mod:`channels.refunds`). An adapter fetches extra
  refund documents only for orders that show refunds (WooCommerce).
* **Webhooks**: ``verify_webhook(headers, raw_body, query=...)`` authenticates a delivery on the
  *raw bytes* with a constant-time comparison and raises :class:`~connector.errors.WebhookRejected`
  when the signature is missing or wrong; ``parse_webhook`` (called only after a successful
  verification) says which delivery it is (for duplicates), its topic and which order to fetch.
  ``webhook_registration(url)`` tells the seller what to register in the marketplace. Webhooks are
  hints: the handler fetches the order from the API, and polling stays on as the backstop.
* **Reading documents**: parsers and endpoints build on :mod:`channels.payloads` (the
  :class:`~channels.payloads.PayloadReader`, :func:`~channels.payloads.parse_safely`,
  :func:`~channels.payloads.json_document`) so every channel words a bad payload the same way.
* **Rate limits**: honoured inside the client (one :class:`~connector.http.Requestor` per API) so a
  caller never sees a 429 that a wait would have avoided.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from channels.payloads import text_of
from connector.canonical import Order, PulledOrder
from integrations.declarations import AccountInfo, CredentialField  # noqa: F401 (re-exported)
from integrations.errors import InvalidPayload, NotFound, WebhookRejected
from integrations.http import WaitLimits

# True when the connector already holds this order (external id) as of that update time.
KnownOrder = Callable[[str, datetime | None], bool]


@dataclass(frozen=True)
class ChannelOptions:
    """Process-level options handed to an adapter (never module globals).

    ``base_url`` overrides the public API address; the core only passes one in sandbox/dev mode.
    ``allow_private_network`` lets a user-supplied store address point at a private, loopback or
    link-local host (sandbox/dev mode only; WooCommerce's SSRF guard reads it).
    """

    base_url: str | None = None
    timeout: float = 20.0
    page_size: int | None = None
    allow_private_network: bool = False
    wait_limits: WaitLimits = field(default_factory=WaitLimits)  # Retry-After cap and call deadline


@dataclass(frozen=True)
class RateLimitSpec:
    """How a marketplace limits our calls and how its client honours the limit.

    ``strategy``: ``leaky_bucket`` (a bucket of ``capacity`` requests draining ``refill_per_second``,
    read from response headers before it overflows) or ``backoff`` (nothing to read ahead: 429s are
    retried with exponential backoff and jitter). ``retry_after`` says whether a 429's
    ``Retry-After`` header is honoured.
    """

    strategy: str
    description: str
    capacity: int | None = None
    refill_per_second: float | None = None
    retry_after: bool = True


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook delivery, reduced to what the core needs.

    ``delivery_id`` is the marketplace's id of the delivery (kept for information; ``None`` when the
    marketplace gives none, e.g. a set-up ping); duplicates are recognised by ``replay_key``. ``external_order_id`` is the order to fetch, or
    ``None`` when the delivery concerns no order (pings, other topics): it is acknowledged and
    nothing is queued.
    """

    delivery_id: str | None
    topic: str
    external_order_id: str | None
    # What makes a repeated delivery the same one. ``None`` (signed channels): the signed raw body,
    # which the core hashes; the delivery id header is not signed, so a replay could change it. An
    # unsigned channel names what identifies a notification (e.g. topic, resource and sent time).
    replay_key: str | None = None


@dataclass(frozen=True)
class WebhookRegistration:
    """What a seller registers in the marketplace so it delivers webhooks to the connector."""

    url: str
    topics: tuple[str, ...]
    instructions: str
    secret: str | None = None  # to paste into the marketplace, when the connector chose it


# Called by an adapter when the remote side rotated its credentials (Mercado Libre's refresh token):
# the core persists the new values, encrypted, before the adapter goes on.
CredentialsChanged = Callable[[dict[str, Any]], None]

Headers = Mapping[str, str]


class ChannelAdapter(Protocol):
    """One marketplace (see the module docstring for the whole contract)."""

    name: ClassVar[str]  # registry key, e.g. "mercadolibre"
    display_name: ClassVar[str]  # "Mercado Libre"
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    webhook_secret_field: ClassVar[str]  # the credential that authenticates webhooks
    generates_webhook_secret: ClassVar[bool]  # the connector chooses the secret (True) or the marketplace
    rate_limit: ClassVar[RateLimitSpec]
    # How the buyer gets the invoice: the adapter attaches it to the order ("channel": the marketplace
    # notifies the buyer itself), or the ERP e-mails it to the buyer's own e-mail ("erp_email").
    invoice_delivery: ClassVar[str]

    def validate_credentials(self) -> AccountInfo:
        """Call the API once to prove the credentials work; raise ``InvalidCredentials`` if not."""

    def pull_orders(self, since: datetime | None, *, known: KnownOrder | None = None) -> Iterator[PulledOrder]:
        """Yield every order created or changed since ``since`` (all pages) as the pages arrive, in any
        order, keeping no more than a page in memory (see the module docstring). An order for which
        ``known(external_id, updated_at)`` is true is already stored as of that change: skip it
        without fetching anything more for it (a pull that starts again after a crash, or re-reads
        its overlap, then costs only the listing pages)."""

    def fetch_order(self, external_id: str) -> PulledOrder:
        """Fetch one order with everything ``parse_order`` needs."""

    def parse_order(self, pulled: PulledOrder) -> Order:
        """Turn raw documents into a canonical order; raise ``InvalidPayload`` with a clear reason."""

    def verify_webhook(self, headers: Headers, raw_body: bytes, *, query: Mapping[str, str] | None = None) -> None:
        """Authenticate a delivery on its raw bytes; raise ``WebhookRejected`` if it is not genuine."""

    def parse_webhook(self, headers: Headers, raw_body: bytes, *,
                      query: Mapping[str, str] | None = None) -> WebhookEvent:
        """The delivery id, topic and order of a verified delivery; ``WebhookRejected`` if unreadable."""

    def webhook_registration(self, url: str) -> WebhookRegistration:
        """What to register in the marketplace for deliveries to ``url``."""

    # -- invoice delivery (only for ``invoice_delivery == "channel"``) ---------------------------------

    def invoice_delivery_refusal(self, order: Order) -> str | None:
        """Why this order's invoice cannot be attached on the marketplace (a site or a logistics the
        marketplace does not take documents for), or None when it can."""

    def fiscal_documents(self, order: Order) -> list[str]:
        """The ids of the documents already attached to the order (read before any upload, and to
        settle an upload whose answer was lost)."""

    def upload_fiscal_document(self, order: Order, content: bytes, filename: str) -> str:
        """Attach the invoice PDF to the order; returns the document id. May raise ``AmbiguousOutcome``."""

    def close(self) -> None:
        """Release HTTP connections."""


class InvoiceDelivery:
    """Values of ``ChannelAdapter.invoice_delivery``."""

    CHANNEL = "channel"
    ERP_EMAIL = "erp_email"


ChannelFactory = Callable[..., ChannelAdapter]


# -- helpers every adapter's webhook code uses --------------------------------------------------


def header(headers: Headers, name: str) -> str | None:
    """A header's value, case-insensitively, stripped; ``None`` when absent or blank."""
    getter = getattr(headers, "get", None)
    value = getter(name) if getter is not None else None
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def hmac_sha256_base64(secret: str, raw_body: bytes) -> str:
    """``base64(HMAC-SHA256(raw_body, secret))``: Shopify's and WooCommerce's webhook signature."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def require_matching_secret(expected: str | None, given: str | None, channel: str, what: str = "firma") -> None:
    """Constant-time comparison of ``given`` with ``expected``; :class:`WebhookRejected` unless equal.

    No configured secret rejects everything: an unauthenticated delivery is never trusted.
    """
    if not expected:
        raise WebhookRejected(f"La conexión de {channel} no tiene secreto de webhooks configurado; "
                              "se rechaza la notificación.", detail="no webhook secret configured")
    if not given:
        raise WebhookRejected(f"Notificación de {channel} sin {what}: rechazada.", detail=f"missing {what}")
    if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
        raise WebhookRejected(f"Notificación de {channel} con {what} incorrecta: rechazada.",
                              detail=f"{what} mismatch")


def new_webhook_secret() -> str:
    """A fresh random secret for webhooks the connector authenticates (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def order_id_in_webhook(raw_body: bytes, channel_label: str, *, key: str = "id") -> str:
    """The ``id`` of the order a verified delivery carries as its JSON body (Shopify, WooCommerce), or
    its ``key`` when the body is another resource of the order (a Shopify refund's ``order_id``);
    :class:`InvalidPayload` when there is none (nothing can be fetched)."""
    try:
        body = json.loads(raw_body)
    except ValueError:
        body = None
    order_id = text_of(body.get(key)) if isinstance(body, dict) else None
    if order_id is None:
        raise InvalidPayload(f"La notificación de {channel_label} no trae el pedido.",
                             detail="webhook body without id")
    return order_id


# -- helpers every adapter's fetch_order uses -------------------------------------------------


def numeric_order_id(external_id: str, channel_label: str) -> str:
    """An order id that is all digits (Shopify, WooCommerce), stripped; :class:`NotFound` otherwise,
    before any request: such an order cannot exist, and the id never reaches a URL path."""
    order_id = str(external_id).strip()
    if not order_id.isdigit():
        raise NotFound(f"El pedido «{order_id[:30]}» no es un pedido de {channel_label}.",
                       detail="non-numeric order id")
    return order_id
