"""Analytics: what one turn leaves open for the next (the last debtor intent, the form question
asked), so a clarification question about a message not understood counts as a fallback turn and a
message answering an identity question stays out of the review queue; and the debtor messages
understood in each conversation (an idle conversation is not contained). Rows projected before keep
NULL; ``python -m bot.cli rebuild-analytics`` recounts them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "analytics_conversations"


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(TABLE)}
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for name in ("last_intent", "open_question"):
            if name not in have:
                batch_op.add_column(sa.Column(name, sa.String(length=64), nullable=True))
        if "understood" not in have:
            batch_op.add_column(sa.Column("understood", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column("understood")
        batch_op.drop_column("open_question")
        batch_op.drop_column("last_intent")
