"""Panel sessions, kept in the database so they can end: at sign-out, when the password changes, after
``CONNECTOR_SESSION_IDLE_MINUTES`` unused and ``CONNECTOR_SESSION_MAX_HOURS`` after sign-in however
busy they are.

The browser's cookie carries a random token; the row's id is the token's SHA-256, so reading the
table (a backup, a log of queries) gives nobody a session. Time always comes in as ``now`` (the web
app's clock), so expiry is tested by moving a clock rather than by sleeping.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from connector.context import AppContext
from connector.models import User, UserSession


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives unused (``idle``) and at all (``max_age``)."""

    idle: timedelta = timedelta(minutes=60)
    max_age: timedelta = timedelta(hours=12)
    # last_seen_at is written at most this often: one write a minute per session, not one per request.
    touch_every: timedelta = timedelta(minutes=1)

    @classmethod
    def from_settings(cls, settings) -> SessionPolicy:
        return cls(idle=timedelta(minutes=settings.session_idle_minutes),
                   max_age=timedelta(hours=settings.session_max_hours))


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(ctx: AppContext, user_id: int, now: datetime, policy: SessionPolicy | None = None) -> str:
    """A new session of ``user_id``; returns the token for the cookie (stored only as its digest)."""
    policy = policy or SessionPolicy()
    token = secrets.token_urlsafe(32)
    with ctx.db.transaction() as session:
        # Housekeeping on the way: sessions past their maximum age can never be used again.
        session.execute(delete(UserSession).where(UserSession.created_at < now - policy.max_age))
        session.add(UserSession(id=_session_id(token), user_id=user_id, created_at=now, last_seen_at=now))
    return token


def resume_session(ctx: AppContext, token: str | None, now: datetime, policy: SessionPolicy) -> User | None:
    """The active user of a live session (and the session marked as used), else None."""
    if not token or not isinstance(token, str):
        return None
    session_id = _session_id(token)
    with ctx.db.session() as session:
        row = session.get(UserSession, session_id)
        if row is None or row.revoked_at is not None:
            return None
        if now - row.last_seen_at > policy.idle or now - row.created_at > policy.max_age:
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
        stale = now - row.last_seen_at >= policy.touch_every
    if stale:
        with ctx.db.transaction() as session:
            session.execute(update(UserSession).where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
                            .values(last_seen_at=now).execution_options(synchronize_session=False))
    return user


def revoke_session(ctx: AppContext, token: str | None, now: datetime) -> None:
    """End one session (sign-out)."""
    if not token or not isinstance(token, str):
        return
    with ctx.db.transaction() as session:
        session.execute(update(UserSession).where(UserSession.id == _session_id(token),
                                                  UserSession.revoked_at.is_(None))
                        .values(revoked_at=now).execution_options(synchronize_session=False))


def revoke_user_sessions(session: Session, user_id: int, now: datetime, *, keep_token: str | None = None) -> None:
    """End every session of ``user_id`` (but the one holding ``keep_token``), in the caller's transaction."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep_token:
        query = query.where(UserSession.id != _session_id(keep_token))
    session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))
