"""money explained, products created in the ERP: the explanation of each invoice attempt (where the
buyer's money went); remote writes that belong to no invoice (an ERP product created from an unmatched SKU)

Revision ID: 0012
Revises: 0007
Create Date: 2026-11-30 19:40:00

``invoice_attempts.explanation`` keeps, with the attempt, the explanation built from the same inputs
as the invoice that was sent (connector/money_explained.py); attempts made before have none (NULL)
and the order page then computes it with the settings of today, and says so.

``remote_writes.invoice_id`` becomes nullable: creating a product in the ERP is an exactly-once write
(connector/remote_writes.py) made before any invoice exists. Such a write is unique per
(kind, subject, generation) among writes without an invoice (a partial unique index; the subject names the
ERP connection and the SKU), so two clicks on "Crear" never create two products.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('invoice_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('explanation', sa.JSON(), nullable=True))
    with op.batch_alter_table('remote_writes', schema=None) as batch_op:
        batch_op.alter_column('invoice_id', existing_type=sa.Integer(), nullable=True)
    op.create_index('uq_remote_write_standalone', 'remote_writes', ['kind', 'subject', 'generation'], unique=True,
                    sqlite_where=sa.text('invoice_id IS NULL'), postgresql_where=sa.text('invoice_id IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_remote_write_standalone', table_name='remote_writes')
    op.execute("DELETE FROM remote_writes WHERE invoice_id IS NULL")
    with op.batch_alter_table('remote_writes', schema=None) as batch_op:
        batch_op.alter_column('invoice_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('invoice_attempts', schema=None) as batch_op:
        batch_op.drop_column('explanation')
