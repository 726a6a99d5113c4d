"""The channel contract (channels/base.py), run over every registered adapter — Mercado Libre included.

Each test takes ``contract_kit`` (tests/channels/conftest.py), so it runs once per registered
channel; respx is strict (everything mocked is called, nothing unmocked is sent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
import respx

from channels.base import (
    AccountInfo,
    CredentialField,
    InvoiceDelivery,
    RateLimitSpec,
    WebhookEvent,
    WebhookRegistration,
)
from channels.registry import CHANNELS, channel_class
from connector.canonical import Order, OrderStatus, PulledOrder
from connector.errors import ConfigurationError, InvalidCredentials, InvalidPayload, WebhookRejected
from connector.invoice_builder import build_invoice
from connector.rules import InvoicingSettings
from erp.registry import erp_class
from mapping.resolver import LineMatch

PROFILE = erp_class("alegra").fiscal_profile("CO")  # the country these amounts are in

# -- declarations ------------------------------------------------------------------------------


def test_every_registered_channel_loads_under_its_own_name(contract_kit):
    cls = channel_class(contract_kit.kind)
    assert cls.name == contract_kit.kind and cls.display_name
    assert contract_kit.kind in CHANNELS


def test_credential_fields_are_declared_and_secrets_marked(contract_kit):
    cls = channel_class(contract_kit.kind)
    fields = cls.credential_fields
    assert isinstance(fields, tuple) and fields and all(isinstance(f, CredentialField) for f in fields)
    names = [f.name for f in fields]
    assert len(names) == len(set(names))
    by_name = {f.name: f for f in fields}
    for field in fields:
        if any(word in field.name for word in ("secret", "token")) or field.name == "consumer_key":
            assert field.secret, f"{field.name} must be marked secret"
        assert field.label
    assert cls.webhook_secret_field in by_name and by_name[cls.webhook_secret_field].secret
    assert isinstance(cls.generates_webhook_secret, bool)


def test_the_rate_limit_is_described(contract_kit):
    spec = channel_class(contract_kit.kind).rate_limit
    assert isinstance(spec, RateLimitSpec) and spec.strategy in ("leaky_bucket", "backoff") and spec.description
    if spec.strategy == "leaky_bucket":
        assert spec.capacity and spec.refill_per_second


def test_invoice_delivery_is_declared_and_served(contract_kit):
    """Every channel says how the buyer gets the invoice and answers the delivery calls, without a request
    for the ones the ERP e-mails (nothing is attached on those marketplaces)."""
    cls = channel_class(contract_kit.kind)
    assert cls.invoice_delivery in (InvoiceDelivery.CHANNEL, InvoiceDelivery.ERP_EMAIL)
    for method in ("invoice_delivery_refusal", "fiscal_documents", "upload_fiscal_document"):
        assert callable(getattr(cls, method, None)), f"{cls.__name__} lacks {method}"
    adapter = contract_kit.make()
    order = adapter.parse_order(contract_kit.invariant_cases()[0].pulled)
    refusal = adapter.invoice_delivery_refusal(order)
    assert refusal is None or (isinstance(refusal, str) and refusal)
    if cls.invoice_delivery == InvoiceDelivery.ERP_EMAIL:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
            assert adapter.fiscal_documents(order) == []
        assert not router.calls
    adapter.close()


# -- construction and credentials --------------------------------------------------------------


def test_construction_does_no_network_io(contract_kit):
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        contract_kit.make().close()
    assert not router.calls


def test_missing_credentials_are_a_configuration_error_in_spanish(contract_kit):
    cls = channel_class(contract_kit.kind)
    required = [f.name for f in cls.credential_fields if f.required]
    credentials = {k: v for k, v in contract_kit.credentials().items() if k != required[-1]}
    with pytest.raises(ConfigurationError) as error:
        contract_kit.make(credentials)
    assert "Faltan datos" in error.value.user_message


def test_validate_credentials(contract_kit, contract_api):
    contract_kit.mock_validate_ok(contract_api)
    adapter = contract_kit.make()
    info = adapter.validate_credentials()
    adapter.close()
    assert isinstance(info, AccountInfo) and info.remote_id and info.display_name


def test_refused_credentials_never_show_a_secret(contract_kit, contract_api):
    contract_kit.mock_validate_refused(contract_api)
    adapter = contract_kit.make()
    with pytest.raises(InvalidCredentials) as error:
        adapter.validate_credentials()
    adapter.close()
    text = f"{error.value} {error.value.user_message} {error.value.detail}"
    assert "rechaz" in error.value.user_message
    for secret in contract_kit.secrets():
        assert secret not in text


# -- orders ------------------------------------------------------------------------------------


def test_pull_orders_follows_every_page_and_each_order_parses(contract_kit, contract_api):
    expected = contract_kit.mock_pages(contract_api)
    adapter = contract_kit.make(page_size=contract_kit.page_size)
    pulled = list(adapter.pull_orders(datetime(2026, 11, 1, tzinfo=UTC)))
    assert sorted(p.external_id for p in pulled) == sorted(expected)
    for item in pulled:
        assert isinstance(item, PulledOrder) and item.raw
        assert item.updated_at is None or item.updated_at.tzinfo is not None
        order = adapter.parse_order(item)
        assert isinstance(order, Order) and order.channel == contract_kit.kind
        assert order.external_id == item.external_id and order.status in OrderStatus
        assert_refunds_are_well_formed(order)
    adapter.close()


def assert_refunds_are_well_formed(order: Order) -> None:
    """Refunds are a list (maybe empty), oldest first, one per id, lines naming the order's lines,
    never more given back than was paid, and at most the newest one voiding the order."""
    assert isinstance(order.refunds, list)
    ids = [refund.refund_id for refund in order.refunds]
    assert len(ids) == len(set(ids)) and all(ids)
    assert [r.created_at for r in order.refunds] == sorted(r.created_at for r in order.refunds)
    line_ids = {line.line_id for line in order.lines}
    for refund in order.refunds:
        assert refund.created_at.tzinfo is not None and refund.amount >= 0
        assert {line.line_id for line in refund.lines} <= line_ids
    if order.total_paid is not None and order.prices_include_tax:
        assert sum(r.amount for r in order.refunds) <= order.total_paid
    assert all(not refund.full for refund in order.refunds[:-1])


def test_refunds_are_read_with_ids_stable_across_two_pulls(contract_kit, contract_api):
    """A refunded order fetched twice gives the same refunds, so each is credited once."""
    order_id = contract_kit.mock_refunded_fetch(contract_api, times=2)
    adapter = contract_kit.make()
    first, second = (adapter.parse_order(adapter.fetch_order(order_id)) for _ in range(2))
    adapter.close()
    assert first.refunds, "the kit's refunded order must carry refunds"
    assert_refunds_are_well_formed(first)
    assert [(r.refund_id, r.amount, r.full) for r in first.refunds] == \
        [(r.refund_id, r.amount, r.full) for r in second.refunds]


def test_pull_orders_skips_what_the_connector_already_holds(contract_kit, contract_api):
    expected = contract_kit.mock_pages(contract_api)
    adapter = contract_kit.make(page_size=contract_kit.page_size)
    held = set(expected[::2])
    asked: list[tuple[str, object]] = []

    def known(external_id, updated_at):
        asked.append((external_id, updated_at))
        return external_id in held

    pulled = [p.external_id for p in adapter.pull_orders(datetime(2026, 11, 1, tzinfo=UTC), known=known)]
    assert sorted(pulled) == sorted(set(expected) - held)
    assert {eid for eid, _ in asked} == set(expected)
    assert all(updated is None or updated.tzinfo is not None for _, updated in asked)
    adapter.close()


def test_fetch_order(contract_kit, contract_api):
    order_id = contract_kit.mock_fetch(contract_api)
    adapter = contract_kit.make()
    pulled = adapter.fetch_order(order_id)
    assert pulled.external_id == order_id
    assert adapter.parse_order(pulled).external_id == order_id
    adapter.close()


def test_a_429_is_waited_out_and_retried(contract_kit, contract_api):
    order_id = contract_kit.mock_fetch(contract_api, throttled="2")
    adapter = contract_kit.make()
    assert adapter.fetch_order(order_id).external_id == order_id
    adapter.close()
    assert contract_kit.sleeps, "the client must wait before retrying a 429"
    if channel_class(contract_kit.kind).rate_limit.retry_after:
        assert contract_kit.sleeps[0] >= 2.0  # Retry-After honoured


@pytest.mark.parametrize("raw", [
    {}, {"order": None}, {"order": {"id": 1}}, {"order": {"id": 1, "status": "paid", "line_items": "x"}},
    {"order": {"id": 1, "financial_status": "paid", "status": "processing", "currency": "COP", "created_at": "ayer",
               "date_created": "ayer", "line_items": [{"quantity": "muchas"}], "order_items": [{"quantity": "x"}]}},
], ids=["empty", "no-order", "only-id", "lines-not-a-list", "garbage-values"])
def test_a_bad_payload_is_invalid_payload_never_a_crash(contract_kit, raw):
    adapter = contract_kit.make()
    with pytest.raises(InvalidPayload) as error:
        adapter.parse_order(PulledOrder(external_id="1", raw=raw))
    adapter.close()
    assert error.value.user_message.startswith(("El pedido", "Un pedido"))


# -- webhooks ----------------------------------------------------------------------------------


def test_a_signed_webhook_is_verified_and_names_its_order(contract_kit):
    credentials = contract_kit.credentials()
    headers, body, query, order_id = contract_kit.signed_webhook(credentials)
    adapter = contract_kit.make(credentials)
    adapter.verify_webhook(headers, body, query=query)
    event = adapter.parse_webhook(headers, body, query=query)
    assert isinstance(event, WebhookEvent) and event.external_order_id == order_id and event.delivery_id
    adapter.close()


def _rejected(adapter, headers, body, query, secrets):
    with pytest.raises(WebhookRejected) as error:
        adapter.verify_webhook(headers, body, query=query)
    for secret in secrets:
        assert secret not in f"{error.value.user_message} {error.value.detail}"
    return error.value


def test_a_missing_signature_is_rejected(contract_kit):
    credentials = contract_kit.credentials()
    headers, body, query, _ = contract_kit.signed_webhook(credentials)
    headers, query = contract_kit.without_signature(headers, query)
    _rejected(contract_kit.make(credentials), headers, body, query, contract_kit.secrets())


def test_a_wrong_secret_is_rejected(contract_kit):
    credentials = contract_kit.credentials()
    signed_with_other = {**credentials, "webhook_secret": "otro-secreto-cualquiera"}
    headers, body, query, _ = contract_kit.signed_webhook(signed_with_other)
    _rejected(contract_kit.make(credentials), headers, body, query, contract_kit.secrets())


def test_a_tampered_body_is_rejected(contract_kit):
    credentials = contract_kit.credentials()
    headers, body, query, _ = contract_kit.signed_webhook(credentials)
    tampered = body.replace(b"2", b"3", 1)
    if channel_class(contract_kit.kind).name == "mercadolibre":
        tampered = body.replace(b"187654321", b"187654322")  # unsigned: the seller check catches it
    _rejected(contract_kit.make(credentials), headers, tampered, query, contract_kit.secrets())


def test_without_a_configured_secret_everything_is_rejected(contract_kit):
    credentials = contract_kit.credentials()
    headers, body, query, _ = contract_kit.signed_webhook(credentials)
    unconfigured = {k: v for k, v in credentials.items() if k != channel_class(contract_kit.kind).webhook_secret_field}
    _rejected(contract_kit.make(unconfigured), headers, body, query, contract_kit.secrets())


def test_webhook_registration_tells_the_seller_what_to_register(contract_kit):
    adapter = contract_kit.make()
    registration = adapter.webhook_registration("https://conector.example/webhooks/x/1")
    assert isinstance(registration, WebhookRegistration)
    assert registration.url.startswith("https://conector.example/webhooks/x/1")
    assert registration.topics and registration.instructions
    adapter.close()


# -- money: the invoice total is what the buyer paid -------------------------------------------


def alegra_total(draft, rates: dict[str, Decimal]) -> Decimal:
    """Alegra's arithmetic, written independently: price × quantity − discount %, plus tax; cents."""
    total = Decimal("0")
    for line in draft.lines:
        subtotal = line.unit_price * line.quantity
        subtotal -= subtotal * line.discount_percent / 100
        total += subtotal * (1 + sum((rates[t] for t in line.tax_ids), Decimal("0")) / 100)
    return total.quantize(Decimal("0.01"), ROUND_HALF_UP)


@pytest.mark.parametrize("apply_taxes", [True, False], ids=["taxes-on", "taxes-off"])
def test_the_invoice_total_equals_what_the_buyer_paid(contract_kit, apply_taxes):
    adapter = contract_kit.make()
    for case in contract_kit.invariant_cases():
        order = adapter.parse_order(case.pulled)
        if not order.prices_include_tax and not apply_taxes:
            continue  # prices before tax with taxes off: the ERP adds none, by the seller's choice
        rates = {f"t{rate}": rate for rate in (*case.line_rates, case.shipping_rate)}
        matches = [LineMatch(str(100 + i), "x", "barcode", (f"t{rate}",), rate) for i, rate in enumerate(case.line_rates)]
        shipping = LineMatch("900", "Envío", "shipping", (f"t{case.shipping_rate}",), case.shipping_rate)
        rules = InvoicingSettings(apply_taxes=apply_taxes, shipping_item_id="900", invoice_shipping=True)
        draft = build_invoice(order, matches, rules, contact_id="7", marker="m", shipping=shipping, profile=PROFILE)
        tolerance = Decimal("0.01") * (len(order.lines) + 1)
        assert abs(alegra_total(draft, rates) - case.paid) <= tolerance, (case.name, alegra_total(draft, rates), case.paid)
    adapter.close()
