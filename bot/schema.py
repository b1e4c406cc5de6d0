"""Versioned schema of the system of record: Alembic migrations in ``bot/migrations/versions``.

Every process brings its database to the newest revision when it first opens it
(:func:`upgrade`, called by ``bot.db.get_engine``), as ``create_all`` used to; processes that
start together wait for one another (a PostgreSQL advisory lock, or a lock file beside a SQLite
database). A database made before migrations existed is brought to the baseline by the baseline
itself, which creates only what is missing. Operators can also run ``python -m bot.cli db
upgrade`` (or ``alembic upgrade head`` with ``alembic.ini``) before starting a new version.

On PostgreSQL the bot should connect as a role that does not own the tables:
:func:`grant_app_role` gives it what it needs, and only INSERT and SELECT on ``audit_log``, so
the audit log is append-only by the database's own rules (12 CFR 1006.100 record retention).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# the one advisory lock key of schema upgrades (any 64-bit integer both sides agree on)
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"collections-agent schema").digest()[:8], "big", signed=True)
APPEND_ONLY_TABLES = ("audit_log",)


class SchemaError(RuntimeError):
    """The database cannot be brought to the code's schema; the message says what to run."""


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for ``bot/migrations`` (``connection`` handed to env.py)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision in ``bot/migrations/versions``."""
    head = ScriptDirectory.from_config(config()).get_current_head()
    if head is None:
        raise SchemaError("no migrations found in bot/migrations/versions")
    return str(head)


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding the schema lock: a PostgreSQL advisory lock, or an exclusive lock on
    ``<database>.schema-lock`` beside a SQLite file (an in-memory database needs none)."""
    lock_file = None
    database = engine.url.database or ""
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        lock_file = open(f"{database}.schema-lock", "a")  # noqa: SIM115 - held until the block ends
        fcntl.flock(lock_file, fcntl.LOCK_EX)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_KEY})")
                connection.commit()
            try:
                yield connection
            finally:
                if engine.dialect.name == "postgresql":
                    connection.rollback()
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
                    connection.commit()
    finally:
        if lock_file is not None:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
            lock_file.close()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the database to ``revision`` (default the newest) and return the revision it is at.

    Cheap when there is nothing to do (one read of ``alembic_version``). Raises
    :class:`SchemaError` when the connected role may not change the schema and the database is
    behind: the owner must run ``python -m bot.cli db upgrade`` first."""
    head = head_revision() if revision == "head" else revision
    with engine.connect() as probe:
        if current_revision(probe) == head:
            return head
    with _migration_lock(engine) as connection:
        if current_revision(connection) != head:
            try:
                command.upgrade(config(connection), revision)
                connection.commit()
            except Exception as exc:
                connection.rollback()
                if "permission denied" in str(exc).lower() or "must be owner" in str(exc).lower():
                    raise SchemaError(
                        f"the database is at revision {current_revision(connection)} and this code needs {head}, "
                        "but this role may not change the schema: run `python -m bot.cli db upgrade` "
                        "with the owner's DATABASE_URL"
                    ) from exc
                raise
        return str(current_revision(connection))


_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_app_role(engine: Engine, role: str) -> None:
    """Give the PostgreSQL ``role`` the bot runs as what it needs on the current schema, and on
    tables later migrations create: SELECT, INSERT, UPDATE, DELETE on every table except the
    append-only ones (:data:`APPEND_ONLY_TABLES`: INSERT and SELECT only), and the sequences.
    Run as the owner of the tables. Raises ValueError for a role name that is not a plain
    identifier and :class:`SchemaError` on a database that is not PostgreSQL."""
    if engine.dialect.name != "postgresql":
        raise SchemaError("roles are a PostgreSQL feature; SQLite refuses UPDATE and DELETE by trigger")
    if not _ROLE.match(role):
        raise ValueError(f"role {role!r}: use lower-case letters, digits and '_'")
    append_only = ", ".join(APPEND_ONLY_TABLES)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
