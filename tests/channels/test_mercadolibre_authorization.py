"""Mercado Libre's authorization-code flow: the authorization URL and the code exchange (respx, strict)."""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from channels.mercadolibre.authorization import authorization_url, exchange_code
from connector.errors import ConfigurationError, InvalidCredentials, TransientError

BASE = "https://api.mercadolibre.com"
FORM = {"client_id": "5501234567890123", "client_secret": "secreto-app", "site_id": "MCO"}
TOKEN_ANSWER = {"access_token": "APP_USR-5501234567890123-abc-187654321", "token_type": "Bearer",
                "expires_in": 21600, "scope": "offline_access read write", "user_id": 187654321,
                "refresh_token": "TG-5f1d0e-187654321"}


def test_the_authorization_url_goes_to_the_sites_auth_host_with_pkce_and_state():
    url = authorization_url(FORM, redirect_uri="https://conector.example/cb", state="s-123", code_challenge="c-456")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.mercadolibre.com.co/authorization"
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "response_type": "code", "client_id": "5501234567890123", "redirect_uri": "https://conector.example/cb",
        "state": "s-123", "code_challenge": "c-456", "code_challenge_method": "S256"}
    mexico = authorization_url({**FORM, "site_id": "mlm"}, redirect_uri="x", state="s", code_challenge="c")
    assert mexico.startswith("https://auth.mercadolibre.com.mx/authorization?")
    sandbox = authorization_url(FORM, redirect_uri="x", state="s", code_challenge="c", base_url="http://127.0.0.1:9/")
    assert sandbox.startswith("http://127.0.0.1:9/authorization?")


def test_an_unknown_site_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="País de Mercado Libre desconocido: XYZ"):
        authorization_url({**FORM, "site_id": "XYZ"}, redirect_uri="x", state="s", code_challenge="c")


def test_the_code_is_exchanged_once_for_the_connections_credentials():
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as api:
        route = api.post("/oauth/token").mock(return_value=httpx.Response(200, json=TOKEN_ANSWER))
        credentials = exchange_code(FORM, code="TG-code-1", redirect_uri="https://conector.example/cb",
                                    code_verifier="v-789")
    sent = parse_qs(route.calls.last.request.content.decode())
    assert {k: v[0] for k, v in sent.items()} == {
        "grant_type": "authorization_code", "client_id": "5501234567890123", "client_secret": "secreto-app",
        "code": "TG-code-1", "redirect_uri": "https://conector.example/cb", "code_verifier": "v-789"}
    assert credentials["refresh_token"] == "TG-5f1d0e-187654321" and credentials["user_id"] == "187654321"
    assert credentials["access_token"] == TOKEN_ANSWER["access_token"] and credentials["site_id"] == "MCO"
    assert credentials["client_secret"] == "secreto-app" and credentials["access_token_expires_at"]


@pytest.mark.parametrize("status, body", [
    (400, {"error": "invalid_grant", "message": "Error validating grant. Your authorization code or refresh "
                                                "token may be expired or it was already used", "status": 400}),
    (401, {"error": "invalid_client", "message": "invalid client_id or client_secret", "status": 401}),
    (403, {"error": "forbidden", "message": "forbidden", "status": 403}),
])
def test_a_refused_code_is_invalid_credentials_and_never_resent(status, body):
    with respx.mock(base_url=BASE, assert_all_called=True) as api:
        route = api.post("/oauth/token").mock(return_value=httpx.Response(status, json=body))
        with pytest.raises(InvalidCredentials) as caught:
            exchange_code(FORM, code="TG-usado", redirect_uri="https://x/cb", code_verifier="v")
    assert route.call_count == 1
    assert "Vuelve a conectar" in caught.value.user_message and "secreto-app" not in str(caught.value)


def test_a_5xx_after_sending_is_not_resent():
    # The code may have been spent: a second POST could only fail, so the seller starts over.
    with respx.mock(base_url=BASE, assert_all_called=True) as api:
        route = api.post("/oauth/token").mock(return_value=httpx.Response(502, json={"message": "bad gateway"}))
        with pytest.raises(TransientError):
            exchange_code(FORM, code="TG-code", redirect_uri="https://x/cb", code_verifier="v")
    assert route.call_count == 1


def test_an_answer_without_tokens_is_not_trusted():
    with respx.mock(base_url=BASE, assert_all_called=True) as api:
        api.post("/oauth/token").mock(return_value=httpx.Response(200, json={"token_type": "Bearer"}))
        with pytest.raises(TransientError, match="respondió algo inesperado"):
            exchange_code(FORM, code="TG-code", redirect_uri="https://x/cb", code_verifier="v")
