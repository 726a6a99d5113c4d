"""erp connection country: the ISO country of the ERP account, which picks its fiscal profile (code
lists, defaults, final consumer, time zone) without decrypting the credentials

Revision ID: 0013
Revises: 0007
Create Date: 2026-11-30 19:30:00

Existing rows stay NULL: the ERP's default country (Alegra's: Colombia, what every row meant until now).
Connecting again fills it in.
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('erp_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('erp_connections', schema=None) as batch_op:
        batch_op.drop_column('country')
