"""An ERP asking to come back in an hour: the worker does not sleep on it, the orders wait in the
database for the time the ERP gave, and nothing counts as a failed attempt or an outage."""

import time

import httpx
import pytest
from sqlalchemy import select

from connector.models import ERPConnection, Order, utcnow
from connector.states import OrderState
from connector.sync import sync_once
from tests.conftest import connect_seller

pytestmark = pytest.mark.e2e


class BusyInvoices(httpx.BaseTransport):
    """Alegra as is, except that creating an invoice answers 429 with ``Retry-After: 3600``."""

    def __init__(self):
        self.inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/invoices"):
            self.refused += 1
            return httpx.Response(429, headers={"Retry-After": "3600"},
                                  json={"message": "Demasiadas peticiones", "code": 429})
        return self.inner.handle_request(request)


def test_a_retry_after_of_an_hour_parks_the_orders_instead_of_the_worker(ctx, sandbox):
    seller = connect_seller(ctx, sandbox)
    busy = BusyInvoices()
    ctx.close()  # drop the cached ERP adapter: the next one sends through ``busy``
    ctx.erp_transport = busy
    with ctx.db.session() as session:
        erp = session.scalar(select(ERPConnection))
    ctx.erp_adapter(erp).rate_limit.max_wait = 0.5  # a Celery worker (CONNECTOR_RATE_LIMIT_MAX_SLEEP)

    started = time.monotonic()
    sync_once(ctx, seller)
    assert time.monotonic() - started < 60  # nobody slept for an hour (nor for the 30 s cap)

    with ctx.db.session() as session:
        waiting = session.scalars(select(Order).where(Order.state == OrderState.READY.value)).all()
    told_an_hour = [o for o in waiting if (o.next_attempt_at - utcnow()).total_seconds() > 3500]
    assert told_an_hour and busy.refused == len(told_an_hour)  # one request each: no retry in place
    for order in waiting:  # the rest wait for the window the 429 spent, without asking the ERP
        assert order.attempts == 0 and (order.next_attempt_at - utcnow()).total_seconds() <= 3600
