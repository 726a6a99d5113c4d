"""A circuit breaker per ERP connection, kept in the database so every worker sees it.

When the ERP is down or in maintenance (5xx, connection refused, 503 windows), trying every order
only burns the rate limit and floods the error queue. After ``THRESHOLD`` consecutive outage
failures (``CONNECTOR_CIRCUIT_THRESHOLD``) the circuit opens: invoicing for that connection pauses, orders wait in ``waiting_erp``
(visible, not in the error queue), and when the pause ends the next order is the probe — success
closes the circuit and everything resumes by itself; another failure re-opens it for longer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from connector.context import AppContext
from connector.errors import ConnectorError, Contended, RateLimited, TransientError
from connector.models import ERPConnection, utcnow


def is_outage(exc: BaseException) -> bool:
    """An ERP outage, as opposed to a record problem, a rate limit (which has its own pause) or work
    another worker holds."""
    return isinstance(exc, TransientError) and not isinstance(exc, RateLimited | Contended)


def open_until(erp: ERPConnection) -> datetime | None:
    """When the circuit of ``erp`` closes again, or None when invoicing may go on."""
    if erp.circuit_open_until is not None and erp.circuit_open_until > utcnow():
        return erp.circuit_open_until
    return None


def record_failure(ctx: AppContext, erp_connection_id: int, exc: ConnectorError) -> datetime | None:
    """Count one outage failure; open (or re-open, for longer) the circuit at the threshold.

    Returns until when the circuit is open, if it is.
    """
    with ctx.db.transaction() as session:
        erp = session.get(ERPConnection, erp_connection_id, with_for_update=True)
        erp.circuit_failures += 1
        erp.circuit_reason = exc.user_message[:500]
        settings = ctx.settings
        if erp.circuit_failures >= settings.circuit_threshold:
            doublings = min(erp.circuit_failures - settings.circuit_threshold, 16)
            pause = min(settings.circuit_max_pause_seconds, settings.circuit_first_pause_seconds * 2 ** doublings)
            erp.circuit_open_until = utcnow() + timedelta(seconds=pause)
        return open_until(erp)


def record_success(ctx: AppContext, erp_connection_id: int) -> None:
    """The ERP answered: close the circuit (one cheap UPDATE, and only when it was not closed)."""
    with ctx.db.transaction() as session:
        session.execute(
            update(ERPConnection)
            .where(ERPConnection.id == erp_connection_id,
                   (ERPConnection.circuit_failures > 0) | ERPConnection.circuit_open_until.is_not(None))
            .values(circuit_failures=0, circuit_open_until=None, circuit_reason=""))
