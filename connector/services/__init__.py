"""What a seller or an operator can do. The CLI and the admin UI both call these; no logic lives
in either of them.

The services are grouped by subject; this package re-exports every public name, so callers write
``from connector import services`` / ``services.list_orders(...)`` without knowing the split::

    accounts            accounts, and finding the rows a person names (account, ERP and channel connections)
    connections         connecting the ERP and the channels; the ERP's webhook mirror on and off
    invoicing_settings  the invoicing settings and rules: read, versioned, checked, saved; the ERP's choices
    catalog             the ERP catalog cache, unmatched SKUs and the SKU → item mapping
    orders              orders and the error queue, "Facturar", steps after the invoice, outages
    credit_notes        refunds and their credit notes waiting for approval

A test that replaces a service for the callers patches it here (callers look it up on this package);
one that replaces a helper a service calls inside its module patches that module.
"""

from __future__ import annotations

from connector.services.accounts import (
    MAX_ROW_ID,
    NotFoundLocally,
    create_account,
    find_account,
    find_channel_connection,
    find_erp_connection,
    get_erp_connection,
    is_row_id,
    list_accounts,
)
from connector.services.catalog import (
    MismatchView,
    invoice_order_with_items,
    invoice_with_picked_items,
    list_mismatches,
    map_sku,
    refresh_erp_catalog,
    search_catalog,
)
from connector.services.connections import (
    STORE_TAKEN,
    connect_channel,
    connect_erp,
    erp_mirror_status,
    list_channel_connections,
    start_erp_mirror,
    stop_erp_mirror,
)
from connector.services.credit_notes import count_refunds_waiting, decide_refunds, list_refunds
from connector.services.invoicing_settings import (
    SettingsChange,
    SettingsSaved,
    StaleSettings,
    change_settings,
    erp_choices,
    save_settings,
    settings_version,
    show_settings,
    update_settings,
)
from connector.services.orders import (
    FOLLOWUP_KINDS,
    count_orders,
    count_orders_by_state,
    credit_notes_of,
    error_queue,
    get_order,
    invoice_orders,
    invoice_pdf_url,
    list_orders,
    orders_held_by_outage,
    request_followups,
    retry_error_queue,
    retry_orders_held_by_outage,
    run_followups_now,
)

__all__ = [
    # accounts
    "MAX_ROW_ID", "NotFoundLocally", "create_account", "find_account", "find_channel_connection",
    "find_erp_connection", "get_erp_connection", "is_row_id", "list_accounts",
    # connections
    "STORE_TAKEN", "connect_channel", "connect_erp", "erp_mirror_status", "list_channel_connections",
    "start_erp_mirror", "stop_erp_mirror",
    # invoicing settings
    "SettingsChange", "SettingsSaved", "StaleSettings", "change_settings", "erp_choices", "save_settings",
    "settings_version", "show_settings", "update_settings",
    # catalog and SKU mapping
    "MismatchView", "invoice_order_with_items", "invoice_with_picked_items", "list_mismatches", "map_sku",
    "refresh_erp_catalog", "search_catalog",
    # orders and the error queue
    "FOLLOWUP_KINDS", "count_orders", "count_orders_by_state", "credit_notes_of", "error_queue", "get_order",
    "invoice_orders", "invoice_pdf_url", "list_orders", "orders_held_by_outage", "request_followups",
    "retry_error_queue", "retry_orders_held_by_outage", "run_followups_now",
    # credit notes
    "count_refunds_waiting", "decide_refunds", "list_refunds",
]
