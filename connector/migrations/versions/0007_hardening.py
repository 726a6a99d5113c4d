"""hardening: one store per installation (unique channel_connections (kind, remote_account_id));
webhook deliveries keyed by what the signature covers, with the channel's own delivery id kept for
information and an index to prune old rows by age

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 17:10:00

Existing duplicates: when the same store is already connected in several accounts, the oldest
connection keeps it; every later one is **disabled** and its ``remote_account_id`` cleared (it can
be connected again only after the first account lets the store go). Nothing else is deleted.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, kind, remote_account_id FROM channel_connections "
        "WHERE remote_account_id IS NOT NULL ORDER BY id")).fetchall()
    seen: set[tuple[str, str]] = set()
    for row_id, kind, remote_account_id in rows:
        if (kind, remote_account_id) in seen:
            bind.execute(sa.text("UPDATE channel_connections SET enabled = :off, remote_account_id = NULL "
                                 "WHERE id = :id"), {"off": False, "id": row_id})
        seen.add((kind, remote_account_id))
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_channel_connection_store', ['kind', 'remote_account_id'])
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remote_delivery_id', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_webhook_deliveries_received_at', ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_received_at')
        batch_op.drop_column('remote_delivery_id')
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.drop_constraint('uq_channel_connection_store', type_='unique')
