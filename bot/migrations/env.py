"""Alembic environment: migrations run on the connection ``bot.schema`` hands over, or on
``DATABASE_URL`` when run with the ``alembic`` command (``alembic.ini`` at the project root)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot import analytics, db, nlu_review  # noqa: F401  (their tables join db.Base.metadata)

target_metadata = db.Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(db.database_url(), future=True)
    with engine.connect() as opened:
        _run(opened)
        opened.commit()
