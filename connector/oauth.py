"""Connecting a channel by OAuth: authorize in the marketplace, come back, store the tokens.

::

    begin_authorization ──► OAuthState row (random state, 10 minutes, one use) ──► marketplace page
    marketplace ──► callback(code, state) ──► complete_authorization ──► exchange_code ──►
        services.connect_channel (validates over HTTP, stores encrypted)

A channel supports this when its package has an ``authorization`` module (``channels/<name>/
authorization.py``) with ``AUTHORIZATION_FIELDS``, ``SECRET_FIELDS``, ``authorization_url(...)``,
``exchange_code(...)`` and ``callback_error_message(error)``. The core never names a channel.

The state row is bound to the account that started it: a callback carrying another account's state
is refused like an unknown one. Secrets typed on the form (the application's client secret) and the
PKCE verifier travel in the row encrypted with the credential vault, never in the session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from importlib import import_module
from types import ModuleType
from typing import Any

from sqlalchemy import delete, select, update

from channels.base import CredentialField
from channels.registry import CHANNELS, channel_class
from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.models import ChannelConnection, OAuthState, utcnow
from connector.plugins import package_of

STATE_TTL = timedelta(minutes=10)


class AuthorizationRefused(ConfigurationError):
    """The round trip cannot be completed (unknown, used or expired state; the seller said no)."""


def authorization_module(kind: str) -> ModuleType | None:
    """The channel's ``authorization`` module, or None when it connects with a credentials form only."""
    target = CHANNELS.get(kind)
    if target is None:
        raise ConfigurationError(f"Canal desconocido: {kind}.")
    name = f"{package_of(target)}.authorization"
    try:
        return import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def supports_authorization(kind: str) -> bool:
    return authorization_module(kind) is not None


def authorization_fields(kind: str) -> tuple[CredentialField, ...]:
    module = authorization_module(kind)
    return module.AUTHORIZATION_FIELDS if module is not None else ()


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def begin_authorization(ctx: AppContext, account_ref, kind: str, form: dict[str, Any], *, redirect_uri: str,
                        name: str | None = None, base_url: str | None = None) -> str:
    """Remember a new one-use state for this account and return the marketplace's authorization URL."""
    from connector.services import find_account

    module = authorization_module(kind)
    if module is None:
        raise ConfigurationError(f"{channel_class(kind).display_name} no se conecta por autorización: "
                                 "usa el formulario de credenciales.")
    cleaned = {k: str(v).strip() for k, v in form.items() if v is not None and str(v).strip()}
    missing = [f.label for f in module.AUTHORIZATION_FIELDS if f.required and not cleaned.get(f.name)]
    if missing:
        raise ConfigurationError(f"Faltan datos para conectar {channel_class(kind).display_name}: "
                                 f"{', '.join(missing)}.")
    base_url = ctx.checked_base_url(base_url)
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(32)
    url = module.authorization_url(cleaned, redirect_uri=redirect_uri, state=state, code_challenge=challenge,
                                   base_url=base_url)
    secret_values = {k: cleaned.pop(k) for k in module.SECRET_FIELDS if k in cleaned}
    payload = {"form": cleaned, "name": (name or "").strip() or None, "base_url": base_url,
               "redirect_uri": redirect_uri, "sealed": ctx.vault.encrypt({**secret_values, "code_verifier": verifier})}
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        session.add(OAuthState(state=state, account_id=account.id, channel_kind=kind, payload=payload))
    return url


def complete_authorization(ctx: AppContext, account_ref, kind: str, state: str | None, *, code: str | None = None,
                           error: str | None = None) -> ChannelConnection:
    """Finish the round trip: spend the state (once), exchange the code, connect the channel."""
    from connector.services import connect_channel, find_account

    module = authorization_module(kind)
    if module is None:
        raise ConfigurationError(f"{channel_class(kind).display_name} no se conecta por autorización.")
    invalid = AuthorizationRefused("La autorización no es válida o ya se usó. Vuelve a conectar el canal.")
    if not state:
        raise invalid
    now = utcnow()
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        row = session.scalar(select(OAuthState).where(OAuthState.state == state))
        if row is None or row.account_id != account.id or row.channel_kind != kind or row.used_at is not None:
            raise invalid
        # Spent first, in its own commit, by a conditional UPDATE: a replayed or concurrent callback loses.
        spent = session.execute(update(OAuthState).where(OAuthState.id == row.id, OAuthState.used_at.is_(None))
                                .values(used_at=now).execution_options(synchronize_session=False))
        if spent.rowcount != 1:
            raise invalid
        expired = now - row.created_at > STATE_TTL
        payload, account_id = dict(row.payload), account.id
    if expired:
        raise AuthorizationRefused("La autorización tardó más de 10 minutos y venció. Vuelve a conectar el canal.")
    if error:
        raise AuthorizationRefused(module.callback_error_message(error))
    if not code:
        raise invalid
    sealed = ctx.vault.decrypt(payload["sealed"])
    verifier = sealed.pop("code_verifier")
    form = {**payload["form"], **sealed}
    credentials = module.exchange_code(form, code=code, redirect_uri=payload["redirect_uri"], code_verifier=verifier,
                                       base_url=payload.get("base_url"), timeout=ctx.settings.http_timeout_seconds,
                                       transport=ctx.channel_transport)
    return connect_channel(ctx, account_id, kind, credentials, name=payload.get("name"),
                           base_url=payload.get("base_url"))


def forget_expired_states(ctx: AppContext) -> int:
    """Delete round trips older than a day (spent or abandoned); returns how many."""
    with ctx.db.transaction() as session:
        result = session.execute(delete(OAuthState).where(OAuthState.created_at < utcnow() - timedelta(days=1)))
        return result.rowcount or 0
