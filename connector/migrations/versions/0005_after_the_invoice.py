"""After the invoice: the e-invoice followed (invoices.legal_status, cufe, reasons, next_followup_at),
refunds as the channels report them, and the exactly-once writes that follow an invoice
(remote_writes: stamp, delivery, payment, credit note)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_status', sa.String(length=30), nullable=False,
                                      server_default='not_electronic'))
        batch_op.add_column(sa.Column('cufe', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('legal_reasons', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('legal_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('status_checks', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('pdf_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('next_followup_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('followup_dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_invoices_next_followup_at', ['next_followup_at'], unique=False)
    # Invoices stamped before this migration carry the ERP's word in stamp_status: follow them too.
    op.execute("UPDATE invoices SET legal_status = 'pending', next_followup_at = created_at "
               "WHERE stamp_status IS NOT NULL AND stamp_status <> ''")
    # The pull lease becomes a RowLease (take / renew-if-owner / release-if-owner): it needs its owner.
    with op.batch_alter_table('sync_cursors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_token', sa.String(length=64), nullable=True))
    op.create_table(
        'refunds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('external_id', sa.String(length=120), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('shipping', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('full', sa.Boolean(), nullable=False),
        sa.Column('restocked', sa.Boolean(), nullable=False),
        sa.Column('lines', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('note_type', sa.String(length=60), nullable=True),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('order_id', 'external_id', name='uq_refund_per_order'),
    )
    op.create_index('ix_refunds_order_id', 'refunds', ['order_id'], unique=False)
    op.create_index('ix_refunds_account_id', 'refunds', ['account_id'], unique=False)
    op.create_table(
        'remote_writes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('subject', sa.String(length=160), nullable=False, server_default=''),
        sa.Column('refund_id', sa.Integer(), nullable=True),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('via', sa.String(length=40), nullable=False),
        sa.Column('marker', sa.String(length=120), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claim_token', sa.String(length=64), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('invoice_id', 'kind', 'subject', 'generation', name='uq_remote_write'),
    )
    op.create_index('ix_remote_writes_refund_id', 'remote_writes', ['refund_id'], unique=False)
    op.create_index('ix_remote_writes_due', 'remote_writes', ['state', 'next_attempt_at'], unique=False)
    op.create_index('ix_remote_writes_invoice_id', 'remote_writes', ['invoice_id'], unique=False)
    op.create_index('ix_remote_writes_order_id', 'remote_writes', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_table('remote_writes')
    op.drop_table('refunds')
    with op.batch_alter_table('sync_cursors', schema=None) as batch_op:
        batch_op.drop_column('lease_token')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_next_followup_at')
        for column in ('followup_dispatched_at', 'next_followup_at', 'pdf_url', 'status_checks',
                       'legal_checked_at', 'legal_reasons', 'cufe', 'legal_status'):
            batch_op.drop_column(column)
