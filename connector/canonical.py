"""The canonical order: the only shape that crosses from ``channels/`` into the core.

Channel parsers build these from raw marketplace payloads; the core never looks at a raw payload
except to store it for audit and re-processing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class OrderStatus(StrEnum):
    """The five states sellers choose from in the auto-invoicing rules (seed 004)."""

    PENDING = "pending"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    OTHER = "other"


class KindOfPerson(StrEnum):
    PERSON = "PERSON_ENTITY"
    LEGAL = "LEGAL_ENTITY"


class Identification(BaseModel):
    """A buyer's tax id. ``type`` is the marketplace's own word for the document (CC, NIT, RFC, DNI...): the
    ERP's fiscal profile maps it to one of its identification types (``FiscalProfile.identification_type_for``)."""

    model_config = ConfigDict(frozen=True)

    type: str | None = None
    number: str
    dv: str | None = None  # verification digit, for NIT

    @field_validator("number")
    @classmethod
    def _digits_and_letters_only(cls, value: str) -> str:
        cleaned = "".join(ch for ch in value.strip() if ch.isalnum())
        if not cleaned:
            raise ValueError("identification number is empty")
        return cleaned


class Address(BaseModel):
    street: str | None = None
    city: str | None = None
    department: str | None = None
    country: str | None = None
    zip_code: str | None = None


class Buyer(BaseModel):
    """What the marketplace tells us about who bought. Any field may be missing."""

    marketplace_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    identification: Identification | None = None
    kind_of_person: KindOfPerson | None = None
    address: Address | None = None


class OrderLine(BaseModel):
    """One sold line. ``unit_price`` is what the buyer paid per unit, as the channel presents it
    (tax included when the order's ``prices_include_tax`` is true), after any per-unit discount.
    ``discount`` is an extra amount taken off the whole line (same tax convention)."""

    line_id: str
    sku: str | None = None
    title: str = ""
    variation_id: str | None = None
    variation_attributes: dict[str, str] = Field(default_factory=dict)
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal = Decimal("0")

    @field_validator("quantity")
    @classmethod
    def _positive_quantity(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("quantity must be positive")
        return value

    @field_validator("unit_price", "discount")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("amount must not be negative")
        return value

    @property
    def amount_paid(self) -> Decimal:
        """What the buyer paid for the whole line, in the channel's tax convention."""
        return self.unit_price * self.quantity - self.discount


class RefundLine(BaseModel):
    """Part of one order line given back: ``amount`` is what the buyer got back for it, in the
    order's tax convention (like ``OrderLine.amount_paid``)."""

    line_id: str  # the OrderLine.line_id it refunds
    quantity: Decimal
    amount: Decimal

    @field_validator("quantity", "amount")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("refunded quantities and amounts are positive")
        return value


class Refund(BaseModel):
    """Money given back to the buyer after the sale: a refund, a return or the cancellation of a paid
    order. ``refund_id`` is the marketplace's own id of it, stable across pulls and webhooks (a
    cancellation with no refund object of its own uses ``cancel-<order id>``), so each is credited
    once. ``amount`` is the whole refund (lines + shipping + anything else), tax convention of the order."""

    refund_id: str
    created_at: datetime
    amount: Decimal
    lines: list[RefundLine] = Field(default_factory=list)
    shipping: Decimal = Decimal("0")
    full: bool = False  # the whole order is void (cancelled, or refunded in full)
    restocked: bool = False  # the goods came back
    reason: str = ""

    @field_validator("amount", "shipping")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("refunded amounts are positive")
        return value


class Order(BaseModel):
    """A marketplace order, normalised."""

    channel: str
    external_id: str
    status: OrderStatus
    raw_status: str
    created_at: datetime
    updated_at: datetime
    currency: str = "COP"
    prices_include_tax: bool = True
    lines: list[OrderLine]
    shipping_cost: Decimal = Decimal("0")  # paid by the buyer, same tax convention as the lines
    total_paid: Decimal | None = None
    buyer: Buyer = Field(default_factory=Buyer)
    is_fulfillment: bool = False  # the marketplace ships it from its own warehouse (ML "Full")
    pack_id: str | None = None
    # Refunds and cancellations after payment, oldest first (what the channel shows of them now).
    refunds: list[Refund] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @field_validator("lines")
    @classmethod
    def _at_least_one_line(cls, value: list[OrderLine]) -> list[OrderLine]:
        if not value:
            raise ValueError("order has no lines")
        return value

    @field_validator("shipping_cost")
    @classmethod
    def _shipping_not_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("shipping cost must not be negative")
        return value


class PulledOrder(BaseModel):
    """One order as pulled from a channel: its id, when it changed, and the raw documents.

    The raw documents are stored before parsing, so a payload the parser rejects is kept, shown in
    the error queue and can be re-processed after a fix.
    """

    external_id: str
    updated_at: datetime | None = None
    raw: dict[str, Any]
