"""People who sign in to the admin UI. Each user belongs to one seller account and sees only it.

Passwords are hashed with argon2id (:mod:`connector.passwords`); an older scrypt hash is replaced at
the next successful sign-in. A failed sign-in costs the same whether the e-mail exists or not (a dummy
hash is checked), and says the same thing in both cases, so the form cannot be used to find out who
has an account. The hash is checked outside any database transaction (SQLite would hold its write
lock for the whole hash otherwise).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.catalogs import SOURCE_LANGUAGE
from connector.context import AppContext
from connector.errors import ConfigurationError, ConnectorError
from connector.models import User, utcnow
from connector.passwords import PasswordHashing
from connector.user_sessions import revoke_user_sessions

# The work factor of new hashes (tests swap in a cheaper one; tests/connector/test_users.py checks this).
PASSWORD_HASHING = PasswordHashing()
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200  # argon2 takes any length; a cap keeps a huge body from costing CPU
LOCALES = ("es", "en")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@cache
def _dummy_hash(hashing: PasswordHashing) -> str:
    """Checked when the e-mail is unknown, so both failure paths cost one hash verification."""
    return hashing.hash("no-such-user-password")


class AuthenticationFailed(ConnectorError):
    """Wrong e-mail or password, or a deactivated user. The message never says which."""


def normalise_email(email: str | None) -> str:
    return (email or "").strip().lower()


def check_password_rules(password: str | None) -> str:
    """The password as given, or a clear Spanish error when it is too short or too long."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigurationError(f"La contraseña debe tener al menos {MIN_PASSWORD_LENGTH} caracteres.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ConfigurationError(f"La contraseña no puede tener más de {MAX_PASSWORD_LENGTH} caracteres.")
    if not password.strip():
        raise ConfigurationError("La contraseña no puede ser solo espacios.")
    return password


def create_user(ctx: AppContext, account_ref: str | int | None, email: str, password: str, *,
                locale: str = "es") -> User:
    """A new user of ``account_ref`` (id or name). E-mails are unique across the installation."""
    from connector.services import find_account

    email = normalise_email(email)
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise ConfigurationError(f"«{email}» no es un e-mail válido.")
    password = check_password_rules(password)
    if locale not in LOCALES:
        raise ConfigurationError(f"Idioma no disponible: {locale}. Opciones: {', '.join(LOCALES)}.")
    password_hash = PASSWORD_HASHING.hash(password)
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        if session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
            raise ConfigurationError(f"Ya existe un usuario con el e-mail {email}.")
        user = User(account_id=account.id, email=email, password_hash=password_hash, locale=locale, is_active=True)
        session.add(user)
        session.flush()
        return user


def authenticate(ctx: AppContext, email: str, password: str) -> User:
    """The active user with this e-mail and password, else :class:`AuthenticationFailed`."""
    hashing = PASSWORD_HASHING
    email = normalise_email(email)
    password = password or ""
    with ctx.db.session() as session:
        user = session.scalar(select(User).where(func.lower(User.email) == email)) if email else None
    # Always one hash check, also for unknown e-mails and over-long passwords (constant cost).
    stored = user.password_hash if user is not None else _dummy_hash(hashing)
    valid = hashing.verify(stored, password[:MAX_PASSWORD_LENGTH])
    if user is None or not valid or len(password) > MAX_PASSWORD_LENGTH or not user.is_active:
        raise AuthenticationFailed("Correo o contraseña incorrectos.")
    new_hash = hashing.hash(password) if hashing.needs_rehash(stored) else None
    with ctx.db.transaction() as session:
        user = session.get(User, user.id)
        if user is None or not user.is_active:
            raise AuthenticationFailed("Correo o contraseña incorrectos.")
        user.last_login_at = utcnow()
        # Only over the hash just verified: a password changed meanwhile is not overwritten.
        if new_hash is not None and user.password_hash == stored:
            user.password_hash = new_hash
        session.flush()
        return user


def set_user_locale(ctx: AppContext, user_id: int, locale: str) -> None:
    if locale not in LOCALES:
        raise ConfigurationError(f"Idioma no disponible: {locale}.")
    with ctx.db.transaction() as session:
        user = session.get(User, int(user_id))
        if user is not None:
            user.locale = locale


def find_user(ctx: AppContext, email: str) -> User:
    """The user with this e-mail, else a clear error (operators name users by e-mail)."""
    with ctx.db.session() as session:
        user = session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))
    if user is None:
        raise ConfigurationError(f"No existe un usuario con el e-mail {normalise_email(email)}.")
    return user


def set_password(ctx: AppContext, email: str, password: str) -> User:
    """Replace a user's password (an operator's reset, from the CLI): every session of theirs ends."""
    password = check_password_rules(password)
    user = find_user(ctx, email)
    password_hash = PASSWORD_HASHING.hash(password)
    with ctx.db.transaction() as session:
        user = session.get(User, user.id)
        if user is None:  # deleted a moment ago
            raise ConfigurationError(f"No existe un usuario con el e-mail {normalise_email(email)}.")
        user.password_hash = password_hash
        revoke_user_sessions(session, user.id, utcnow())
        session.flush()
        return user


class WrongCurrentPassword(ConfigurationError):
    """The seller's current password, asked before a change, is not right."""


def change_password(ctx: AppContext, user_id: int, current: str, new: str, *, now: datetime,
                    keep_session: str | None = None) -> None:
    """A seller changes their own password: the current one is checked first; their other sessions end
    (the one holding ``keep_session`` goes on)."""
    hashing = PASSWORD_HASHING
    with ctx.db.session() as session:
        user = session.get(User, int(user_id))
    if user is None or not hashing.verify(user.password_hash, (current or "")[:MAX_PASSWORD_LENGTH]):
        raise WrongCurrentPassword("La contraseña actual no es correcta.")
    new = check_password_rules(new)
    password_hash = hashing.hash(new)
    with ctx.db.transaction() as session:
        stored = session.get(User, user.id)
        if stored is None or stored.password_hash != user.password_hash:  # changed meanwhile (another device, an operator)
            raise WrongCurrentPassword("La contraseña actual no es correcta.")
        stored.password_hash = password_hash
        revoke_user_sessions(session, user.id, now, keep_token=keep_session)


def account_language(session: Session, account_id: int, readers: Iterable[str] = ()) -> str:
    """The language to write to an account in when no signed-in person is reading (an alert e-mail):
    the one most of its active users chose in the panel — of those among ``readers`` (e-mail addresses)
    when any of them is a user, since they are the ones who read it. On a tie, or with no user, the
    deployment's default (Spanish, as the panel and the CLI)."""
    addresses = {normalise_email(a) for a in readers}
    users = session.execute(select(User.email, User.locale).where(User.account_id == account_id,
                                                                  User.is_active.is_(True))).all()
    chosen = [locale for email, locale in users if email in addresses] or [locale for _, locale in users]
    ranked = Counter(locale for locale in chosen if locale in LOCALES).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return SOURCE_LANGUAGE
    return ranked[0][0]
