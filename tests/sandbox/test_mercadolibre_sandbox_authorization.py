"""The sandbox's Mercado Libre consent page and authorization-code grant: one-use codes bound to the
client, the redirect_uri and the PKCE challenge."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox import server as sandbox_server

REDIRECT = "http://127.0.0.1:1/callback"


@pytest.fixture(scope="module")
def box():
    sandbox = sandbox_server.Sandbox(order_count=2).start()
    yield sandbox
    sandbox.stop()


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _approve(box, *, state="st-1", verifier="v" * 50, redirect=REDIRECT, decision="allow") -> dict:
    params = {"response_type": "code", "client_id": sandbox_server.ML_CLIENT_ID, "redirect_uri": redirect,
              "state": state, "code_challenge": _challenge(verifier), "code_challenge_method": "S256"}
    page = httpx.get(f"{box.ml_url}/authorization", params=params)
    assert page.status_code == 200 and "Permitir" in page.text and "TIENDACAFETERA" in page.text
    answer = httpx.post(f"{box.ml_url}/authorization", data={**params, "decision": decision})
    assert answer.status_code == 302 and answer.headers["Location"].startswith(redirect + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def _grant(box, code: str, *, verifier="v" * 50, redirect=REDIRECT, secret=sandbox_server.ML_CLIENT_SECRET):
    return httpx.post(f"{box.ml_url}/oauth/token", data={
        "grant_type": "authorization_code", "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": secret,
        "code": code, "redirect_uri": redirect, "code_verifier": verifier})


def test_allow_then_exchange_the_code_once(box):
    back = _approve(box)
    assert back["state"] == "st-1" and back["code"].startswith("TG-")
    first = _grant(box, back["code"])
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["user_id"] == sandbox_server.ML_USER_ID and tokens["refresh_token"] == box.ml_state.refresh_token
    me = httpx.get(f"{box.ml_url}/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    again = _grant(box, back["code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("change", [{"verifier": "w" * 50}, {"redirect": "http://127.0.0.1:2/other"},
                                   {"secret": "otro-secreto"}])
def test_a_code_is_bound_to_the_verifier_redirect_and_client(box, change):
    back = _approve(box)
    assert _grant(box, back["code"], **change).status_code == 400
    assert _grant(box, back["code"]).status_code == 400  # refused once = spent


def test_deny_sends_the_error_back_with_the_state(box):
    back = _approve(box, decision="deny")
    assert back == {"error": "access_denied", "error_description": "The user denied the authorization",
                    "state": "st-1"}


def test_an_unknown_client_gets_an_error_page(box):
    response = httpx.get(f"{box.ml_url}/authorization", params={"response_type": "code", "client_id": "999",
                                                                 "redirect_uri": REDIRECT})
    assert response.status_code == 400 and "no es válida" in response.text
