import pytest

from connector.canonical import OrderStatus
from connector.errors import ConfigurationError
from connector.rules import (
    InvoicingSettings,
    decide_auto_invoicing,
    effective_settings,
    parse_setting_assignments,
)


def decide(status=OrderStatus.COMPLETED, fulfillment=False, kind="mercadolibre", connection_id=1, **rules):
    settings = InvoicingSettings(**{"enabled": True, **rules})
    return decide_auto_invoicing(settings, channel_kind=kind, channel_connection_id=connection_id, status=status,
                                 is_fulfillment=fulfillment)


@pytest.mark.parametrize(("rules", "order", "action"), [
    ({}, {}, "invoice"),
    ({"enabled": False}, {}, "wait"),
    ({}, {"status": OrderStatus.OTHER}, "wait"),  # not paid yet
    ({}, {"status": OrderStatus.PENDING}, "invoice"),  # paid, waiting to ship
    ({}, {"status": OrderStatus.CANCELLED}, "wait"),
    ({"order_states": []}, {"status": OrderStatus.PENDING}, "invoice"),  # none chosen: every state
    ({"order_states": ["pending"]}, {"status": OrderStatus.PENDING}, "invoice"),
    ({}, {"fulfillment": True}, "skip"),
    ({"invoice_fulfillment": True}, {"fulfillment": True}, "invoice"),
    ({"origin_channels": ["shopify"]}, {}, "skip"),
    ({"origin_channels": ["mercadolibre"]}, {}, "invoice"),
    ({"origin_channels": ["1"]}, {"connection_id": 1}, "invoice"),
    ({"origin_channels": ["2"]}, {"connection_id": 1}, "skip"),
])
def test_auto_invoicing_decision(rules, order, action):
    decision = decide(**order, **rules)
    assert decision.action == action
    assert (decision.reason == "") == (action == "invoice")


def test_reasons_are_in_spanish_and_name_the_state():
    assert "cancelada" in decide(status=OrderStatus.CANCELLED).reason


def test_assignments_parse_lists_booleans_and_clear():
    updated = parse_setting_assignments({"warehouse_id": "1"}, [
        "enabled=true", "order_states=completed, shipped", "warehouse_id=", "due_days=30"])
    assert updated["enabled"] is True
    assert updated["order_states"] == ["completed", "shipped"]
    assert updated["warehouse_id"] is None
    assert updated["due_days"] == 30


@pytest.mark.parametrize("assignment", ["nope=1", "order_states=paid", "invoice_status=closed", "default_email=x",
                                        "due_days=-1", "enabled"])
def test_bad_assignments_are_refused_with_a_clear_message(assignment):
    with pytest.raises(ConfigurationError) as error:
        parse_setting_assignments({}, [assignment])
    assert error.value.user_message


def test_channel_overrides_win():
    settings = effective_settings({"match_by": "barcode", "enabled": True}, {"match_by": "reference"})
    assert settings.match_by == "reference" and settings.enabled is True


def test_every_reference_product_field_exists():
    """Seed 004's configuration and auto-invoicing forms, field by field."""
    fields = set(InvoicingSettings.model_fields)
    assert {"show_observations_on_pdf", "match_by", "apply_taxes", "price_list_id", "warehouse_id", "default_email",
            "default_phone", "default_document", "enabled", "origin_channels", "order_states", "invoice_fulfillment",
            "invoice_status", "auto_warehouse_id", "auto_price_list_id", "stamp", "identification_type",
            "kind_of_person", "regime", "payment_form", "payment_method", "invoice_shipping",
            "shipping_item_id"} <= fields
