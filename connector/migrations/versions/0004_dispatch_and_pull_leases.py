"""orders.dispatched_at: one queue message per order (connector/dispatch.py); sync_cursors.leased_until:
one pull per channel connection at a time (connector/sync.py); erp_contacts claims: one creation per
contact (connector/contacts.py)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 08:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('erp_contacts', schema=None) as batch_op:
        batch_op.alter_column('erp_contact_id', existing_type=sa.String(length=60), nullable=True)
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_orders_dispatched_at', ['dispatched_at'], unique=False)
    with op.batch_alter_table('sync_cursors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leased_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM erp_contacts WHERE erp_contact_id IS NULL")
    with op.batch_alter_table('erp_contacts', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
        batch_op.alter_column('erp_contact_id', existing_type=sa.String(length=60), nullable=False)
    with op.batch_alter_table('sync_cursors', schema=None) as batch_op:
        batch_op.drop_column('leased_until')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_dispatched_at')
        batch_op.drop_column('dispatched_at')
