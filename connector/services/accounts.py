"""Accounts, and finding the rows a person names: an account by id or name, its ERP connection, one of
its channel connections. Every other service module starts here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.context import AppContext
from connector.errors import ConfigurationError, ConnectorError
from connector.models import Account, ChannelConnection, ERPConnection


class NotFoundLocally(ConnectorError):
    """An id or name given by a person does not exist here."""


# Ids are INTEGER columns: a number a person typed beyond this cannot be a row (and PostgreSQL would
# refuse the query with an overflow instead of finding nothing).
MAX_ROW_ID = 2**31 - 1


def is_row_id(value: Any) -> bool:
    """True when ``value`` can be the id of a row (a positive integer within the column's range)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID


# -- accounts ------------------------------------------------------------------------------------


def create_account(ctx: AppContext, name: str) -> Account:
    name = name.strip()
    if not name:
        raise ConfigurationError("El nombre de la cuenta no puede estar vacío.")
    with ctx.db.transaction() as session:
        if session.scalar(select(Account).where(Account.name == name)) is not None:
            raise ConfigurationError(f"Ya existe una cuenta llamada «{name}».")
        account = Account(name=name)
        session.add(account)
        session.flush()
        return account


def list_accounts(ctx: AppContext) -> list[Account]:
    with ctx.db.session() as session:
        return list(session.scalars(select(Account).order_by(Account.id)))


def find_account(session: Session, ref: str | int | None) -> Account:
    """An account by id or name; with no reference, the only account there is."""
    if ref is None or ref == "":
        accounts = list(session.scalars(select(Account).limit(2)))
        if len(accounts) == 1:
            return accounts[0]
        raise NotFoundLocally("Indica la cuenta (--account) : hay varias o ninguna." if accounts else
                              "No hay cuentas: crea una con «connector account create NOMBRE».")
    account = None
    if str(ref).isdigit() and is_row_id(int(ref)):
        account = session.get(Account, int(ref))
    if account is None:
        account = session.scalar(select(Account).where(Account.name == str(ref)))
    if account is None:
        raise NotFoundLocally(f"No existe la cuenta «{ref}».")
    return account


def get_erp_connection(session: Session, account: Account) -> ERPConnection:
    connection = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account.id))
    if connection is None:
        raise NotFoundLocally("La cuenta no tiene ERP conectado: usa «connector erp connect».")
    return connection


def find_channel_connection(session: Session, account: Account, ref: str | int | None) -> ChannelConnection:
    query = select(ChannelConnection).where(ChannelConnection.account_id == account.id)
    connections = list(session.scalars(query.order_by(ChannelConnection.id)))
    if ref in (None, ""):
        if len(connections) == 1:
            return connections[0]
        raise NotFoundLocally("Indica la conexión de canal (--channel): hay varias o ninguna.")
    for connection in connections:
        if str(connection.id) == str(ref) or connection.kind == str(ref) or connection.name == str(ref):
            return connection
    raise NotFoundLocally(f"No existe la conexión de canal «{ref}» en esta cuenta.")


def find_erp_connection(ctx: AppContext, account_ref=None) -> ERPConnection | None:
    """The account's ERP connection, or None when it has not connected one yet."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        return session.scalar(select(ERPConnection).where(ERPConnection.account_id == account.id))
