"""reason codes: an order's reason and each trail entry keep their Spanish template (the gettext
msgid) and its parameters next to the text, so the panel shows them in each reader's language

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 19:40:00

Rows written before keep their text and no code: they show as they are.
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state_reason_msgid', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('state_reason_params', sa.JSON(), nullable=True))
    with op.batch_alter_table('activity_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_msgid', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('message_params', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('activity_events', schema=None) as batch_op:
        batch_op.drop_column('message_params')
        batch_op.drop_column('message_msgid')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('state_reason_params')
        batch_op.drop_column('state_reason_msgid')
