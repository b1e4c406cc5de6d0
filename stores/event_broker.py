"""Rasa's SQL event broker, writing into the system of record's event log (``bot.eventlog``).

Configured in ``endpoints.yml``::

    event_broker:
      type: stores.event_broker.SQLEventLog
      # url: postgresql+psycopg2://...   (default: DATABASE_URL, as the rest of the bot)
      # forward: {type: kafka, ...}       (optional: also publish every event to another broker)

Differences from Rasa's ``SQLEventBroker``, whose table layout (``events``: id, sender_id, data)
it keeps: one transaction per turn instead of one per event, each event's position in its
conversation (so the tracker store can keep only the current session hot and read earlier ones
back, and no event is ever stored twice), the analytics tables updated in the same transaction,
and an optional ``forward`` broker (Kafka, RabbitMQ, or any Rasa broker config) that gets every
event after it is stored.
"""

from __future__ import annotations

import logging
from asyncio import AbstractEventLoop
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.orm import sessionmaker

from bot import db, eventlog

logger = logging.getLogger(__name__)


class SQLEventLog(SQLEventBroker):
    """Event broker into the ``events`` table of the system of record (``url``, default
    ``DATABASE_URL``), with ``forward``: another broker to publish to after each commit."""

    def __init__(self, url: str | None = None, forward: EventBroker | None = None) -> None:  # noqa: D107
        # not SQLEventBroker.__init__: it builds its own engine and table from dialect and host
        self.url = url or db.database_url()
        self.engine = db.get_engine(self.url)  # the schema is migrated there
        self.sessionmaker = sessionmaker(bind=self.engine, future=True)
        self.forward = forward

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: AbstractEventLoop | None = None
    ) -> SQLEventLog:
        """The broker of an ``event_broker`` section; ``url`` and ``forward`` are optional."""
        forward = None
        settings = dict(broker_config.kwargs)
        if settings.get("forward"):
            forward = await EventBroker.create(EndpointConfig.from_dict(settings["forward"]), event_loop)
        return cls(url=broker_config.url or None, forward=forward)

    def publish_events(self, sender_id: str, start: int, events: list[dict[str, Any]]) -> int:
        """Store the events of one save of ``sender_id``'s tracker at positions ``start``, … in
        one transaction (see :func:`bot.eventlog.append`), then forward them; returns how many
        stored events were replaced."""
        with db.session_scope(self.url) as session:
            replaced = eventlog.append(session, sender_id, start, events)
        if replaced:
            logger.warning("event log of %s: %d events after position %d replaced", sender_id, replaced, start)
        self._forward(sender_id, events)
        return replaced

    def publish(self, event: dict[str, Any]) -> None:
        """Rasa's single-event publish (``rasa export``): appended after the conversation's last event."""
        sender_id = str(event.get("sender_id") or "")
        body = {k: v for k, v in event.items() if k != "sender_id"}
        with db.session_scope(self.url) as session:
            eventlog.append(session, sender_id, eventlog.next_position(session, sender_id), [body])
        self._forward(sender_id, [body])

    def stored_count(self, sender_id: str) -> int:
        """How many events of ``sender_id`` the log holds."""
        with db.session_scope(self.url) as session:
            return eventlog.next_position(session, sender_id)

    def read(self, sender_id: str, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Stored events of ``sender_id`` at positions ``start`` <= p < ``stop``, in order."""
        with db.session_scope(self.url) as session:
            return eventlog.read(session, sender_id, start, stop)

    def _forward(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        if self.forward is None:
            return
        for event in events:
            self.forward.publish({"sender_id": sender_id, **event})

    def is_ready(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any database error means not ready
            return False

    async def close(self) -> None:
        """Close the forward broker; the engine is shared with the rest of the process."""
        if self.forward is not None:
            await self.forward.close()
