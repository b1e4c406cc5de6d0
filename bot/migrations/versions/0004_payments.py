"""Payments: payment links (a payment provider's checkout page for one amount), the provider's
webhook events stored once by id, and when the debtor consented to texts. Tables and columns an
older database already has (made before migrations existed) are left alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _has_table(table: str) -> bool:
    return bool(sa.inspect(op.get_bind()).has_table(table))


def upgrade() -> None:
    if not _has_table("payment_events"):
        op.create_table(
            "payment_events",
            sa.Column("id", sa.String(length=255), nullable=False),
            sa.Column("provider", sa.String(length=16), nullable=False),
            sa.Column("type", sa.String(length=64), nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("outcome", sa.String(length=32), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if not _has_table("payment_links"):
        op.create_table(
            "payment_links",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("account_id", sa.String(length=16), nullable=False),
            sa.Column("provider", sa.String(length=16), nullable=False),
            sa.Column("provider_session_id", sa.String(length=255), nullable=False),
            sa.Column("url", sa.Text(), nullable=False),
            sa.Column("amount_minor", sa.Integer(), nullable=False),
            sa.Column("currency", sa.String(length=3), nullable=False),
            sa.Column("purpose", sa.String(length=16), nullable=False),
            sa.Column("promise_id", sa.Integer(), nullable=True),
            sa.Column("status", sa.String(length=12), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("conversation_id", sa.String(length=128), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
            sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
            sa.ForeignKeyConstraint(["promise_id"], ["promises_to_pay.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("payment_links", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_payment_links_account_id"), ["account_id"], unique=False)
            batch_op.create_index(
                batch_op.f("ix_payment_links_provider_session_id"), ["provider_session_id"], unique=True
            )
    if "sms_consent_at" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("debtors")}:
        with op.batch_alter_table("debtors", schema=None) as batch_op:
            batch_op.add_column(sa.Column("sms_consent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_column("sms_consent_at")
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_links_provider_session_id"))
        batch_op.drop_index(batch_op.f("ix_payment_links_account_id"))
    op.drop_table("payment_links")
    op.drop_table("payment_events")
