"""money explained, products created in the ERP, alerts: the explanation of each invoice attempt (where the
buyer's money went); remote writes that belong to no invoice (an ERP product created from an unmatched SKU)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 19:40:00

``invoice_attempts.explanation`` keeps, with the attempt, the explanation built from the same inputs
as the invoice that was sent (connector/money_explained.py); attempts made before have none (NULL)
and the order page then computes it with the settings of today, and says so.

``remote_writes.invoice_id`` becomes nullable: creating a product in the ERP is an exactly-once write
(connector/remote_writes.py) made before any invoice exists. Such a write is unique per
(kind, subject, generation) among writes without an invoice (a partial unique index; the subject names the
ERP connection and the SKU), so two clicks on "Crear" never create two products.

``alert_settings`` (SMTP server, encrypted password, recipients, the error queue's baseline) and
``alerts`` (what was raised, shown as a banner, and whether it was e-mailed: at most one per kind per hour).
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('invoice_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('explanation', sa.JSON(), nullable=True))
    with op.batch_alter_table('remote_writes', schema=None) as batch_op:
        batch_op.alter_column('invoice_id', existing_type=sa.Integer(), nullable=True)
    op.create_index('uq_remote_write_standalone', 'remote_writes', ['kind', 'subject', 'generation'], unique=True,
                    sqlite_where=sa.text('invoice_id IS NULL'), postgresql_where=sa.text('invoice_id IS NULL'))
    op.create_table(
        'alert_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('smtp_host', sa.String(length=255), nullable=False),
        sa.Column('smtp_port', sa.Integer(), nullable=False),
        sa.Column('smtp_user', sa.String(length=255), nullable=False),
        sa.Column('smtp_password_encrypted', sa.Text(), nullable=False),
        sa.Column('security', sa.String(length=10), nullable=False),
        sa.Column('from_address', sa.String(length=255), nullable=False),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('queue_growth_threshold', sa.Integer(), nullable=False),
        sa.Column('queue_baseline', sa.Integer(), nullable=True),
        sa.Column('last_checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id'),
    )
    op.create_table(
        'alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('email_state', sa.String(length=12), nullable=False),
        sa.Column('emailed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('email_error', sa.Text(), nullable=False),
        sa.Column('dismissed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_alerts_account_kind', 'alerts', ['account_id', 'kind', 'raised_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_alerts_account_kind', table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('alert_settings')
    op.drop_index('uq_remote_write_standalone', table_name='remote_writes')
    op.execute("DELETE FROM remote_writes WHERE invoice_id IS NULL")
    with op.batch_alter_table('remote_writes', schema=None) as batch_op:
        batch_op.alter_column('invoice_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('invoice_attempts', schema=None) as batch_op:
        batch_op.drop_column('explanation')
