"""The data model (SQLAlchemy 2). Alembic migrations in ``connector/migrations`` create it.

The database is the system of record: queue messages are hints, every order and every invoice
attempt lives here first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on every backend (SQLite forgets the zone; we put UTC back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


Money = Numeric(18, 6)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON, Decimal: Money}


class Account(Base):
    """A seller."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    erp_connection: Mapped[ERPConnection | None] = relationship(back_populates="account", uselist=False)
    channel_connections: Mapped[list[ChannelConnection]] = relationship(back_populates="account")


class ERPConnection(Base):
    """The seller's ERP (one per account). ``settings`` holds the invoicing rules (seed 004)."""

    __tablename__ = "erp_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    credential_hint: Mapped[str] = mapped_column(String(200), default="")
    api_base_url: Mapped[str | None] = mapped_column(String(500))  # sandbox/dev mode only
    remote_account_id: Mapped[str | None] = mapped_column(String(100))
    remote_name: Mapped[str | None] = mapped_column(String(200))
    # ISO country of the ERP account: picks its fiscal profile (NULL: the ERP's default country).
    country: Mapped[str | None] = mapped_column(String(2))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Bumped on every change of ``settings``: a form saved over a newer version is refused (no lost update).
    settings_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    catalog_refreshed_at: Mapped[datetime | None]
    # Circuit breaker: consecutive outage failures, and until when invoicing pauses (see connector/circuit.py).
    circuit_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    circuit_open_until: Mapped[datetime | None]
    circuit_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The mirror (connector/mirror.py): the secret in the path of the ERP's webhook URL (encrypted like
    # the credentials), and the contacts import's cursor (the next page's offset; None once done).
    mirror_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    contacts_import_start: Mapped[int | None] = mapped_column(Integer, default=0, server_default="0")
    contacts_imported_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="erp_connection")


class ChannelConnection(Base):
    """One marketplace account of a seller. ``settings_overrides`` overrides the ERP rules for it."""

    __tablename__ = "channel_connections"
    # One store per installation: the same marketplace account in two seller accounts would invoice
    # every order twice (connector/services/connections.py refuses it first, with a clear message).
    __table_args__ = (UniqueConstraint("account_id", "kind", "remote_account_id"),
                      UniqueConstraint("kind", "remote_account_id", name="uq_channel_connection_store"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    credential_hint: Mapped[str] = mapped_column(String(200), default="")
    api_base_url: Mapped[str | None] = mapped_column(String(500))
    remote_account_id: Mapped[str | None] = mapped_column(String(100))
    remote_name: Mapped[str | None] = mapped_column(String(200))
    settings_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # as ERPConnection's
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Stock from the ERP to this channel (connector/stock.py): the seller's settings, what the last
    # comparison found, and the lease one stock run per connection holds (RowLease).
    stock_settings: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    stock_status: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    stock_claim_token: Mapped[str | None] = mapped_column(String(64))
    stock_claimed_until: Mapped[datetime | None]

    account: Mapped[Account] = relationship(back_populates="channel_connections")


class Order(Base):
    """A marketplace order. Unique per (channel connection, marketplace order id)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel_connection_id", "external_id", name="uq_order_per_connection"),
        Index("ix_orders_state_due", "state", "next_attempt_at"),
        Index("ix_orders_dispatched_at", "dispatched_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="received")
    state_reason: Mapped[str] = mapped_column(Text, default="")
    # The reason's Spanish template and parameters (connector/reasons.py), so each reader sees it in
    # their own language; None on rows written before (and on plain-text reasons): the text shows as it is.
    state_reason_msgid: Mapped[str | None] = mapped_column(Text)
    state_reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str | None] = mapped_column(String(20))  # normalised marketplace status
    raw_status: Mapped[str | None] = mapped_column(String(60))
    is_fulfillment: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str | None] = mapped_column(String(3))
    total_paid: Mapped[Decimal | None]
    shipping_cost: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    buyer_name: Mapped[str | None] = mapped_column(String(300))
    buyer_document: Mapped[str | None] = mapped_column(String(60))
    remote_created_at: Mapped[datetime | None]
    remote_updated_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    canonical: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # parsed Order, None if unparseable
    # The order's searchable words, accents dropped and case folded (connector/order_search.py).
    search_text: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    # When the sweeper last handed the order to the queue; cleared when a worker picks it up
    # (connector/dispatch.py). Keeps one message per order in the queue.
    dispatched_at: Mapped[datetime | None]
    # Optimistic lock: every UPDATE checks the version it read, so two processes that loaded the
    # same order cannot overwrite each other's state (the loser gets StaleDataError and re-reads).
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    channel_connection: Mapped[ChannelConnection] = relationship()
    # The account's ERP (one per account), for loading with the order in one query
    # (connector.pipeline.process_order); read-only: connections are changed through their own rows.
    erp_connection: Mapped[ERPConnection | None] = relationship(
        primaryjoin="foreign(Order.account_id) == ERPConnection.account_id", viewonly=True, uselist=False)
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.position")
    invoice: Mapped[Invoice | None] = relationship(back_populates="order", uselist=False)
    activity: Mapped[list[ActivityEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="ActivityEvent.id")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku_key: Mapped[str] = mapped_column(String(200), index=True)  # sku, or item/variation id without one
    sku: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    variation_id: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[Decimal]
    unit_price: Mapped[Decimal]
    erp_item_id: Mapped[str | None] = mapped_column(String(60))
    erp_item_name: Mapped[str | None] = mapped_column(String(300))
    match_source: Mapped[str | None] = mapped_column(String(20))  # manual | barcode | reference | variant

    order: Mapped[Order] = relationship(back_populates="lines")


class SkuMapping(Base):
    """A mapping a person set by hand: this marketplace SKU is that ERP item. Checked first."""

    __tablename__ = "sku_mappings"
    __table_args__ = (UniqueConstraint("channel_connection_id", "sku_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    sku_key: Mapped[str] = mapped_column(String(200))
    erp_item_id: Mapped[str] = mapped_column(String(60))
    erp_item_name: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(100), default="cli")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SkuMismatch(Base):
    """A marketplace SKU no ERP item matched. Orders it blocks are its unmatched order lines."""

    __tablename__ = "sku_mismatches"
    __table_args__ = (UniqueConstraint("channel_connection_id", "sku_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    sku_key: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class CatalogItem(Base):
    """Local copy of one ERP item, so matching never re-reads the ERP catalog per order."""

    __tablename__ = "catalog_items"
    __table_args__ = (UniqueConstraint("erp_connection_id", "erp_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    erp_connection_id: Mapped[int] = mapped_column(ForeignKey("erp_connections.id", ondelete="CASCADE"))
    erp_id: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(30), default="product")
    reference: Mapped[str | None] = mapped_column(String(200))
    barcodes: Mapped[list[Any]] = mapped_column(default=list)
    parent_id: Mapped[str | None] = mapped_column(String(60))
    variant_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tax_ids: Mapped[list[Any]] = mapped_column(default=list)
    tax_rate: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogCode(Base):
    """Lookup index of the catalog: (barcode|reference, normalised code) -> item."""

    __tablename__ = "catalog_codes"
    __table_args__ = (Index("ix_catalog_codes_lookup", "erp_connection_id", "code_type", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    erp_connection_id: Mapped[int] = mapped_column(ForeignKey("erp_connections.id", ondelete="CASCADE"))
    code_type: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(200))
    erp_item_id: Mapped[str] = mapped_column(String(60))


class ERPContact(Base):
    """ERP contact ids already found or created, by identification number (saves ERP calls).

    A row without ``erp_contact_id`` is a claim: a worker is creating that contact until
    ``claimed_until`` (connector/contacts.py)."""

    __tablename__ = "erp_contacts"
    __table_args__ = (UniqueConstraint("erp_connection_id", "identification_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    erp_connection_id: Mapped[int] = mapped_column(ForeignKey("erp_connections.id", ondelete="CASCADE"))
    identification_number: Mapped[str] = mapped_column(String(60))
    erp_contact_id: Mapped[str | None] = mapped_column(String(60), index=True)
    claimed_until: Mapped[datetime | None]
    # The contacts mirror (connector/mirror_contacts.py): what finds a buyer locally.
    identification_type: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    source: Mapped[str] = mapped_column(String(20), default="", server_default="")  # import | event | created
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ERPWebhookSubscription(Base):
    """One webhook subscription the mirror keeps in the ERP: a remote write (connector/remote_writes.py)
    whose ``purpose`` is ``subscribe`` (connected) or ``unsubscribe`` (disconnecting). ``remote_id`` is the
    ERP's id of it; ``checked_at`` the last time the periodic check found it listed; ``missing_since``
    when the ERP stopped listing it (it dropped it after failed deliveries)."""

    __tablename__ = "erp_webhook_subscriptions"
    __table_args__ = (UniqueConstraint("erp_connection_id", "event"),
                      Index("ix_erp_webhook_subscriptions_due", "state", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    erp_connection_id: Mapped[int] = mapped_column(ForeignKey("erp_connections.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))  # the ERP's own event name
    purpose: Mapped[str] = mapped_column(String(20), default="subscribe")  # subscribe | unsubscribe
    remote_id: Mapped[str | None] = mapped_column(String(60))
    # pending | sending | ambiguous | done | failed | skipped | uncertain (connector/remote_writes.py)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    detail: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    missing_since: Mapped[datetime | None]
    last_event_at: Mapped[datetime | None]


class ERPMirrorEvent(Base):
    """A change the ERP announced by webhook: only what it is (``event``) and the record's id; the
    record is re-read by id in the background. Processed rows are pruned like webhook deliveries."""

    __tablename__ = "erp_mirror_events"
    __table_args__ = (Index("ix_erp_mirror_events_pending", "erp_connection_id", "processed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    erp_connection_id: Mapped[int] = mapped_column(ForeignKey("erp_connections.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))  # erp.base.MirrorEvent value
    record_id: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(30), default="queued")


class Invoice(Base):
    """The ERP invoice of an order. At most one per order (the unique constraint is the last guard)."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_next_followup_at", "next_followup_at"),
                      Index("ix_invoices_erp_connection_id_id", "erp_connection_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    erp_connection_id: Mapped[int] = mapped_column(ForeignKey("erp_connections.id", ondelete="CASCADE"))
    erp_id: Mapped[str] = mapped_column(String(60))
    number: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(30))
    total: Mapped[Decimal]
    stamp_status: Mapped[str | None] = mapped_column(String(60))
    marker: Mapped[str] = mapped_column(String(120))
    recovered: Mapped[bool] = mapped_column(Boolean, default=False)  # found by marker after an ambiguous outcome
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # -- after the invoice (connector/followup.py): the e-invoice followed until the tax authority's
    # final answer, the writes that follow it (remote_writes), and when to look at it again.
    legal_status: Mapped[str] = mapped_column(String(30), default="not_electronic", server_default="not_electronic")
    cufe: Mapped[str | None] = mapped_column(String(200))
    legal_reasons: Mapped[list[Any]] = mapped_column(default=list)
    legal_checked_at: Mapped[datetime | None]
    status_checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pdf_url: Mapped[str | None] = mapped_column(Text)
    # Due follow-up work (a status check or a remote write); NULL when nothing is left to do.
    next_followup_at: Mapped[datetime | None]
    # When the sweeper last handed the follow-up to the queue (like orders.dispatched_at).
    followup_dispatched_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="invoice")
    writes: Mapped[list[RemoteWrite]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="RemoteWrite.id")


class InvoiceAttempt(Base):
    """Written and committed *before* the ERP call, so a crash mid-call is never a blind re-send."""

    __tablename__ = "invoice_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    marker: Mapped[str] = mapped_column(String(120))
    contact_id: Mapped[str | None] = mapped_column(String(60))
    issue_date: Mapped[str] = mapped_column(String(10))
    # The ERP id of the newest invoice of the same ERP connection already recorded (committed) when the
    # attempt was written: created in the ERP before this attempt's call, so an invoice this attempt
    # made, if any, is newer (see ``find_invoice_by_marker``'s ``older_than``). None: none recorded yet.
    erp_id_before: Mapped[str | None] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(20), default="sent")  # sent|created|rejected|ambiguous|not_found
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # Where the buyer's money went on the invoice sent (connector/money_explained.py), JSON.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)


STANDALONE_WRITE = "invoice_id IS NULL AND channel_connection_id IS NULL"


class RemoteWrite(Base):
    """One write to a remote API that must happen exactly once (connector/remote_writes.py): stamping
    an e-invoice, delivering the invoice to the buyer, recording its payment.

    The row is the claim (``claim_token``/``claimed_until``, renewed while its owner works); the
    attempt is recorded (``state = sending``) before the call; an answer that was lost leaves it
    ``sending``/``ambiguous`` and the remote state is read before anything is sent again.
    ``generation`` counts deliberate repeats (a rejected e-invoice stamped again after a fix)."""

    __tablename__ = "remote_writes"
    __table_args__ = (
        UniqueConstraint("invoice_id", "kind", "subject", "generation", name="uq_remote_write"),
        # A stock write belongs to a channel connection, not to an invoice (connector/stock.py).
        UniqueConstraint("channel_connection_id", "kind", "subject", "generation", name="uq_remote_write_channel"),
        Index("ix_remote_writes_due", "state", "next_attempt_at"),
        # Writes that belong to no invoice nor channel (a product created in the ERP): one per subject and
        # generation (a channel's writes, stock, are unique per channel connection: uq_remote_write_channel).
        Index("uq_remote_write_standalone", "kind", "subject", "generation", unique=True,
              sqlite_where=text(STANDALONE_WRITE), postgresql_where=text(STANDALONE_WRITE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a write made before any invoice exists (create_item: a product created in the ERP; stock).
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    channel_connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_connections.id", ondelete="CASCADE", name="fk_remote_writes_channel_connection"),
        index=True)
    # stamp | delivery | payment | credit_note | create_item | stock | subscription...
    kind: Mapped[str] = mapped_column(String(20))
    # What the write is about within the invoice: "" for the invoice itself, "refund:<id>" for a credit note.
    subject: Mapped[str] = mapped_column(String(160), default="", server_default="")
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"), index=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    # pending | sending | ambiguous | done | failed | skipped | uncertain
    state: Mapped[str] = mapped_column(String(20), default="pending")
    via: Mapped[str] = mapped_column(String(40), default="")  # channel | erp_email | inline | erp ...
    marker: Mapped[str] = mapped_column(String(120), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    detail: Mapped[str] = mapped_column(Text, default="")  # why it failed / was skipped, for a person
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the remote side answered
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    invoice: Mapped[Invoice | None] = relationship(back_populates="writes")

    def __init__(self, **kwargs):
        # A write not yet flushed reads as it will be stored (column defaults apply only at the flush):
        # the follow-ups of a new invoice are scheduled before its INSERT (connector.followup).
        kwargs.setdefault("state", "pending")
        kwargs.setdefault("result", {})
        super().__init__(**kwargs)


class StockListing(Base):
    """One listing (or variation) a channel connection publishes, matched to the ERP item whose stock it
    shows (connector/stock.py). ``channel_quantity`` is what the channel showed at the last read or
    write; ``desired_quantity`` what the ERP says it should show; ``problem`` why it is not published
    (no ERP item, a listing the marketplace refuses...), in the seller's words."""

    __tablename__ = "stock_listings"
    __table_args__ = (UniqueConstraint("channel_connection_id", "listing_id", name="uq_stock_listing"),
                      Index("ix_stock_listings_item", "channel_connection_id", "erp_item_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    listing_id: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    variation_id: Mapped[str | None] = mapped_column(String(100))
    variation_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    handle: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the channel adapter writes it with
    erp_item_id: Mapped[str | None] = mapped_column(String(60))
    erp_item_name: Mapped[str | None] = mapped_column(String(300))
    match_source: Mapped[str] = mapped_column(String(20), default="")  # manual | barcode | reference | variant
    channel_quantity: Mapped[int | None] = mapped_column(Integer)
    channel_price: Mapped[Decimal | None]
    erp_quantity: Mapped[Decimal | None]
    desired_quantity: Mapped[int | None] = mapped_column(Integer)
    desired_price: Mapped[Decimal | None]
    problem: Mapped[str] = mapped_column(Text, default="")
    last_pushed_at: Mapped[datetime | None]
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockPendingItem(Base):
    """An ERP item whose stock may have changed (an invoice the connector created, an ERP notification)
    and waits to be published to the channels: the database, not a queue message, remembers it."""

    __tablename__ = "stock_pending_items"
    __table_args__ = (UniqueConstraint("erp_connection_id", "erp_item_id", name="uq_stock_pending_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    erp_connection_id: Mapped[int] = mapped_column(ForeignKey("erp_connections.id", ondelete="CASCADE"))
    erp_item_id: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(100), default="")
    since: Mapped[datetime] = mapped_column(default=utcnow)


class Refund(Base):
    """Money given back after a sale (a refund, a return, a cancellation after payment), as the channel
    reported it, and what the seller's rules made of it (connector/refunds.py). Unique per order and
    marketplace refund id: however many pulls and webhooks bring it, it is credited once."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("order_id", "external_id", name="uq_refund_per_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(120))
    amount: Mapped[Decimal]
    shipping: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    restocked: Mapped[bool] = mapped_column(Boolean, default=False)
    lines: Mapped[list[Any]] = mapped_column(default=list)  # [{line_id, quantity, amount}]
    reason: Mapped[str] = mapped_column(Text, default="")
    refunded_at: Mapped[datetime | None]
    # before_invoice | waiting_approval | approved | declined | off
    state: Mapped[str] = mapped_column(String(20), default="before_invoice")
    note_type: Mapped[str | None] = mapped_column(String(60))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship()


class SyncCursor(Base):
    __tablename__ = "sync_cursors"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(
        ForeignKey("channel_connections.id", ondelete="CASCADE"), unique=True)
    cursor_at: Mapped[datetime | None]
    # One pull per connection at a time (connector/sync.py): the puller holds this lease and renews it.
    leased_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(64))  # the puller holding the lease (RowLease)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    """One pull of one channel connection: what it pulled and how it ended."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(
        ForeignKey("channel_connections.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|ok|failed
    pulled: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")


class ActivityEvent(Base):
    """The trail of an order: every state change, who or what did it, when and why."""

    __tablename__ = "activity_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100), default="system")
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    message_msgid: Mapped[str | None] = mapped_column(Text)  # as Order.state_reason_msgid
    message_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    order: Mapped[Order] = relationship(back_populates="activity")


class User(Base):
    """A person who signs in to the admin UI; belongs to one seller account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    locale: Mapped[str] = mapped_column(String(5), default="es")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class OAuthState(Base):
    """The ``state`` of an OAuth authorize → callback round trip (one use, short-lived)."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(100), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel_kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # non-secret form values (name, site)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """A webhook delivery we accepted; a duplicate delivery is recognised and ignored.

    ``delivery_id`` is the replay key (connector/webhooks.py): per connection, the hash of the signed
    body (or what the channel says identifies an unsigned notification). ``remote_delivery_id`` is the
    channel's own delivery id header, kept for information only (it is not signed)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("channel_kind", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_kind: Mapped[str] = mapped_column(String(40))
    channel_connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_connections.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100), default="")
    resource: Mapped[str] = mapped_column(String(300), default="")  # the order id or resource path
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(30), default="queued")
    remote_delivery_id: Mapped[str | None] = mapped_column(String(200))


class LoginThrottleCounter(Base):
    """Sign-in attempts under one key (an e-mail from an address, or an address) in the current window.

    ``key`` is a digest, so neither e-mails nor addresses are stored here (connector/login_throttle.py)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]


class UserSession(Base):
    """A signed-in panel session. The cookie carries a random token; ``id`` is its SHA-256, so a copy of
    this table opens nothing. Revoked at sign-out and password changes; ends when idle or too old."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class AlertSettings(Base):
    """Where an account's alerts go by e-mail (connector/alerts.py): its SMTP server (the password
    encrypted like every credential) and recipients; and what the queue check compares against."""

    __tablename__ = "alert_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_user: Mapped[str] = mapped_column(String(255), default="")
    smtp_password_encrypted: Mapped[str] = mapped_column(Text, default="")
    security: Mapped[str] = mapped_column(String(10), default="starttls")  # starttls | ssl | none
    from_address: Mapped[str] = mapped_column(String(255), default="")
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    queue_growth_threshold: Mapped[int] = mapped_column(Integer, default=5)
    # The error queue's size when it was last reported (or first seen): growth is measured from here.
    queue_baseline: Mapped[int | None] = mapped_column(Integer)
    last_checked_at: Mapped[datetime | None]


class Alert(Base):
    """Something the seller must know (the queue grew, an e-invoice was rejected, credentials stopped
    working): shown as a banner until dismissed, and e-mailed at most once per kind per hour."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_account_kind", "account_id", "kind", "raised_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # error_queue | einvoice_rejected | erp_auth | channel_auth | test
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the message needs (counts, names)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending: not handled yet | sent | suppressed (one of its kind went out within the hour) |
    # no_smtp (nowhere to send) | failed (the server refused: email_error)
    email_state: Mapped[str] = mapped_column(String(12), default="pending")
    emailed_at: Mapped[datetime | None]
    email_error: Mapped[str] = mapped_column(Text, default="")
    dismissed_at: Mapped[datetime | None]
