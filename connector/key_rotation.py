"""Retiring an encryption key: what each key still protects, and re-encrypting under the first.

Stored secrets are Fernet tokens under ``CONNECTOR_SECRET_KEYS`` (the first key encrypts, every key
decrypts). To retire a key: put a new key first, run ``connector keys rotate`` (every stored token
is re-encrypted under the first key), check with ``connector keys check`` that the old key protects
nothing any more, then remove it from the list.

Encrypted values live in ``erp_connections.credentials_encrypted`` (and ``.mirror_secret_encrypted``),
``channel_connections.credentials_encrypted`` and the ``sealed`` entry of ``oauth_states.payload``.
Each row is rewritten by a compare-and-swap (only if its token is still the one read), so a worker
saving rotated marketplace credentials at the same moment is never overwritten; a row no key can
open is reported and left alone. Keys are only ever named by position and fingerprint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select, update

from connector.context import AppContext
from connector.models import ChannelConnection, ERPConnection, OAuthState

# Tables whose column holds one Fernet token.
_TOKEN_COLUMNS = ((ERPConnection, ERPConnection.credentials_encrypted),
                  (ChannelConnection, ChannelConnection.credentials_encrypted),
                  (ERPConnection, ERPConnection.mirror_secret_encrypted))  # the ERP webhooks' URL secret


def _label(model, column) -> str:
    """How a stored token's place is named: the table for credentials, ``table.column`` otherwise."""
    return model.__tablename__ if column.key == "credentials_encrypted" else f"{model.__tablename__}.{column.key}"


@dataclass
class KeyUsage:
    """How many stored tokens each key opens (by position: 0 is the first key), and which rows none opens."""

    fingerprints: list[str]
    by_position: Counter = field(default_factory=Counter)
    unreadable: list[str] = field(default_factory=list)  # "table:id"

    def as_dict(self) -> dict:
        return {"keys": [{"position": i + 1, "fingerprint": fp, "rows": self.by_position.get(i, 0)}
                         for i, fp in enumerate(self.fingerprints)],
                "unreadable": self.unreadable}


@dataclass
class RotationReport:
    rotated: int = 0
    already_current: int = 0
    unreadable: list[str] = field(default_factory=list)
    changed_meanwhile: int = 0

    def as_dict(self) -> dict:
        return {"rotated": self.rotated, "already_current": self.already_current, "unreadable": self.unreadable,
                "changed_meanwhile": self.changed_meanwhile}


def _stored_tokens(ctx: AppContext) -> Iterator[tuple[str, int, str]]:
    """(table, row id, token) of every stored encrypted value."""
    with ctx.db.session() as session:
        for model, column in _TOKEN_COLUMNS:
            for row_id, token in session.execute(select(model.id, column).order_by(model.id)):
                if token:
                    yield _label(model, column), row_id, token
        for row_id, payload in session.execute(select(OAuthState.id, OAuthState.payload).order_by(OAuthState.id)):
            sealed = (payload or {}).get("sealed")
            if sealed:
                yield OAuthState.__tablename__, row_id, sealed


def check_keys(ctx: AppContext) -> KeyUsage:
    """How many stored tokens each configured key opens, and the rows no key opens."""
    usage = KeyUsage(fingerprints=list(ctx.vault.fingerprints))
    for table, row_id, token in _stored_tokens(ctx):
        position = ctx.vault.key_position(token)
        if position is None:
            usage.unreadable.append(f"{table}:{row_id}")
        else:
            usage.by_position[position] += 1
    return usage


def rotate_keys(ctx: AppContext) -> RotationReport:
    """Re-encrypt every stored token not yet under the first key (MultiFernet.rotate)."""
    report = RotationReport()
    models = {_label(model, column): (model, column) for model, column in _TOKEN_COLUMNS}
    for table, row_id, token in list(_stored_tokens(ctx)):
        position = ctx.vault.key_position(token)
        if position is None:
            report.unreadable.append(f"{table}:{row_id}")
            continue
        if position == 0:
            report.already_current += 1
            continue
        new_token = ctx.vault.rotate(token)
        with ctx.db.transaction() as session:
            if table in models:
                model, column = models[table]
                swapped = session.execute(update(model).where(model.id == row_id, column == token)
                                          .values({column.key: new_token})
                                          .execution_options(synchronize_session=False)).rowcount
            else:
                row = session.get(OAuthState, row_id, with_for_update=True)
                swapped = 0
                if row is not None and (row.payload or {}).get("sealed") == token:
                    row.payload = {**row.payload, "sealed": new_token}
                    swapped = 1
        if swapped:
            report.rotated += 1
        else:
            report.changed_meanwhile += 1  # rewritten meanwhile, under the first key already
    return report
