"""A listing's stock written to its channel exactly once, through :mod:`connector.remote_writes`.

A stock write is idempotent by value (writing 38 twice leaves 38), but it is still a remote write like
any other: the row is the claim, the attempt is recorded before the call, and an answer that was lost
is settled by reading the listing's stock (it shows the value: done; it does not: sent again). What is
particular to stock: a newer value supersedes an older one still waiting (only the latest matters), the
same value waiting from a previous run is carried on rather than written again, and a value the last
finished write already carried is read from the channel before it is written (a crash after the write
left the row behind).

``subject`` is ``listing:<stock_listings.id>``; ``marker`` is the value written (``quantity=38`` or
``quantity=38;price=31000``), so the trail says what each write was for.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from channels.base import Listing
from connector.context import AppContext
from connector.models import RemoteWrite, StockListing, utcnow
from connector.remote_writes import OPEN_STATES, Remote, WriteAction, perform

KIND = "stock"


def marker_of(quantity: int, price: Decimal | None) -> str:
    return f"quantity={quantity}" + (f";price={price.normalize():f}" if price is not None else "")


def listing_of(row: StockListing) -> Listing:
    """What the channel adapter needs to write the row's listing (as it was last read)."""
    return Listing(listing_id=row.listing_id, title=row.title, sku=row.sku, quantity=row.channel_quantity,
                   price=row.channel_price, variation_id=row.variation_id,
                   variation_attributes=dict(row.variation_attributes or {}), handle=dict(row.handle or {}))


def _claimable():
    now = utcnow()
    return or_(RemoteWrite.claimed_until.is_(None), RemoteWrite.claimed_until < now)


def open_write_for(ctx: AppContext, connection_id: int, row_id: int, marker: str) -> int | None | str:
    """The id of the write that carries ``marker`` for this listing (an open one with that value, or a
    new one); ``"busy"`` when another worker is sending a value for it right now. Open writes of older
    values nobody holds are closed as superseded."""
    subject = f"listing:{row_id}"
    try:
        with ctx.db.transaction() as session:
            open_writes = list(session.scalars(select(RemoteWrite).where(
                RemoteWrite.channel_connection_id == connection_id, RemoteWrite.kind == KIND,
                RemoteWrite.subject == subject, RemoteWrite.state.in_(OPEN_STATES))))
            reuse = None
            for write in open_writes:
                held = write.claimed_until is not None and write.claimed_until > utcnow()
                if write.marker == marker and reuse is None:
                    reuse = write.id
                elif held:
                    return "busy"
                else:
                    session.execute(update(RemoteWrite).where(RemoteWrite.id == write.id, _claimable())
                                    .values(state="skipped", finished_at=utcnow(), next_attempt_at=None,
                                            detail="Reemplazado por un valor más reciente del ERP.")
                                    .execution_options(synchronize_session=False))
            if reuse is not None:
                return reuse
            generation = 1 + (session.scalar(select(func.max(RemoteWrite.generation)).where(
                RemoteWrite.channel_connection_id == connection_id, RemoteWrite.kind == KIND,
                RemoteWrite.subject == subject)) or 0)
            write = RemoteWrite(channel_connection_id=connection_id, kind=KIND, subject=subject,
                                generation=generation, via="channel", marker=marker)
            session.add(write)
            session.flush()
            return write.id
    except IntegrityError:  # another run created that generation at the same moment: it carries it
        return "busy"


def push_listing(ctx: AppContext, adapter, connection_id: int, row: StockListing, quantity: int,
                 price: Decimal | None) -> tuple[str, str]:
    """Write ``quantity`` (and ``price``) to the row's listing once; (final state, detail for a person)."""
    marker = marker_of(quantity, price)
    write_id = open_write_for(ctx, connection_id, row.id, marker)
    if write_id == "busy":
        return "busy", "Otra actualización de esta publicación está en curso."
    listing = listing_of(row)

    def send() -> dict[str, Any]:
        adapter.set_listing_stock(listing, quantity, price)
        return {"quantity": quantity, "price": None if price is None else str(price)}

    def read() -> Remote:
        now = adapter.get_listing(listing.listing_id)
        shown = {"quantity": now.quantity, "price": None if now.price is None else str(now.price)}
        return Remote(now.quantity == quantity and (price is None or now.price == price), shown)

    repeat = _written_before(ctx, connection_id, row.id, int(write_id), marker)
    state = perform(ctx, int(write_id), WriteAction(send=send, read=read, read_first=repeat))
    with ctx.db.session() as session:
        write = session.get(RemoteWrite, int(write_id))
        return state, write.detail if write is not None else ""


def _written_before(ctx: AppContext, connection_id: int, row_id: int, write_id: int, marker: str) -> bool:
    """Whether the listing's last finished write already carried this value. A process that died after
    the write was done, before the row learnt the channel's new quantity, leaves the old quantity in the
    row: the next run sees a difference that is not there. The channel is read first, not written twice."""
    with ctx.db.session() as session:
        last = session.scalar(select(RemoteWrite.marker).where(
            RemoteWrite.channel_connection_id == connection_id, RemoteWrite.kind == KIND,
            RemoteWrite.subject == f"listing:{row_id}", RemoteWrite.id != write_id, RemoteWrite.state == "done")
            .order_by(RemoteWrite.generation.desc()).limit(1))
    return last == marker


def settle_open_writes(ctx: AppContext, adapter, connection_id: int, rows: list[StockListing]) -> list[StockListing]:
    """Writes left open (a lost answer, a dead worker) for listings that show no difference here: settle
    them by reading the listing. Returns the rows whose channel shows something else than they want
    after all — a value whose answer was lost did land, and the ERP has moved back since (the row still
    held the old quantity, so nothing looked different) — with what the channel shows, here and stored:
    they are written now."""
    if not rows:
        return []
    by_subject = {f"listing:{row.id}": row for row in rows}
    with ctx.db.session() as session:
        stale = list(session.execute(select(RemoteWrite.id, RemoteWrite.subject).where(
            RemoteWrite.channel_connection_id == connection_id, RemoteWrite.kind == KIND,
            RemoteWrite.subject.in_(list(by_subject)), RemoteWrite.state.in_(OPEN_STATES))))
    differing = []
    for write_id, subject in stale:
        row = by_subject[subject]
        listing = listing_of(row)
        shown: list[Listing] = []

        def read(listing=listing, shown=shown) -> Remote:
            now = adapter.get_listing(listing.listing_id)
            shown.append(now)
            return Remote(True, {"quantity": now.quantity, "settled": "no difference left"})

        def send() -> dict[str, Any]:  # never reached: reading settles it
            raise AssertionError("a settled stock write is never sent")

        perform(ctx, write_id, WriteAction(send=send, read=read, read_first=True))
        if shown and _shows_other(shown[0], row):
            row.channel_quantity, row.channel_price = shown[0].quantity, shown[0].price
            with ctx.db.transaction() as session:
                session.execute(update(StockListing).where(StockListing.id == row.id).values(
                    channel_quantity=row.channel_quantity, channel_price=row.channel_price))
            differing.append(row)
    return differing


def _shows_other(now: Listing, row: StockListing) -> bool:
    if now.quantity is None or row.desired_quantity is None:
        return False
    return now.quantity != row.desired_quantity or (
        row.desired_price is not None and now.price is not None and Decimal(now.price) != Decimal(row.desired_price))
