"""The event broker into the event log: built from an ``event_broker`` section as Rasa builds it,
one turn's events in one transaction at their positions, Rasa's single-event publish appended
after them, and every event forwarded to a second broker (Rasa's own file broker here, as Kafka
or RabbitMQ would be in production)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from bot import db, eventlog
from stores.event_broker import SQLEventLog


def test_from_endpoints_config_with_a_forward_broker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    forwarded = tmp_path / "forwarded.log"
    config = EndpointConfig.from_dict(
        {"type": "stores.event_broker.SQLEventLog", "url": url, "forward": {"type": "file", "path": str(forwarded)}}
    )
    broker = asyncio.run(EventBroker.create(config))
    assert isinstance(broker, SQLEventLog) and broker.is_ready()
    turn = [
        {"event": "action", "name": "action_session_start", "timestamp": 1.0},
        {"event": "user", "text": "hi", "timestamp": 2.0, "parse_data": {"intent": {"name": "greet"}}},
    ]
    assert broker.publish_events("s", 0, turn) == 0
    broker.publish({"sender_id": "s", "event": "action", "name": "action_listen", "timestamp": 3.0})
    assert broker.stored_count("s") == 3
    assert broker.read("s") == [*turn, {"event": "action", "name": "action_listen", "timestamp": 3.0}]
    with db.session_scope(url) as session:
        assert eventlog.read(session, "s", 1, 2) == turn[1:]
    lines = [json.loads(line) for line in forwarded.read_text().splitlines()]
    assert [(e["sender_id"], e["event"]) for e in lines] == [("s", "action"), ("s", "user"), ("s", "action")]
    asyncio.run(broker.close())
    db._engines.pop(url).dispose()
