"""stock from the ERP to the channels: per channel connection settings, status and run lease; the
listings each channel publishes matched to ERP items (stock_listings); ERP items whose stock changed
and waits to be published (stock_pending_items); stock writes are remote_writes of a channel connection
(invoice_id and order_id become optional)

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-30 19:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


STANDALONE = "invoice_id IS NULL AND channel_connection_id IS NULL"


def upgrade() -> None:
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stock_settings', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('stock_status', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('stock_claim_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('stock_claimed_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('remote_writes', schema=None) as batch_op:
        batch_op.alter_column('invoice_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('order_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('channel_connection_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_remote_writes_channel_connection', 'channel_connections',
                                    ['channel_connection_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index('ix_remote_writes_channel_connection_id', ['channel_connection_id'], unique=False)
        batch_op.create_unique_constraint('uq_remote_write_channel',
                                          ['channel_connection_id', 'kind', 'subject', 'generation'])
    # A product created in the ERP (0012) is unique per subject among writes of no invoice; a channel's
    # writes are unique per channel connection instead, so they leave that index.
    op.drop_index('uq_remote_write_standalone', table_name='remote_writes')
    op.create_index('uq_remote_write_standalone', 'remote_writes', ['kind', 'subject', 'generation'], unique=True,
                    sqlite_where=sa.text(STANDALONE), postgresql_where=sa.text(STANDALONE))
    op.create_table(
        'stock_listings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel_connection_id', sa.Integer(), nullable=False),
        sa.Column('listing_id', sa.String(length=200), nullable=False),
        sa.Column('sku', sa.String(length=200), nullable=True),
        sa.Column('title', sa.String(length=500), nullable=False),
        sa.Column('variation_id', sa.String(length=100), nullable=True),
        sa.Column('variation_attributes', sa.JSON(), nullable=False),
        sa.Column('handle', sa.JSON(), nullable=False),
        sa.Column('erp_item_id', sa.String(length=60), nullable=True),
        sa.Column('erp_item_name', sa.String(length=300), nullable=True),
        sa.Column('match_source', sa.String(length=20), nullable=False),
        sa.Column('channel_quantity', sa.Integer(), nullable=True),
        sa.Column('channel_price', sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column('erp_quantity', sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column('desired_quantity', sa.Integer(), nullable=True),
        sa.Column('desired_price', sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column('problem', sa.Text(), nullable=False),
        sa.Column('last_pushed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['channel_connection_id'], ['channel_connections.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel_connection_id', 'listing_id', name='uq_stock_listing'),
    )
    op.create_index('ix_stock_listings_item', 'stock_listings', ['channel_connection_id', 'erp_item_id'])
    op.create_table(
        'stock_pending_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('erp_connection_id', sa.Integer(), nullable=False),
        sa.Column('erp_item_id', sa.String(length=60), nullable=False),
        sa.Column('reason', sa.String(length=100), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['erp_connection_id'], ['erp_connections.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('erp_connection_id', 'erp_item_id', name='uq_stock_pending_item'),
    )


def downgrade() -> None:
    op.drop_table('stock_pending_items')
    op.drop_index('ix_stock_listings_item', table_name='stock_listings')
    op.drop_table('stock_listings')
    op.execute("DELETE FROM remote_writes WHERE channel_connection_id IS NOT NULL")
    op.drop_index('uq_remote_write_standalone', table_name='remote_writes')
    op.create_index('uq_remote_write_standalone', 'remote_writes', ['kind', 'subject', 'generation'], unique=True,
                    sqlite_where=sa.text('invoice_id IS NULL'), postgresql_where=sa.text('invoice_id IS NULL'))
    with op.batch_alter_table('remote_writes', schema=None) as batch_op:
        batch_op.drop_constraint('uq_remote_write_channel', type_='unique')
        batch_op.drop_index('ix_remote_writes_channel_connection_id')
        batch_op.drop_constraint('fk_remote_writes_channel_connection', type_='foreignkey')
        batch_op.drop_column('channel_connection_id')
        batch_op.alter_column('order_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.drop_column('stock_claimed_until')
        batch_op.drop_column('stock_claim_token')
        batch_op.drop_column('stock_status')
        batch_op.drop_column('stock_settings')
