"""erp mirror: the ERP's webhook subscriptions (kept as remote writes), the changes it announced,
the secret of the webhook URL and the contacts import's cursor; erp_contacts learn the contact's name
and identification type so a buyer is found locally

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 19:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('erp_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mirror_secret_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('contacts_import_start', sa.Integer(), server_default='0', nullable=True))
        batch_op.add_column(sa.Column('contacts_imported_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('erp_contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identification_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('name', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('source', sa.String(length=20), server_default='', nullable=False))
        batch_op.create_index('ix_erp_contacts_erp_contact_id', ['erp_contact_id'], unique=False)
    op.create_table(
        'erp_webhook_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('erp_connection_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('remote_id', sa.String(length=60), nullable=True),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claim_token', sa.String(length=64), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('missing_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['erp_connection_id'], ['erp_connections.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('erp_connection_id', 'event'),
    )
    op.create_index('ix_erp_webhook_subscriptions_due', 'erp_webhook_subscriptions', ['state', 'next_attempt_at'])
    op.create_table(
        'erp_mirror_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('erp_connection_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.String(length=60), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(['erp_connection_id'], ['erp_connections.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_erp_mirror_events_pending', 'erp_mirror_events', ['erp_connection_id', 'processed_at'])
    op.create_index('ix_erp_mirror_events_received_at', 'erp_mirror_events', ['received_at'])


def downgrade() -> None:
    op.drop_index('ix_erp_mirror_events_received_at', table_name='erp_mirror_events')
    op.drop_index('ix_erp_mirror_events_pending', table_name='erp_mirror_events')
    op.drop_table('erp_mirror_events')
    op.drop_index('ix_erp_webhook_subscriptions_due', table_name='erp_webhook_subscriptions')
    op.drop_table('erp_webhook_subscriptions')
    with op.batch_alter_table('erp_contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_erp_contacts_erp_contact_id')
        batch_op.drop_column('source')
        batch_op.drop_column('name')
        batch_op.drop_column('identification_type')
    with op.batch_alter_table('erp_connections', schema=None) as batch_op:
        batch_op.drop_column('contacts_imported_at')
        batch_op.drop_column('contacts_import_start')
        batch_op.drop_column('mirror_secret_encrypted')
