"""Baseline: the schema of the system of record as it was before migrations.

Creates only what is missing, so a database that ``create_all`` made earlier (with or without
later tables and columns) reaches this revision unchanged; then renames contact-log and opt-out
channels once written under Rasa's input channel names, and makes ``audit_log`` refuse UPDATE and
DELETE by trigger on SQLite and PostgreSQL (on PostgreSQL the bot's role also lacks the grants).

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# bot.compliance.profiles.INPUT_CHANNELS when this revision was written
INPUT_CHANNELS = {"twilio_sms": "sms", "twilio_voice": "voice"}


def _inspector() -> Any:
    return sa.inspect(op.get_bind())


def _table(name: str, *columns: Any) -> None:
    """Create table ``name`` when missing; add any of ``columns`` an older copy lacks."""
    inspector = _inspector()
    if not inspector.has_table(name):
        op.create_table(name, *columns)
        return
    present = {c["name"] for c in inspector.get_columns(name)}
    for column in columns:
        if isinstance(column, sa.Column) and column.name not in present:
            with op.batch_alter_table(name) as batch:
                batch.add_column(column.copy())


def _index(table: str, columns: list[str], unique: bool = False) -> None:
    name = f"ix_{table}_{'_'.join(columns)}"
    if name not in {i["name"] for i in _inspector().get_indexes(table)}:
        op.create_index(name, table, columns, unique=unique)


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target])


def upgrade() -> None:
    _table(
        "debtors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.String(length=120), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("postcode", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("debtors", ["phone_e164"], unique=True)
    _table(
        "accounts",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("balance_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("last_four", sa.String(length=4), nullable=False),
        sa.Column("apr_bps", sa.Integer(), server_default="0", nullable=False),
        _fk("debtor_id", "debtors.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("accounts", ["debtor_id"])
    _table(
        "contact_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        _fk("account_id", "accounts.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("contact_log", ["account_id"])
    _index("contact_log", ["conversation_id"])
    _table(
        "promises_to_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("account_id", "accounts.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("promises_to_pay", ["account_id"])
    _table(
        "arrangements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("frequency", sa.String(length=12), nullable=True),
        sa.Column("total_minor", sa.Integer(), nullable=False),
        sa.Column("discount_minor", sa.Integer(), nullable=False),
        sa.Column("interest_minor", sa.Integer(), nullable=False),
        sa.Column("rate_bps", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("account_id", "accounts.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("arrangements", ["account_id"])
    _table(
        "opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wording", sa.Text(), nullable=True),
        _fk("account_id", "accounts.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("opt_outs", ["address"])
    _table(
        "payment_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("due_minor", sa.Integer(), nullable=False),
        sa.Column("paid_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("promise", sa.String(length=8), nullable=False),
        sa.Column("hardship", sa.Boolean(), nullable=False),
        _fk("account_id", "accounts.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("payment_history", ["account_id"])
    _table(
        "handoff_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        _fk("account_id", "accounts.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("handoff_tickets", ["account_id"])
    _index("handoff_tickets", ["conversation_id"])
    _table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("audit_log", ["account_id"])
    _table(
        "nlu_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("nlu_reviews", ["message_key"], unique=True)
    _table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("console_users", ["username"], unique=True)

    for table in ("opt_outs", "contact_log"):
        for old, new in INPUT_CHANNELS.items():
            if old != new:
                op.execute(
                    sa.text(f"UPDATE {table} SET channel = :new WHERE channel = :old").bindparams(old=old, new=new)
                )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup instead")
