"""Malformed and extreme order payloads: parsers raise only ``InvalidPayload``, the pipeline never crashes.

(a) Every registered channel parser gets valid payloads of its own raw shape (the fixtures in
    tests/channels/fixtures/<channel>/) mutated at random places: fields deleted, replaced by the
    wrong type, huge or negative numbers, unicode, nested junk, lines duplicated. Nothing but
    :class:`~connector.errors.InvalidPayload` may escape, and whatever parses satisfies the
    canonical order's invariants (and survives the JSON round trip the pipeline stores it through).
(b) The same kind of mutations of real sandbox orders go through ``store_pulled_order`` and
    ``process_order`` on SQLite against the loopback sandbox: no exception, an unreadable payload
    lands in ``error`` with a reason and never reaches the ERP, and no order gets two invoices.

Hypothesis runs derandomized (the same examples every run), so CI is deterministic.
"""

from __future__ import annotations

import copy
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from channels.base import ChannelOptions
from channels.registry import CHANNELS, channel_class
from connector.canonical import Order, OrderStatus, PulledOrder
from connector.context import AppContext
from connector.errors import InvalidPayload
from connector.invoice_builder import invoice_marker
from connector.models import ChannelConnection, Invoice
from connector.models import Order as OrderRow
from connector.pipeline import process_order, store_pulled_order
from tests.conftest import connect_seller, make_settings

FIXTURES = Path(__file__).parents[1] / "channels" / "fixtures"

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=300, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PIPELINE_FUZZ = settings(FUZZ, max_examples=25)


# -- valid payloads of each channel's raw shape --------------------------------------------------


def _json(channel: str, pattern: str) -> list[Any]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((FIXTURES / channel).glob(pattern))]


def _mercadolibre_raws() -> list[dict]:
    """``{"order", "shipment", "billing_info"}`` (channels/mercadolibre/parser.py)."""
    orders = _json("mercadolibre", "order-*.json")
    orders += [o for page in _json("mercadolibre", "orders-search-page-*.json") for o in page["results"]]
    shipments = [*_json("mercadolibre", "shipment-*.json"), None]
    billing = [*_json("mercadolibre", "billing-info-*.json"), None]
    return [{"order": order, "shipment": shipments[n % len(shipments)], "billing_info": billing[n % len(billing)]}
            for n, order in enumerate(orders)]


def _shopify_raws() -> list[dict]:
    """``{"order": <Admin REST order>}`` (channels/shopify/parser.py)."""
    orders = [body["order"] for body in _json("shopify", "order-*.json")]
    orders += [o for page in _json("shopify", "orders-page-*.json") for o in page["orders"]]
    return [{"order": order} for order in orders]


def _woocommerce_raws() -> list[dict]:
    """``{"order": <REST v3 order>}`` (channels/woocommerce/parser.py), with ``"refunds"`` (what
    ``GET /orders/{id}/refunds`` answered) for the orders that have a refunds fixture."""
    orders = _json("woocommerce", "order-*.json") + [o for page in _json("woocommerce", "orders-page-*.json")
                                                       for o in page]
    with_refunds = [{"order": json.loads((FIXTURES / "woocommerce" / p.name.removeprefix("refunds-of-")).read_text(
        encoding="utf-8")), "refunds": json.loads(p.read_text(encoding="utf-8"))}
        for p in sorted((FIXTURES / "woocommerce").glob("refunds-of-*.json"))]
    return [{"order": order} for order in orders] + with_refunds


VALID_RAWS = {"mercadolibre": _mercadolibre_raws, "shopify": _shopify_raws, "woocommerce": _woocommerce_raws}


def dummy_credentials(cls) -> dict[str, str]:
    """Values for every required credential field; parsing never uses them (no network I/O)."""
    def value(name: str) -> str:
        if "url" in name:
            return "https://tienda-fuzz.example"
        return "tienda-fuzz" if name == "shop" else f"fuzz-{name}-0123456789"

    return {f.name: value(f.name) for f in cls.credential_fields if f.required}


def adapter_for(channel: str):
    cls = channel_class(channel)
    return cls(dummy_credentials(cls), ChannelOptions())


# -- mutations -------------------------------------------------------------------------------------

NASTY_TEXT = ["", " ", "NaN", "-NaN", "Infinity", "-Infinity", "sNaN", "1e999999", "-1e999999", "1E-999999", "0x1F",
              "١٢٣", "１２", "∞", "\x00", "null", "true", "[]", "{}", "2026-13-45T99:99:99", "2026-02-30T10:00:00",
              "0000-00-00T00:00:00", "\u202e\u200b", "🧾" * 60, "9" * 400, "-0", "1,5", "1.000.000", "  42  ",
              "Ñandú – «café» ü", "<script>alert(1)</script>", "' OR 1=1 --"]
EXTREME_NUMBERS = [0, -1, -0.01, 10**9, 10**18, 2**63, -(2**63), 10**30, 10**100, 1e308, -1e308, 5e-324, 0.1 + 0.2,
                   float("nan"), float("inf"), float("-inf")]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from(EXTREME_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(NASTY_TEXT),
)
junk = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                    max_leaves=12)
# Keys some parser reads (from channels/*/parser.py): half of the mutations aim at one of them.
READ_KEYS = frozenset("""
    address address1 address2 address_1 address_2 address_line amount attributes billing billing_address
    billing_info business_name buyer cancelled_at city city_name company cost country country_code country_id
    created_at currency currency_id customer date_created date_last_updated date_modified date_modified_gmt
    discount_allocations email fee_lines financial_status first_name fulfillment_status fulfillments id
    identification item key last_name last_updated lead_time line_items logistic logistic_type meta_data name
    nickname note_attributes number order order_items pack_id paid_amount phone postcode price province quantity
    seller_custom_field seller_sku shipment shipment_status shipping shipping_cost shipping_lines shipping_option
    sku state status street_name street_number subtotal subtotal_tax tags taxes_included title total
    total_amount total_price total_tax type unit_price updated_at value value_name variant_id variant_title
    variation_attributes variation_id zip zip_code
    payments transaction_amount_refunded total_paid_amount transaction_amount date_approved date_last_modified
    cancel_detail refunds refund_line_items line_item_id line_item order_adjustments transactions kind
    restock_type processed_at tax_amount note reason date_paid date_paid_gmt date_created_gmt""".split())
ACTIONS = ("delete", "junk", "junk", "extreme", "nasty_text", "wrap", "duplicate", "empty")


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``node`` (dict keys and list indexes)."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _mutate_once(data, raw: dict) -> None:
    paths = _paths(raw)
    if not paths:
        raw["order"] = data.draw(junk)
        return
    read = [p for p in paths if p[-1] in READ_KEYS]
    path = data.draw(st.sampled_from(read if read and data.draw(st.booleans()) else paths))
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = data.draw(st.sampled_from(ACTIONS))
    if action == "delete":
        del parent[key]
    elif action == "junk":
        parent[key] = data.draw(junk)
    elif action == "extreme":
        parent[key] = data.draw(st.sampled_from(EXTREME_NUMBERS + [str(n) for n in EXTREME_NUMBERS]))
    elif action == "nasty_text":
        parent[key] = data.draw(st.sampled_from(NASTY_TEXT) | st.text(min_size=1, max_size=80))
    elif action == "wrap":
        parent[key] = data.draw(st.sampled_from([[parent[key]], {"value": parent[key]}, [[parent[key]]]]))
    elif action == "duplicate":
        value = parent[key]
        if isinstance(value, list) and value:
            value.extend(copy.deepcopy(value[:1]) * data.draw(st.integers(1, 40)))
        else:
            parent[key] = [value, copy.deepcopy(value)]
    else:  # empty container of the same or the other kind
        parent[key] = data.draw(st.sampled_from([[], {}, ""]))


def mutated(data, raws: list[dict], *, min_mutations: int = 1) -> dict:
    raw = copy.deepcopy(data.draw(st.sampled_from(raws)))
    for _ in range(data.draw(st.integers(min_mutations, 4))):
        _mutate_once(data, raw)
    return raw


# -- the canonical invariants ----------------------------------------------------------------------


def _finite(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def assert_canonical(order: Order, channel: str) -> None:
    assert isinstance(order, Order) and order.channel == channel
    assert isinstance(order.external_id, str) and order.external_id.strip()
    assert order.status in set(OrderStatus) and isinstance(order.raw_status, str)
    assert order.created_at.tzinfo is not None and order.updated_at.tzinfo is not None
    assert isinstance(order.currency, str) and order.currency.strip()
    assert order.lines
    for line in order.lines:
        assert isinstance(line.line_id, str) and line.line_id
        assert line.sku is None or (isinstance(line.sku, str) and line.sku.strip())
        assert isinstance(line.title, str)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in line.variation_attributes.items())
        assert _finite(line.quantity) and line.quantity > 0
        assert _finite(line.unit_price) and line.unit_price >= 0
        assert _finite(line.discount) and line.discount >= 0
    assert _finite(order.shipping_cost) and order.shipping_cost >= 0
    assert order.total_paid is None or (_finite(order.total_paid) and order.total_paid >= 0)
    if order.buyer.identification is not None:
        assert order.buyer.identification.number.isalnum()
    refund_ids = [refund.refund_id for refund in order.refunds]
    assert len(refund_ids) == len(set(refund_ids)) and all(isinstance(i, str) and i for i in refund_ids)
    for refund in order.refunds:
        assert refund.created_at.tzinfo is not None
        assert _finite(refund.amount) and refund.amount >= 0 and _finite(refund.shipping) and refund.shipping >= 0
        assert {line.line_id for line in refund.lines} <= {line.line_id for line in order.lines}
        assert all(_finite(line.amount) and _finite(line.quantity) for line in refund.lines)
    # What the pipeline stores (Order.canonical) reads back as the same order.
    stored = json.loads(json.dumps(order.model_dump(mode="json", exclude={"raw"})))
    again = Order.model_validate({**stored, "raw": {}})
    assert again.model_dump(exclude={"raw"}) == order.model_dump(exclude={"raw"})


# -- (a) every channel parser ------------------------------------------------------------------------


def test_every_registered_channel_has_valid_payloads_to_mutate():
    missing = sorted(set(CHANNELS) - set(VALID_RAWS))
    assert not missing, f"add the raw shape of {missing} to VALID_RAWS (from tests/channels/fixtures/<channel>/)"
    for channel, raws in VALID_RAWS.items():
        adapter = adapter_for(channel)
        for n, raw in enumerate(raws()):
            assert_canonical(adapter.parse_order(PulledOrder(external_id=f"base-{n}", raw=raw)), channel)
        adapter.close()


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_parsers_raise_only_invalid_payload_and_keep_the_invariants(channel):
    if channel not in VALID_RAWS:
        pytest.fail(f"channel {channel!r} has no valid payloads in VALID_RAWS")
    adapter = adapter_for(channel)
    raws = VALID_RAWS[channel]()
    outcomes = {"parsed": 0, "invalid": 0}

    @FUZZ
    @given(data=st.data())
    def check(data):
        raw = mutated(data, raws)
        try:
            order = adapter.parse_order(PulledOrder(external_id="fuzz-1", raw=raw))
        except InvalidPayload as exc:
            assert isinstance(exc.user_message, str) and exc.user_message.strip()
            outcomes["invalid"] += 1
            return
        assert_canonical(order, channel)
        outcomes["parsed"] += 1

    try:
        check()
    finally:
        adapter.close()
    # The mutations must exercise both sides, or the test proves little.
    assert outcomes["parsed"] > 0 and outcomes["invalid"] > 0, outcomes


# -- (b) through the pipeline --------------------------------------------------------------------------

SETTLED_OR_HELD = {"invoiced", "error", "failed", "skipped", "waiting_rule", "ready", "waiting_erp", "invoicing"}


def _erp_requests(box) -> int:
    with box.alegra_state.lock:
        return sum(box.alegra_state.requests.values())


def test_fuzzed_orders_through_the_pipeline_never_crash_nor_invoice_twice(tmp_path, sqlite_url, sandbox):
    ctx = AppContext.from_settings(make_settings(tmp_path, sqlite_url))
    ctx.db.migrate()
    seller = connect_seller(ctx, sandbox)
    with ctx.db.session() as session:
        connection_id = session.scalar(select(ChannelConnection.id).where(ChannelConnection.account_id == seller))
        connection = session.get(ChannelConnection, connection_id)
        adapter = ctx.channel_adapter(connection)
    # Real sandbox orders (shipment and billing info included), as a pull hands them to the pipeline.
    raws = [adapter.fetch_order(str(order_id)).raw for order_id in sandbox.ml_state.order_ids()[:12]]
    numbers = itertools.count(1)
    seen = {"bad": 0, "parsed": 0, "invoiced": 0}

    @PIPELINE_FUZZ
    @given(data=st.data())
    def check(data):
        raw = mutated(data, raws, min_mutations=0)
        pulled = PulledOrder(external_id=f"FZ-{next(numbers)}", raw=raw)
        try:
            adapter.parse_order(pulled)
            bad = False
        except InvalidPayload:
            bad = True
        erp_before = _erp_requests(sandbox)
        with ctx.db.session() as session:
            store_pulled_order(session, session.get(ChannelConnection, connection_id), adapter, pulled)
            session.commit()
            order_id = session.scalar(select(OrderRow.id).where(OrderRow.channel_connection_id == connection_id,
                                                                 OrderRow.external_id == pulled.external_id))
        process_order(ctx, order_id)
        process_order(ctx, order_id)  # a second look never invoices twice
        with ctx.db.session() as session:
            order = session.get(OrderRow, order_id)
            state, reason = order.state, order.state_reason or ""
            invoices = session.scalar(select(func.count()).select_from(Invoice).where(Invoice.order_id == order_id))
        in_erp = sandbox.alegra_state.invoices_for_marker(invoice_marker(connection_id, pulled.external_id))
        assert len(in_erp) <= 1 and invoices <= 1
        if bad:
            seen["bad"] += 1
            assert state == "error", (state, reason)
            assert reason.strip()
            assert _erp_requests(sandbox) == erp_before, "an unreadable order reached the ERP"
            assert not in_erp
        else:
            seen["parsed"] += 1
            assert state in SETTLED_OR_HELD, state
            if state in ("error", "failed"):
                assert reason.strip()
            if state == "invoiced":
                seen["invoiced"] += 1
                assert len(in_erp) == 1 and invoices == 1

    try:
        check()
    finally:
        adapter.close()
        ctx.close()
        ctx.db.dispose()
    assert seen["bad"] > 0 and seen["parsed"] > 0, seen
