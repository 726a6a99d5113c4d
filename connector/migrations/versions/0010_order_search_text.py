"""order search text: ``orders.search_text``, the order's searchable words folded (accents dropped,
case folded) so "narino" finds "Nariño" on SQLite and PostgreSQL alike (connector/order_search.py)

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-30 19:30:00

Existing orders are filled in from their stored canonical order (the folding is copied here, frozen,
so later changes to the application code do not change what this migration did).
"""
import json
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0007'
branch_labels = None
depends_on = None

BATCH = 500


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def _words(external_id: str, canonical) -> str:
    if isinstance(canonical, str):
        canonical = json.loads(canonical)
    canonical = canonical or {}
    buyer = canonical.get("buyer") or {}
    identification = buyer.get("identification") or {}
    words = [external_id, canonical.get("pack_id") or "", buyer.get("name") or "", buyer.get("email") or "",
             identification.get("number") or ""]
    for line in canonical.get("lines") or []:
        words += [line.get("sku") or "", line.get("title") or ""]
    return _fold(" ".join(str(w) for w in words if w))[:4000]


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.text("SELECT id, external_id, canonical FROM orders WHERE id > :last ORDER BY id "
                                    "LIMIT :batch"), {"last": last, "batch": BATCH}).fetchall()
        if not rows:
            break
        for row_id, external_id, canonical in rows:
            bind.execute(sa.text("UPDATE orders SET search_text = :text WHERE id = :id"),
                         {"text": _words(external_id, canonical), "id": row_id})
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('search_text')
