"""The embedded default runs its own schedule: orders put aside while the ERP was in maintenance
are invoiced by ``connector web`` (or ``connector worker`` without Redis) on its own once their time
comes — nobody clicks anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from connector.models import Order
from connector.states import OrderState
from connector.sync import sync_once
from tests.conftest import each_on_one_database
from tests.e2e.test_outage_resume import pass_time_until_the_pause_ends, states

pytestmark = pytest.mark.e2e


# Each command on one database in `make test` (both covered), on the other in `make test-slow`.
@pytest.mark.parametrize(("command", "database_url"), each_on_one_database(["web", "worker"]),
                         indirect=["database_url"])
def test_due_orders_are_retried_without_anyone_clicking(ctx, sandbox, seller, tmp_path, command):
    sandbox.alegra_knobs.maintenance_until = time.time() + 3600
    sync_once(ctx, seller)
    waiting = states(ctx).get(OrderState.WAITING_ERP.value, 0)
    assert waiting > 0 and states(ctx).get(OrderState.INVOICED.value, 0) == 0
    sandbox.alegra_knobs.maintenance_until = 0  # the maintenance window is over...
    pass_time_until_the_pause_ends(ctx)  # ...and "Próximo intento" is in the past

    env = {**os.environ, "DATABASE_URL": ctx.settings.effective_database_url, "CONNECTOR_MODE": "sandbox",
           "CONNECTOR_SECRET_KEYS": ctx.settings.secret_keys.get_secret_value(),
           "CONNECTOR_DATA_DIR": str(tmp_path), "CONNECTOR_RECONCILE_DELAY": "0",
           "CONNECTOR_ERP_RATE_LIMIT": "60000", "CONNECTOR_SWEEP_INTERVAL": "1", "CONNECTOR_SYNC_INTERVAL": "3600"}
    env.pop("REDIS_URL", None)
    args = ["web", "--port", "0"] if command == "web" else ["worker"]
    web = subprocess.Popen([sys.executable, "-m", "connector", *args], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert ("Panel web en" if command == "web" else "Sin REDIS_URL") in web.stdout.readline()
        deadline = time.monotonic() + 90
        # Until nothing waits and nothing is in hand (an order being invoiced when the process is
        # stopped is settled later by reconciliation, but this test wants the schedule to finish it).
        busy = (OrderState.WAITING_ERP.value, OrderState.READY.value, OrderState.INVOICING.value)
        while time.monotonic() < deadline and any(states(ctx).get(state, 0) for state in busy):
            time.sleep(0.5)
    finally:
        web.terminate()
        _, stderr = web.communicate(timeout=30)
    after = states(ctx)
    assert after.get(OrderState.WAITING_ERP.value, 0) == 0, (after, stderr[-2000:])
    assert after[OrderState.INVOICED.value] == len(sandbox.alegra_state.invoices) > 0
    with ctx.db.session() as session:  # exactly once, as ever
        assert session.scalar(select(func.count()).select_from(Order)
                              .where(Order.state == OrderState.INVOICING.value)) == 0
    assert "Traceback" not in stderr
