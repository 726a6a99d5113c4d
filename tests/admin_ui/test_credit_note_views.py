"""Notas crédito por aprobar: refunds of invoiced orders wait here; one click (or a bulk one) approves
or declines; odd input gets a message, never a 500; another seller's refunds are as unknown as made-up ones."""

import time

from sqlalchemy import update

from connector import services
from connector.followup import run_due_followups
from connector.models import Invoice, utcnow
from connector.sync import sync_once
from tests.admin_ui.conftest import page_text


def _refund_two(ui_ctx, ui_sandbox, seller) -> list[dict]:
    invoiced = [o for o in services.list_orders(ui_ctx, seller, states=["invoiced"])][:2]
    for order in invoiced:
        ui_sandbox.ml_state.refund(int(order.external_id), lines={0: 1}, reason="Llegó roto")
    sync_once(ui_ctx, seller)
    return services.list_refunds(ui_ctx, seller, states=["waiting_approval"])


def _after_followups(ctx, seller, refund_id) -> dict[int, dict]:
    """The refunds once the approved note is made (it waits for its e-invoice's acceptance first)."""
    ctx.settings.legal_status_check_seconds = 0.1  # the sandbox authority answers in a second
    with ctx.db.transaction() as session:  # and the checks planned at the module's 30 s come now
        session.execute(update(Invoice).where(Invoice.next_followup_at.is_not(None)).values(next_followup_at=utcnow()))
    deadline = time.monotonic() + 15
    while True:
        run_due_followups(ctx, seller)
        rows = {r["id"]: r for r in services.list_refunds(ctx, seller)}
        if rows[refund_id]["number"] or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def test_refunds_wait_for_approval_and_one_click_approves_or_declines(client, ui_ctx, ui_sandbox, synced_seller):
    waiting = _refund_two(ui_ctx, ui_sandbox, synced_seller)
    assert len(waiting) == 2
    text = page_text(client.get("/credit-notes"))
    assert "Notas crédito por aprobar" in text and all(r["external_id"] in text for r in waiting)
    first, second = waiting
    response = client.post("/credit-notes/decide", data={"one": f"approve:{first['id']}"})
    assert response.status_code == 302
    rows = _after_followups(ui_ctx, synced_seller, first["id"])
    assert rows[first["id"]]["state"] == "approved" and rows[first["id"]]["number"]
    assert rows[second["id"]]["state"] == "waiting_approval"  # only the row whose button was pressed
    client.post("/credit-notes/decide", data={"action": "reject", "refund_id": [str(second["id"])]})
    assert {r["id"]: r for r in services.list_refunds(ui_ctx, synced_seller)}[second["id"]]["state"] == "declined"
    order_page = page_text(client.get(f"/orders/{first['order_id']}"))
    assert "Reembolsos y notas crédito" in order_page and rows[first["id"]]["number"] in order_page


def test_odd_input_and_other_sellers_refunds_get_a_message(client, ui_ctx, ui_sandbox, synced_seller):
    for data in ({"action": "approve"}, {"action": "approve", "refund_id": "abc"}, {"one": "approve:"},
                 {"action": "explode", "refund_id": "1"},
                 {"action": "approve", "refund_id": "99999999999999999999"}, {"one": "reject:2147483648"}):
        response = client.post("/credit-notes/decide", data=data, follow_redirects=True)
        assert response.status_code == 200, data
        assert "alert-error" in response.get_data(as_text=True) or "Elige" in page_text(response), data
    other = services.create_account(ui_ctx, "Otra tienda").id
    assert services.list_refunds(ui_ctx, other) == []
    mine = _refund_two(ui_ctx, ui_sandbox, synced_seller)
    response = client.post("/credit-notes/decide", data={"one": f"approve:{mine[0]['id']}"}, follow_redirects=True)
    assert response.status_code == 200
