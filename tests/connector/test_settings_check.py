"""Settings are checked against what they imply: every problem at once, at its field, in words; a fix
lets the orders it unblocks through at once."""

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from connector import services
from connector.invoice_builder import MISSING_EMAIL_REASON
from connector.models import CatalogItem, ERPConnection, Order, SkuMapping
from connector.rules import InvoicingSettings
from connector.settings_check import SettingsProblems, placeholder_problems, problems_from_validation
from connector.states import OrderState
from connector.sync import sync_once
from tests.conftest import DEMO_RULES, connect_seller

LIBRARY_WORDS = ("Input should", "Value error", "validation error", "pydantic")


@pytest.mark.parametrize("values", [
    {"due_days": -1}, {"due_days": "abc"}, {"due_days": 999}, {"stamp": "maybe"}, {"invoice_status": "sent"},
    {"match_by": "color"}, {"observations": "x" * 500}, {"order_states": ["lost"]}, {"nonsense": 1},
    {"default_email": "not-an-email"}, {"kind_of_person": 3},
])
def test_every_library_verdict_becomes_words_at_its_field(values):
    with pytest.raises(ValidationError) as caught:
        InvoicingSettings.model_validate(values)
    problems = problems_from_validation(caught.value)
    assert problems and all(p.field == next(iter(values)) for p in problems)
    for problem in problems:
        assert not any(word in problem.text for word in LIBRARY_WORDS), problem.text


def test_placeholders_that_do_not_exist_or_braces_left_open():
    assert placeholder_problems("Venta {channel} orden {order_id} paquete {pack_id}") == []
    [unknown] = placeholder_problems("Venta {canal} {order_id} {cliente}")
    assert "{canal}" in unknown.text and "{cliente}" in unknown.text and unknown.field == "observations"
    [open_brace] = placeholder_problems("Venta {channel")
    assert "sin pareja" in open_brace.text


def test_a_save_lists_every_problem_at_once_and_saves_nothing(ctx, seller):
    before = services.show_settings(ctx, seller)
    with pytest.raises(SettingsProblems) as caught:
        services.update_settings(ctx, seller, ["default_email=", "shipping_item_id=", "due_days=-3",
                                               "observations=Venta {canal}", "warehouse_id=999",
                                               "record_payment=true"])
    by_field = {p.field: p.text for p in caught.value.problems}
    assert set(by_field) == {"default_email", "shipping_item_id", "due_days", "observations", "payment_account_id",
                             "warehouse_id"}
    assert "Expedir" in by_field["default_email"] and "0 o más" in by_field["due_days"]
    message = caught.value.user_message
    for internal in ("shipping_item_id", "due_days", "Input should", "Value error"):
        assert internal not in message, internal
    assert "Días de plazo" in message  # the seller's name of the field
    assert services.show_settings(ctx, seller) == before


def test_shipping_invoiced_without_its_product_and_a_choice_the_erp_lacks(ctx, seller):
    with pytest.raises(SettingsProblems) as caught:
        services.update_settings(ctx, seller, ["shipping_item_id=", "warehouse_id=999"])
    by_field = {p.field: p.text for p in caught.value.problems}
    assert "Facturar el costo de envío" in by_field["shipping_item_id"]
    assert "999" in by_field["warehouse_id"] and "Bodega principal" in by_field["warehouse_id"]


def test_a_problem_the_settings_already_had_does_not_stop_an_unrelated_save(ctx, sandbox):
    account = connect_seller(ctx, sandbox, rules=["default_email=f@tienda.co"])
    services.update_settings(ctx, account, ["invoice_shipping=false", "shipping_item_id="])
    with ctx.db.transaction() as session:  # settings stored before these checks existed
        erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account))
        erp.settings = {**erp.settings, "invoice_shipping": True}
    saved = services.save_settings(ctx, account, ["default_phone=3001234567"])
    assert [p.field for p in saved.warnings] == ["shipping_item_id"]
    assert services.show_settings(ctx, account).default_phone == "3001234567"
    with pytest.raises(SettingsProblems):  # turning automatic invoicing on would fail orders in bulk
        services.update_settings(ctx, account, ["enabled=true"])


def test_a_fix_invoices_the_orders_it_unblocks_at_once(ctx, sandbox):
    rules = [r for r in DEMO_RULES if not r.startswith("default_email")]
    account = connect_seller(ctx, sandbox, rules=[*rules, "stamp=false"])
    with ctx.db.transaction() as session:  # "Expedir" without a default e-mail, saved before the checks
        erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account))
        erp.settings = {**erp.settings, "stamp": True, "default_email": None}
    sync_once(ctx, account)
    with ctx.db.session() as session:
        held = list(session.scalars(select(Order.id).where(Order.account_id == account,
                                                           Order.state_reason == MISSING_EMAIL_REASON)))
    assert held, "the sandbox's buyers without e-mail are held"

    change = services.change_settings(ctx, account, ["default_email=facturas@tienda.co"])

    moved = {m.id: m.state for m in change.moved}
    assert set(held) <= set(moved)
    assert all(moved[i] == OrderState.INVOICED for i in held)


def test_sync_once_releases_orders_a_fix_made_elsewhere_unblocked(ctx, sandbox):
    account = connect_seller(ctx, sandbox)
    sync_once(ctx, account)
    with ctx.db.transaction() as session:
        held = session.scalars(select(Order).where(Order.account_id == account, Order.state == OrderState.ERROR.value,
                                                   Order.state_reason.like("El SKU «%"))).first()
        assert held is not None
        # A mapping written by another way than "Facturar" (e.g. an import): nothing re-queued the order.
        session.add(SkuMapping(channel_connection_id=held.channel_connection_id, sku_key=next(li.sku_key for li in held.lines if li.erp_item_id is None),
                               erp_item_id=session.scalars(select(CatalogItem.erp_id)
                                                           .where(CatalogItem.kind != "variantParent")).first()))
        held_id = held.id
    summary = sync_once(ctx, account, drain=True)
    assert summary.released >= 1 and summary.remaining == 0
    with ctx.db.session() as session:
        assert session.get(Order, held_id).state == OrderState.INVOICED
