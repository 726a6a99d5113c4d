"""money explained: the explanation of each invoice attempt (where the buyer's money went)

Revision ID: 0012
Revises: 0007
Create Date: 2026-11-30 19:40:00

``invoice_attempts.explanation`` keeps, with the attempt, the explanation built from the same inputs
as the invoice that was sent (connector/money_explained.py); attempts made before have none (NULL)
and the order page then computes it with the settings of today, and says so.
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


def downgrade() -> None:
    with op.batch_alter_table('invoice_attempts', schema=None) as batch_op:
        batch_op.drop_column('explanation')
