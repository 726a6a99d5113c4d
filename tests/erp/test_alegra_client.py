"""Alegra's HTTP layer: status table, error envelopes, rate-limit headers, retries and secrets."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from connector.errors import (
    AmbiguousOutcome,
    ConfigurationError,
    FeatureNotAvailable,
    InvalidCredentials,
    NotFound,
    PermanentRejection,
    RateLimited,
    TransientError,
)
from connector.ratelimit import WindowReading
from erp.alegra.adapter import AlegraAdapter
from erp.alegra.client import alegra_error_message, rate_limit_reset_seconds, read_window
from erp.base import ERPOptions, InvoiceDraft, InvoiceLineDraft

BASE = "https://alegra.test/api/v1"
EMAIL = "facturacion@tiendacafetera.co"
TOKEN = "tok-5ecret-9f2c77"
FIXTURES = Path(__file__).parent / "fixtures" / "alegra"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeClock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def adapter(clock):
    adapter = AlegraAdapter({"email": EMAIL, "token": TOKEN, "country": "CO"}, ERPOptions(base_url=BASE),
                            sleep=clock.sleep, clock=clock)
    adapter.requestor.jitter = lambda: 0.0
    yield adapter
    adapter.close()


def draft() -> InvoiceDraft:
    return InvoiceDraft(
        marker="[ML-2000001234]", contact_id="57", issue_date=date(2026, 11, 2), due_date=date(2026, 11, 2),
        lines=(InvoiceLineDraft("1", Decimal("2"), Decimal("28000"), tax_ids=("2",)),),
        observations="Pedido Mercado Libre [ML-2000001234]",
    )


ENVELOPES = {
    "error-envelope-message-code.json": "El ítem con id 999 no existe en la factura",
    "error-envelope-error-object.json": "Tu plan no incluye facturación electrónica",
    "error-envelope-error-text.json": "Estamos presentando problemas temporales con el servicio",
}
STATUS_ERRORS = {
    400: PermanentRejection, 401: InvalidCredentials, 402: FeatureNotAvailable, 403: InvalidCredentials,
    404: NotFound, 429: RateLimited, 500: TransientError, 503: TransientError,
}


@pytest.mark.parametrize("envelope", sorted(ENVELOPES))
@pytest.mark.parametrize("status", sorted(STATUS_ERRORS))
def test_each_status_and_envelope_becomes_the_right_error_with_alegras_words(adapter, status, envelope):
    headers = {"X-Rate-Limit-Reset": "3"} if status == 429 else {}
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/items/999").respond(status, json=fixture(envelope), headers=headers)
        with pytest.raises(STATUS_ERRORS[status]) as caught:
            adapter.get_item("999")
    assert type(caught.value) is STATUS_ERRORS[status]
    assert ENVELOPES[envelope] in caught.value.user_message
    assert caught.value.status_code == status
    if status == 401:
        assert caught.value.user_message.startswith("Alegra rechazó las credenciales: ")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_answer_to_a_post_is_ambiguous_and_never_retried(adapter, status):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices").respond(status, json=fixture("error-envelope-error-text.json"))
        with pytest.raises(AmbiguousOutcome):
            adapter.create_invoice(draft())
    assert route.call_count == 1


def test_a_post_that_times_out_is_ambiguous_and_sent_exactly_once(adapter, clock):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices").mock(side_effect=httpx.ReadTimeout("timed out"))
        with pytest.raises(AmbiguousOutcome):
            adapter.create_invoice(draft())
    assert route.call_count == 1
    assert adapter.calls == 1
    assert clock.sleeps == []


def test_a_post_whose_connection_was_refused_is_retried_because_it_never_left(adapter):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/invoices").mock(side_effect=[httpx.ConnectError("refused"),
                                                           httpx.Response(201, json=fixture("invoice-created.json"))])
        assert adapter.create_invoice(draft()).erp_id == "1203"
    assert route.call_count == 2


def test_a_get_answered_503_then_200_is_retried(adapter, clock):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/taxes").mock(side_effect=[
            httpx.Response(503, json={"message": "Servicio no disponible", "code": 503}),
            httpx.Response(200, json=fixture("taxes.json")),
        ])
        taxes = adapter.list_taxes()
    assert [t.id for t in taxes] == ["1", "2"]
    assert route.call_count == 2
    assert len(clock.sleeps) == 1


def test_a_429_waits_the_reset_seconds_then_succeeds(adapter, clock):
    limited = httpx.Response(429, json={"message": "Límite de peticiones superado", "code": 429},
                             headers={"X-Rate-Limit-Limit": "150", "X-Rate-Limit-Remaining": "0",
                                      "X-Rate-Limit-Reset": "7"})
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.get("/taxes").mock(side_effect=[limited, httpx.Response(200, json=fixture("taxes.json"))])
        assert len(adapter.list_taxes()) == 2
    assert route.call_count == 2
    assert [s for s in clock.sleeps if s] == [7.0]  # waited once, for the window the 429 announced


def test_a_429_without_reset_header_uses_retry_after(adapter, clock):
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/taxes").mock(side_effect=[
            httpx.Response(429, json={"message": "Espera", "code": 429}, headers={"Retry-After": "4"}),
            httpx.Response(200, json=[]),
        ])
        assert adapter.list_taxes() == []
    assert [s for s in clock.sleeps if s] == [4.0]


def test_remaining_zero_makes_the_next_request_wait_for_the_window(adapter, clock):
    exhausted = {"X-Rate-Limit-Limit": "150", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "12"}
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/taxes").respond(200, json=[], headers=exhausted)
        router.get("/warehouses").respond(200, json=[], headers={"X-Rate-Limit-Remaining": "149"})
        adapter.list_taxes()
        assert clock.sleeps == []
        adapter.list_warehouses()
    assert clock.sleeps == [12.0]
    assert adapter.rate_limit.peek()[:2] == (0.0, 149)  # a new window, one request spent


@pytest.mark.parametrize(("status", "headers", "reading"), [
    (200, {"X-Rate-Limit-Limit": "150", "X-Rate-Limit-Remaining": "3", "X-Rate-Limit-Reset": "9"},
     WindowReading(limit=150, remaining=3, reset_seconds=9.0)),
    (200, {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "9"}, WindowReading(remaining=0, reset_seconds=9.0)),
    (429, {"X-Rate-Limit-Reset": "5"}, WindowReading(reset_seconds=5.0, spent=True)),
    (429, {"Retry-After": "4"}, WindowReading(reset_seconds=4.0, spent=True)),
    (429, {}, WindowReading(spent=True)),
    (200, {}, None),
    (200, {"X-Rate-Limit-Remaining": "abc", "X-Rate-Limit-Reset": "x", "X-Rate-Limit-Limit": "-3"}, None),
    (200, {"X-Rate-Limit-Limit": "0", "X-Rate-Limit-Remaining": "-2"}, WindowReading(remaining=0)),
])
def test_read_window_takes_what_the_headers_say_and_ignores_garbage(status, headers, reading):
    assert read_window(httpx.Response(status, headers=headers)) == reading


def test_reset_header_given_as_epoch_is_turned_into_seconds():
    headers = httpx.Headers({"X-Rate-Limit-Reset": "1800000030"})
    assert rate_limit_reset_seconds(headers, now=lambda: 1_800_000_000.0) == 30.0


@pytest.mark.parametrize(("value", "expected"), [("inf", None), ("nan", 0.0), ("86400", 120.0), ("2.5", 2.5)])
def test_absurd_reset_headers_never_stall_a_worker(value, expected):
    assert rate_limit_reset_seconds(httpx.Headers({"X-Rate-Limit-Reset": value})) == expected


def test_credentials_never_appear_in_messages_or_details(adapter):
    echo = {"message": f"El token {TOKEN} del usuario no es válido", "code": 401}
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/company").respond(401, json=echo)
        router.post("/invoices").mock(side_effect=httpx.ReadTimeout(f"timed out {TOKEN}"))
        with pytest.raises(InvalidCredentials) as bad_credentials:
            adapter.validate_credentials()
        with pytest.raises(AmbiguousOutcome) as ambiguous:
            adapter.create_invoice(draft())
    for error in (bad_credentials.value, ambiguous.value):
        for text in (error.user_message, error.detail or "", str(error), repr(error.args)):
            assert TOKEN not in text
    assert "Alegra rechazó las credenciales" in bad_credentials.value.user_message


@pytest.mark.parametrize("credentials", [{"email": EMAIL}, {"token": TOKEN}, {"email": " ", "token": TOKEN}])
def test_missing_email_or_token_is_a_configuration_error(credentials):
    with pytest.raises(ConfigurationError) as caught:
        AlegraAdapter(credentials)
    assert "Alegra" in caught.value.user_message
    assert TOKEN not in caught.value.user_message


def test_requests_use_basic_auth_and_the_default_base_url():
    adapter = AlegraAdapter({"email": EMAIL, "token": TOKEN})
    with respx.mock(assert_all_called=True) as router:
        route = router.get("https://api.alegra.com/api/v1/company").respond(200, json=fixture("company.json"))
        adapter.validate_credentials()
    expected = httpx.BasicAuth(EMAIL, TOKEN).auth_flow(httpx.Request("GET", BASE)).__next__()
    assert route.calls.last.request.headers["Authorization"] == expected.headers["Authorization"]
    adapter.close()


def test_error_message_of_a_non_json_body_is_the_text_or_the_reason():
    assert alegra_error_message(httpx.Response(400, text="Parámetro inválido")) == "Parámetro inválido"
    assert alegra_error_message(httpx.Response(502, text="<html>Bad gateway</html>")) == "Bad Gateway"
    assert alegra_error_message(httpx.Response(400, json=[{"message": "a"}, {"message": "b"}])) == "a; b"
