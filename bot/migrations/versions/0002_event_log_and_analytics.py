"""Event log (``events``, written by Rasa's event broker), the analytics tables kept from it, and
the phone time-zone table outreach runs read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIG, nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("type_name", sa.String(length=32), nullable=True),
        sa.Column("timestamp", sa.Float(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_sender_id_position", "events", ["sender_id", "position"], unique=True)
    op.create_table(
        "analytics_conversations",
        sa.Column("id", BIG, nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("first_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("account_id", sa.String(length=16), nullable=True),
        sa.Column("user_events", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("rpc", sa.Boolean(), nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("plans_offered", sa.Boolean(), nullable=False),
        sa.Column("arrangement_accepted", sa.Boolean(), nullable=False),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("fallback_turn", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_analytics_conversations_sender_id_first_position",
        "analytics_conversations",
        ["sender_id", "first_position"],
        unique=True,
    )
    op.create_index(
        "ix_analytics_conversations_kpi",
        "analytics_conversations",
        [
            "started_at",
            "messages",
            "day",
            "channel",
            "account_id",
            "rpc",
            "handoff",
            "plans_offered",
            "arrangement_accepted",
            "opted_out",
            "fallbacks",
            "csat",
        ],
    )
    op.create_table(
        "analytics_handoff_reasons",
        sa.Column("id", BIG, nullable=False),
        sa.Column("conversation_id", BIG, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["analytics_conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_handoff_reasons_started_at", "analytics_handoff_reasons", ["started_at"])
    op.create_index(
        "ix_analytics_handoff_reasons_conversation_id_reason",
        "analytics_handoff_reasons",
        ["conversation_id", "reason"],
        unique=True,
    )
    op.create_table(
        "analytics_messages",
        sa.Column("id", BIG, nullable=False),
        sa.Column("conversation_id", BIG, nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("ranking", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["analytics_conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_messages_at", "analytics_messages", ["at"])
    op.create_index("ix_analytics_messages_conversation_id", "analytics_messages", ["conversation_id"])
    op.create_index("ix_analytics_messages_key", "analytics_messages", ["key"])
    op.create_table(
        "phone_time_zones",
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("zones", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("phone_e164"),
    )


def downgrade() -> None:
    for table in (
        "phone_time_zones",
        "analytics_messages",
        "analytics_handoff_reasons",
        "analytics_conversations",
        "events",
    ):
        op.drop_table(table)
