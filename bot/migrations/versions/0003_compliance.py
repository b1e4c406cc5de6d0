"""Compliance: typed phone numbers, validation notices, the itemization and e-mail columns of
accounts and debtors, the debtor's language and the kind of number a contact went to. Columns an
older database already has (added before migrations existed) are left alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def _add(table: str, column: sa.Column) -> None:  # type: ignore[type-arg]
    if column.name not in _columns(table):
        op.add_column(table, column)


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["debtor_id"],
            ["debtors.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_numbers_debtor_id"), ["debtor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_phone_numbers_e164"), ["e164"], unique=False)

    op.create_table(
        "validation_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("itemization_date", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("to_address", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("validation_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_validation_notices_account_id"), ["account_id"], unique=False)

    _add("accounts", sa.Column("creditor", sa.String(length=120), nullable=True))
    _add("accounts", sa.Column("itemization_date", sa.Date(), nullable=True))
    _add("accounts", sa.Column("itemization_balance_minor", sa.Integer(), nullable=True))
    _add("accounts", sa.Column("interest_since_minor", sa.Integer(), server_default="0", nullable=False))
    _add("accounts", sa.Column("fees_since_minor", sa.Integer(), server_default="0", nullable=False))
    _add("accounts", sa.Column("credits_since_minor", sa.Integer(), server_default="0", nullable=False))
    _add("accounts", sa.Column("default_date", sa.Date(), nullable=True))
    _add("accounts", sa.Column("last_payment_date", sa.Date(), nullable=True))

    _add("contact_log", sa.Column("phone_kind", sa.String(length=8), nullable=True))

    _add("debtors", sa.Column("language", sa.String(length=8), nullable=True))
    _add("debtors", sa.Column("mailing_address", sa.Text(), nullable=True))
    _add("debtors", sa.Column("email", sa.String(length=254), nullable=True))
    _add("debtors", sa.Column("email_source", sa.String(length=32), nullable=True))
    _add("debtors", sa.Column("esign_consent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_column("esign_consent_at")
        batch_op.drop_column("email_source")
        batch_op.drop_column("email")
        batch_op.drop_column("mailing_address")
        batch_op.drop_column("language")

    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_column("phone_kind")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("last_payment_date")
        batch_op.drop_column("default_date")
        batch_op.drop_column("credits_since_minor")
        batch_op.drop_column("fees_since_minor")
        batch_op.drop_column("interest_since_minor")
        batch_op.drop_column("itemization_balance_minor")
        batch_op.drop_column("itemization_date")
        batch_op.drop_column("creditor")

    with op.batch_alter_table("validation_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_notices_account_id"))

    op.drop_table("validation_notices")
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_numbers_e164"))
        batch_op.drop_index(batch_op.f("ix_phone_numbers_debtor_id"))

    op.drop_table("phone_numbers")
