"""OAuth refresh, retries and the error table of the Mercado Libre client (respx, strict)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from channels.mercadolibre import endpoints
from channels.mercadolibre.adapter import MercadoLibreAdapter
from connector.errors import (
    ConfigurationError,
    InvalidCredentials,
    NotFound,
    PermanentRejection,
    RateLimited,
    TransientError,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mercadolibre"
BASE = "https://api.mercadolibre.com"
SECRET = "client-secret-never-shown"
OLD_REFRESH = "TG-original-refresh-187654321"
CREDENTIALS = {"client_id": "5501234567890123", "client_secret": SECRET, "refresh_token": OLD_REFRESH}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


TOKEN = fixture("token-refresh.json")


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_adapter(sleeps: list[float], credentials: dict | None = None, saved: list | None = None):
    return MercadoLibreAdapter(credentials or dict(CREDENTIALS), sleep=sleeps.append,
                               on_credentials_changed=(saved.append if saved is not None else None))


def valid_token_credentials(token: str = "APP_USR-still-valid") -> dict:
    expires = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    return {**CREDENTIALS, "access_token": token, "access_token_expires_at": expires, "user_id": "187654321"}


def test_refresh_rotates_the_refresh_token_and_reports_the_new_credentials(api, sleeps):
    token_route = api.post("/oauth/token").respond(200, json=TOKEN)
    me_route = api.get("/users/me").respond(200, json=fixture("users-me.json"))
    saved: list[dict] = []

    info = make_adapter(sleeps, saved=saved).validate_credentials()

    form = parse_qs(token_route.calls.last.request.content.decode())
    assert form == {"grant_type": ["refresh_token"], "client_id": [CREDENTIALS["client_id"]],
                    "client_secret": [SECRET], "refresh_token": [OLD_REFRESH]}
    assert me_route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN['access_token']}"
    assert len(saved) == 1
    new = saved[0]
    assert new["refresh_token"] == TOKEN["refresh_token"] != OLD_REFRESH
    assert new["access_token"] == TOKEN["access_token"]
    assert new["user_id"] == "187654321"
    assert new["client_id"] == CREDENTIALS["client_id"] and new["client_secret"] == SECRET
    expires_at = datetime.fromisoformat(new["access_token_expires_at"])
    assert timedelta(hours=5) < expires_at - datetime.now(UTC) <= timedelta(hours=6)
    assert (info.remote_id, info.display_name, info.extra) == ("187654321", "TIENDACAFETERA", {"site_id": "MCO"})


def test_invalid_grant_is_invalid_credentials_and_nothing_else_is_called(sleeps):
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        token_route = api.post("/oauth/token").respond(400, json=fixture("error-invalid-grant.json"))
        me_route = api.get("/users/me").respond(200, json=fixture("users-me.json"))
        saved: list[dict] = []
        with pytest.raises(InvalidCredentials) as caught:
            make_adapter(sleeps, saved=saved).validate_credentials()
    assert token_route.call_count == 1 and not me_route.called and saved == [] and sleeps == []
    error = caught.value
    assert "vuelve a conectar" in error.user_message
    for text in (str(error), error.user_message, error.detail or ""):
        assert SECRET not in text and OLD_REFRESH not in text


def test_expired_access_token_is_refreshed_before_use(api, sleeps):
    expired = {**CREDENTIALS, "access_token": "APP_USR-expired", "user_id": "187654321",
               "access_token_expires_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}
    token_route = api.post("/oauth/token").respond(200, json=TOKEN)
    me_route = api.get("/users/me").respond(200, json=fixture("users-me.json"))
    adapter = make_adapter(sleeps, expired)

    adapter.client.auth.access_token()
    endpoints.get_me(adapter.client.api)

    assert token_route.call_count == 1
    assert me_route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN['access_token']}"


def test_a_valid_access_token_is_used_without_refreshing(sleeps):
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        token_route = api.post("/oauth/token").respond(200, json=TOKEN)
        order_route = api.get("/orders/2000008123459").respond(200, json=fixture("order-cancelled.json"))
        api.get("/shipments/44112233448").respond(404, json={"message": "not found"})
        adapter = make_adapter(sleeps, valid_token_credentials("APP_USR-still-valid"))
        adapter.fetch_order("2000008123459")
    assert order_route.calls.last.request.headers["Authorization"] == "Bearer APP_USR-still-valid"
    assert not token_route.called


def test_a_401_mid_run_refreshes_once_and_retries_the_request(api, sleeps):
    token_route = api.post("/oauth/token").respond(200, json=TOKEN)
    order_route = api.get("/orders/2000008123459").mock(side_effect=[
        httpx.Response(401, json=fixture("error-invalid-access-token.json")),
        httpx.Response(200, json=fixture("order-cancelled.json")),
    ])
    api.get("/shipments/44112233448").respond(200, json=fixture("shipment-fulfillment.json"))
    saved: list[dict] = []
    adapter = make_adapter(sleeps, valid_token_credentials("APP_USR-revoked"), saved)

    pulled = adapter.fetch_order("2000008123459")

    assert token_route.call_count == 1 and order_route.call_count == 2
    assert order_route.calls[0].request.headers["Authorization"] == "Bearer APP_USR-revoked"
    assert order_route.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN['access_token']}"
    assert saved[-1]["refresh_token"] == TOKEN["refresh_token"]
    assert pulled.external_id == "2000008123459" and sleeps == []


def test_a_second_401_after_refreshing_is_invalid_credentials(api, sleeps):
    token_route = api.post("/oauth/token").respond(200, json=TOKEN)
    api.get("/users/me").respond(401, json=fixture("error-invalid-access-token.json"))
    adapter = make_adapter(sleeps, valid_token_credentials())
    with pytest.raises(InvalidCredentials):
        endpoints.get_me(adapter.client.api)
    assert token_route.call_count == 1


def test_429_then_200_is_retried_after_a_backoff(api, sleeps):
    route = api.get("/users/me").mock(side_effect=[
        httpx.Response(429, json=fixture("error-too-many-requests.json")),
        httpx.Response(200, json=fixture("users-me.json")),
    ])
    adapter = make_adapter(sleeps, valid_token_credentials())
    assert endpoints.get_me(adapter.client.api)["id"] == 187654321
    assert route.call_count == 2
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0  # first backoff step, equal jitter


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_200_on_a_get_is_retried(api, sleeps, status):
    route = api.get("/orders/2000008123459").mock(side_effect=[
        httpx.Response(status, json={"message": "Internal server error", "error": "internal_error"}),
        httpx.Response(200, json=fixture("order-cancelled.json")),
    ])
    api.get("/shipments/44112233448").respond(200, json=fixture("shipment-fulfillment.json"))
    pulled = make_adapter(sleeps, valid_token_credentials()).fetch_order("2000008123459")
    assert route.call_count == 2 and len(sleeps) == 1
    assert pulled.raw["order"]["id"] == 2000008123459


def test_rate_limit_retries_are_bounded(api, sleeps):
    route = api.get("/users/me").respond(429, json=fixture("error-too-many-requests.json"))
    adapter = make_adapter(sleeps, valid_token_credentials())
    with pytest.raises(RateLimited):
        endpoints.get_me(adapter.client.api)
    assert route.call_count == 5 and len(sleeps) == 4
    assert sum(sleeps) < 20


def test_a_5xx_on_the_token_endpoint_is_retried(api, sleeps):
    token_route = api.post("/oauth/token").mock(side_effect=[
        httpx.Response(503, json={"message": "unavailable"}), httpx.Response(200, json=TOKEN)])
    api.get("/users/me").respond(200, json=fixture("users-me.json"))
    saved: list[dict] = []
    make_adapter(sleeps, saved=saved).validate_credentials()
    assert token_route.call_count == 2 and len(saved) == 1 and len(sleeps) == 1


@pytest.mark.parametrize(("status", "error"), [
    (400, PermanentRejection),
    (403, InvalidCredentials),
    (404, NotFound),
    (409, PermanentRejection),
    (429, RateLimited),
    (500, TransientError),
    (503, TransientError),
])
def test_each_status_becomes_the_right_error(api, sleeps, status, error):
    api.get("/orders/1").respond(status, json={"message": "nope", "error": "x", "status": status})
    with pytest.raises(error):
        make_adapter(sleeps, valid_token_credentials()).fetch_order("1")


@pytest.mark.parametrize("missing", ["client_id", "client_secret", "refresh_token"])
def test_missing_credentials_are_a_configuration_error(missing):
    credentials = {key: value for key, value in CREDENTIALS.items() if key != missing}
    with pytest.raises(ConfigurationError) as caught:
        MercadoLibreAdapter(credentials)
    assert missing in caught.value.user_message
    assert SECRET not in caught.value.user_message
