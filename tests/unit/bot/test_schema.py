"""The versioned schema: migrations build exactly the tables the models describe, on SQLite and
PostgreSQL; a database made before migrations is upgraded in place; on PostgreSQL the bot's role
may only add to and read the audit log."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot import analytics, db, nlu_review, schema  # noqa: F401  (their tables join the metadata)
from bot.compliance import audit
from console import models  # noqa: F401  (console_users)
from tests.conftest import Postgres


def _differences(url: str) -> list[object]:
    with db.get_engine(url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, db.Base.metadata) if not _ignorable(d)]


def _ignorable(diff: object) -> bool:
    # Alembic's own bookkeeping table is not a model
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


def test_models_and_migrations_agree(database: str) -> None:
    """Fails when a model gains a table, column or index that no migration creates (or the other
    way round): write the migration (``alembic revision --autogenerate``) with the model."""
    assert _differences(database) == []
    with db.get_engine(database).connect() as conn:
        assert schema.current_revision(conn) == schema.head_revision()


def test_a_database_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    """What create_all made before migrations existed (no apr_bps column yet, a channel written
    under its Rasa name, no nlu_reviews table): upgraded on first use, data kept."""
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    old = sa.MetaData()
    for table in db.Base.metadata.sorted_tables:
        if table.name in ("debtors", "accounts", "opt_outs", "contact_log", "audit_log"):
            table.to_metadata(old)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE accounts DROP COLUMN apr_bps")
        conn.exec_driver_sql(
            "INSERT INTO debtors (id, full_name, date_of_birth, phone_e164, postcode) VALUES (1, 'Old Debtor', '1980-01-01', '+16175550100', '02139')"
        )
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, debtor_id, product, balance_minor, currency, days_past_due, jurisdiction, "
            "time_zone, last_four) VALUES ('A-1', 1, 'personal_loan', 1000, 'USD', 30, 'US-MA', 'America/New_York', '1234')"
        )
        conn.exec_driver_sql(
            "INSERT INTO opt_outs (address, channel, at) VALUES ('+16175550100', 'twilio_sms', '2026-01-01 00:00:00')"
        )
    engine.dispose()
    url = f"sqlite:///{path}"
    assert _differences(url) == []
    with db.session_scope(url) as session:
        assert session.get(db.Account, "A-1").apr_bps == 0
        assert [o.channel for o in session.query(db.OptOut)] == ["sms"]
        audit.record(session, actor="gate", action="outbound_sms", outcome="allow")
    with pytest.raises(Exception, match="append-only"), db.session_scope(url) as session:
        session.execute(sa.text("DELETE FROM audit_log"))


def test_the_audit_log_is_insert_and_select_only_for_the_bots_role(postgres_server: Postgres) -> None:
    """On PostgreSQL the bot connects as a role granted by ``bot.cli db grant``: it records and
    reads audit entries and works on the other tables, but may not change or delete an audit
    entry, and may not migrate a database that is behind (the owner does)."""
    owner_url = postgres_server.fresh_database()
    database = owner_url.rsplit("/", 1)[1]
    role, password = f"bot_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    postgres_server.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    schema.grant_app_role(db.get_engine(owner_url), role)
    bot_url = postgres_server.url(database, role, password)
    try:
        with db.session_scope(bot_url) as session:
            for n in range(3):
                audit.record(session, actor="gate", action="outbound_sms", outcome="allow", account_id=f"A-{n}")
            session.add(db.Debtor(full_name="X", date_of_birth=sa.func.current_date(), phone_e164="+1", postcode="1"))
        with db.session_scope(bot_url) as session:
            assert audit.verify_chain(session) is None
            session.execute(sa.update(db.Debtor).values(full_name="Y"))  # other tables: allowed
        for statement in ("UPDATE audit_log SET outcome = 'deny'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.session_scope(bot_url) as s:
                s.execute(sa.text(statement))
        # even the owner meets the trigger
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.session_scope(owner_url) as session:
            session.execute(sa.text("UPDATE audit_log SET outcome = 'deny'"))
        # a database behind the code: the bot's role may not upgrade it, and says who must
        with db.get_engine(owner_url).begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
            conn.exec_driver_sql(
                "DROP TABLE analytics_messages, analytics_handoff_reasons, analytics_conversations, events, phone_time_zones, "
                "validation_notices, phone_numbers"
            )
        db._engines.pop(bot_url).dispose()
        with pytest.raises(schema.SchemaError, match="bot.cli db upgrade"):
            db.get_engine(bot_url)
        db._engines.pop(bot_url, None)
        assert schema.upgrade(db.get_engine(owner_url)) == schema.head_revision()  # the owner may
        assert _differences(owner_url) == []
    finally:
        for url in (bot_url, owner_url):
            engine = db._engines.pop(url, None)
            if engine is not None:
                engine.dispose()
