"""invoice attempts remember the newest ERP invoice already recorded when the attempt was made, so an
ambiguous outcome is settled from the ERP's newest page (an adapter whose ids grow proves absence by
reaching that invoice) instead of a scan of three days

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('invoice_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erp_id_before', sa.String(length=60), nullable=True))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_erp_connection_id_id', ['erp_connection_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_erp_connection_id_id')
    with op.batch_alter_table('invoice_attempts', schema=None) as batch_op:
        batch_op.drop_column('erp_id_before')
