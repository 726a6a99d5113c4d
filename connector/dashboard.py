"""The seller's dashboard in figures: money invoiced per channel per day and per week, orders by state,
the age of the error queue and the ERP's rate window. Plain data; the panel draws it
(``admin_ui/svg_charts.py``) and the CLI could print it.

Days are the seller's days (``tz``), not UTC: a sale at 21:00 in the seller's evening belongs to that
day. Grouping happens in Python over the period's invoices (one query), the same on SQLite and
PostgreSQL, whose date functions differ.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from sqlalchemy import func, select

from connector.context import AppContext
from connector.fiscal import fiscal_profile_of
from connector.models import (
    ChannelConnection,
    ERPConnection,
    Invoice,
    InvoiceAttempt,
    Order,
    RemoteWrite,
    utcnow,
)
from connector.services import count_orders_by_state, find_account
from connector.states import ERROR_QUEUE_STATES
from erp.registry import erp_class


@dataclass(frozen=True)
class Series:
    """Amounts per period (``periods`` in order) of one channel connection."""

    name: str
    amounts: tuple[Decimal, ...]


@dataclass(frozen=True)
class InvoicedPerPeriod:
    periods: tuple[date, ...]  # the first day of each period
    series: tuple[Series, ...]

    @property
    def totals(self) -> tuple[Decimal, ...]:
        return tuple(sum((s.amounts[i] for s in self.series), Decimal("0")) for i in range(len(self.periods)))


@dataclass(frozen=True)
class ErrorQueueAge:
    count: int
    oldest_since: datetime | None  # when the longest-waiting order last changed (entered the queue)

    def age(self, now: datetime) -> timedelta | None:
        return now - self.oldest_since if self.oldest_since else None


@dataclass(frozen=True)
class ERPWindow:
    """The ERP user's rate window now, and the writes made to the ERP today (each one or more requests:
    the adapters do not count requests per day, so this is a floor, not the count)."""

    used_now: int
    capacity: int
    writes_today: int


@dataclass(frozen=True)
class Dashboard:
    currency: str
    per_day: InvoicedPerPeriod
    per_week: InvoicedPerPeriod
    by_state: dict[str, int]
    error_queue: ErrorQueueAge
    erp_window: ERPWindow | None
    generated_at: datetime = field(default_factory=utcnow)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def build_dashboard(ctx: AppContext, account_ref, *, tz: tzinfo, today: date | None = None, days: int = 14,
                    weeks: int = 8) -> Dashboard:
    today = today or utcnow().astimezone(tz).date()
    first_day = today - timedelta(days=days - 1)
    first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    since = local_midnight(min(first_day, first_monday), tz)
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        rows = session.execute(
            select(Invoice.created_at, Invoice.total, ChannelConnection.name, Order.currency)
            .join(Order, Order.id == Invoice.order_id)
            .join(ChannelConnection, ChannelConnection.id == Order.channel_connection_id)
            .where(Order.account_id == account.id, Invoice.created_at >= since)).all()
        queue = session.execute(
            select(func.count(), func.min(Order.updated_at))
            .where(Order.account_id == account.id, Order.state.in_([s.value for s in ERROR_QUEUE_STATES]))).one()
        erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account.id))
        window = _erp_window(ctx, session, account.id, erp, local_midnight(today, tz)) if erp else None
        home_currency = fiscal_profile_of(erp).currency if erp else ""
    currencies = [currency for *_, currency in rows if currency]
    day_periods = tuple(first_day + timedelta(days=i) for i in range(days))
    week_periods = tuple(first_monday + timedelta(weeks=i) for i in range(weeks))
    return Dashboard(
        currency=max(set(currencies), key=currencies.count) if currencies else home_currency,
        per_day=_per_period(rows, tz, day_periods, lambda d: d),
        per_week=_per_period(rows, tz, week_periods, lambda d: d - timedelta(days=d.weekday())),
        by_state=count_orders_by_state(ctx, account.id),
        error_queue=ErrorQueueAge(queue[0], queue[1]),
        erp_window=window,
    )


def _per_period(rows, tz: tzinfo, periods: tuple[date, ...], period_of) -> InvoicedPerPeriod:
    index = {period: i for i, period in enumerate(periods)}
    amounts: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal("0")] * len(periods))
    for created_at, total, channel, _ in rows:
        position = index.get(period_of(created_at.astimezone(tz).date()))
        if position is not None and total is not None:
            amounts[channel][position] += Decimal(total)
    return InvoicedPerPeriod(periods, tuple(Series(name, tuple(values)) for name, values in sorted(amounts.items())))


def _erp_window(ctx: AppContext, session, account_id: int, erp: ERPConnection, since: datetime) -> ERPWindow:
    attempts = session.scalar(select(func.count()).select_from(InvoiceAttempt).join(Order)
                              .where(Order.account_id == account_id, InvoiceAttempt.started_at >= since)) or 0
    writes = session.scalar(select(func.count()).select_from(RemoteWrite).join(Order)
                            .where(Order.account_id == account_id, RemoteWrite.sent_at >= since)) or 0
    try:
        limiter = ctx.erp_rate_limit(erp_class(erp.kind), ctx.vault.decrypt(erp.credentials_encrypted))
        peek = limiter.peek()
        used, capacity = peek.capacity - peek.room, peek.capacity
    except Exception:  # noqa: BLE001 — an unreadable window (Redis down, old key) must not hide the rest
        used, capacity = 0, 0
    return ERPWindow(used_now=used, capacity=capacity, writes_today=attempts + writes)
