"""Mercado Libre's OAuth authorization-code flow (the seller clicks "Conectar" and authorizes the app).

1. The seller's browser goes to ``https://auth.mercadolibre.com.<tld>/authorization?response_type=code
   &client_id=...&redirect_uri=...&state=...&code_challenge=...&code_challenge_method=S256``; the host
   depends on the site (Colombia: ``auth.mercadolibre.com.co``).
2. Mercado Libre sends the browser back to ``redirect_uri?code=TG-...&state=...`` (or ``?error=...``).
3. ``POST https://api.mercadolibre.com/oauth/token`` with ``grant_type=authorization_code, client_id,
   client_secret, code, redirect_uri, code_verifier`` answers ``{access_token, refresh_token, user_id,
   expires_in, ...}``. The code works once and expires in minutes, so the exchange is never re-sent
   after it may have reached Mercado Libre.

PKCE (S256) is optional on Mercado Libre's side; we always send it. ``redirect_uri`` must be exactly
the one registered in the application (https in production). In sandbox/dev mode ``base_url`` points
both the authorization page and the token endpoint at the loopback sandbox.

The core finds this module by convention (``channels/<name>/authorization.py``) and calls
:func:`authorization_url` and :func:`exchange_code`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from channels.base import CredentialField
from channels.mercadolibre.client import (
    DEFAULT_BASE_URL,
    ML_STATUS_ERRORS,
    SERVICE_NAME,
    TOKEN_PATH,
    _token_body,
)
from connector.errors import ConfigurationError, InvalidCredentials, PermanentRejection
from connector.http import Requestor

# Where each site's sellers authorize applications.
AUTHORIZATION_HOSTS: dict[str, str] = {
    "MCO": "https://auth.mercadolibre.com.co",
    "MLA": "https://auth.mercadolibre.com.ar",
    "MLB": "https://auth.mercadolivre.com.br",
    "MLC": "https://auth.mercadolibre.cl",
    "MLM": "https://auth.mercadolibre.com.mx",
    "MLU": "https://auth.mercadolibre.com.uy",
    "MPE": "https://auth.mercadolibre.com.pe",
    "MEC": "https://auth.mercadolibre.com.ec",
}
SITE_NAMES: dict[str, str] = {
    "MCO": "Colombia", "MLA": "Argentina", "MLB": "Brasil", "MLC": "Chile", "MLM": "México",
    "MLU": "Uruguay", "MPE": "Perú", "MEC": "Ecuador",
}
DEFAULT_SITE_ID = "MCO"
# Fixed choices for the form's fields (a select instead of a text box).
FIELD_CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "site_id": tuple((site, f"{name} ({site})") for site, name in SITE_NAMES.items()),
}

# What the seller types before being sent to Mercado Libre (the application's keys and the site).
AUTHORIZATION_FIELDS: tuple[CredentialField, ...] = (
    CredentialField("client_id", "ID de la aplicación (client_id)",
                    help="En el panel de desarrolladores de Mercado Libre, en «Mis aplicaciones»."),
    CredentialField("client_secret", "Clave secreta de la aplicación", secret=True),
    CredentialField("site_id", "País de Mercado Libre", required=False, help="Colombia: MCO."),
)
SECRET_FIELDS = ("client_secret",)


def site_of(form: Mapping[str, Any]) -> str:
    site = str(form.get("site_id") or DEFAULT_SITE_ID).strip().upper()
    if site not in AUTHORIZATION_HOSTS:
        raise ConfigurationError(f"País de Mercado Libre desconocido: {site}. "
                                 f"Opciones: {', '.join(sorted(AUTHORIZATION_HOSTS))}.")
    return site


def authorization_url(form: Mapping[str, Any], *, redirect_uri: str, state: str, code_challenge: str,
                      base_url: str | None = None) -> str:
    """The page where the seller authorizes the application (the sandbox serves it in sandbox mode)."""
    host = base_url.rstrip("/") if base_url else AUTHORIZATION_HOSTS[site_of(form)]
    query = urlencode({"response_type": "code", "client_id": str(form["client_id"]).strip(),
                       "redirect_uri": redirect_uri, "state": state, "code_challenge": code_challenge,
                       "code_challenge_method": "S256"})
    return f"{host}/authorization?{query}"


def exchange_code(form: Mapping[str, Any], *, code: str, redirect_uri: str, code_verifier: str,
                  base_url: str | None = None, timeout: float = 20.0,
                  transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """Trade the one-use ``code`` for tokens; returns the connection's credentials (with the refresh token)."""
    requestor = Requestor(service=SERVICE_NAME, base_url=base_url or DEFAULT_BASE_URL, timeout=timeout,
                          transport=transport, status_errors=dict(ML_STATUS_ERRORS), max_attempts=3)
    client_id = str(form["client_id"]).strip()
    try:
        # Not idempotent: re-sent only when it provably never left (a used code answers invalid_grant).
        response = requestor.post(TOKEN_PATH, data={
            "grant_type": "authorization_code", "client_id": client_id,
            "client_secret": str(form["client_secret"]).strip(), "code": code, "redirect_uri": redirect_uri,
            "code_verifier": code_verifier})
    except (InvalidCredentials, PermanentRejection) as exc:  # invalid_grant, invalid_client, 401/403
        raise InvalidCredentials(
            "Mercado Libre no aceptó la autorización (el código venció, ya se usó o la clave secreta de la "
            "aplicación no coincide). Vuelve a conectar.", detail=exc.detail, status_code=exc.status_code) from exc
    finally:
        requestor.close()
    body = _token_body(response)
    expires_at = datetime.now(UTC) + timedelta(seconds=body["expires_in"])
    credentials = {"client_id": client_id, "client_secret": str(form["client_secret"]).strip(),
                   "refresh_token": body["refresh_token"], "access_token": body["access_token"],
                   "access_token_expires_at": expires_at.isoformat(), "site_id": site_of(form)}
    if body.get("user_id") not in (None, ""):
        credentials["user_id"] = str(body["user_id"])
    return credentials


def callback_error_message(error: str) -> str:
    """What to tell the seller when Mercado Libre sent back ``?error=...`` instead of a code."""
    if error == "access_denied":
        return "No se autorizó la conexión en Mercado Libre. Puedes intentarlo de nuevo cuando quieras."
    return f"Mercado Libre no completó la autorización ({error})."
