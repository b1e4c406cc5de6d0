"""Ops pages without servers: supervisor only; they read the database, not Redis, and answer
clearly when the database fails them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot import db
from console.app import create_app
from console.models import create_user
from scripts import services


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    # a port nothing listens on: the tracker store is down
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test", "REDIS_PORT": services.free_port()})
    with db.session_scope(url) as session:
        create_user(session, "cora", "collector-pass-1", "collector")
        create_user(session, "sam", "supervisor-pass-1", "supervisor")
    yield app


def _login(client: FlaskClient, user: str, password: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token
    response = client.post("/login", data={"username": user, "password": password, "csrf_token": token.group(1)})
    assert response.status_code == 302


@pytest.mark.parametrize("path", ["/ops/", "/ops/review", "/ops/conversations", "/ops/charts/rates.svg"])
def test_only_supervisors(app: Flask, path: str) -> None:
    client = app.test_client()
    assert client.get(path).status_code == 302  # to the log-in page
    _login(client, "cora", "collector-pass-1")
    assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ops/", 200),
        ("/ops/review", 200),
        ("/ops/conversations", 200),
        ("/ops/charts/csat.svg", 200),
        ("/ops/conversations/x/story.yml", 404),
    ],
)
def test_ops_pages_answer_while_redis_is_down(app: Flask, path: str, status: int) -> None:
    """KPIs, the review queue and transcripts come from the analytics tables and the event log:
    the tracker store being down (the fixture's Redis port has nothing on it) does not matter."""
    client = app.test_client()
    _login(client, "sam", "supervisor-pass-1")
    assert client.get(path).status_code == status


@pytest.mark.parametrize(
    "path", ["/ops/", "/ops/review", "/ops/conversations", "/ops/charts/csat.svg", "/ops/conversations/x/story.yml"]
)
def test_a_database_failure_is_a_clear_503(app: Flask, path: str) -> None:
    client = app.test_client()
    _login(client, "sam", "supervisor-pass-1")
    with db.get_engine(app.config["DATABASE_URL"]).begin() as conn:  # the analytics tables are gone
        conn.exec_driver_sql("ALTER TABLE analytics_conversations RENAME TO analytics_conversations_away")
    response = client.get(path)
    assert response.status_code == 503 and "cannot be reached" in response.get_data(as_text=True)


def test_review_post_without_csrf_or_fields_changes_nothing(app: Flask) -> None:
    client = app.test_client()
    _login(client, "sam", "supervisor-pass-1")
    assert client.post("/ops/review", data={"key": "k", "text": "hi", "intent": "greet"}).status_code == 400
    assert client.get("/ops/charts/nope.svg").status_code == 404


def test_story_export_reads_back_with_object_entities(tmp_path: Path) -> None:
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    from bot.kpis import conversation_from_events
    from console.stories import export_test_story

    def user(t: float, text: str, intent: str, entities: list[dict[str, object]]) -> dict[str, object]:
        parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": entities, "text": text}
        return {"event": "user", "timestamp": t, "text": text, "parse_data": parse, "input_channel": "rest"}

    amount = {"entity": "amount", "start": 10, "end": 13, "value": {"amount": "200.00", "currency": "USD"}}
    date = {"entity": "date", "start": 17, "end": 23, "value": "2026-12-04"}
    events = [
        {"event": "action", "name": "action_session_start", "timestamp": 1.0},
        {"event": "session_started", "timestamp": 1.0},
        {"event": "slot", "name": "session_started_metadata", "value": {"channel": "rest"}, "timestamp": 1.0},
        {"event": "action", "name": "action_listen", "timestamp": 1.1},
        user(2.0, "I can pay 200 on friday", "promise_to_pay", [amount, date]),
        {"event": "action", "name": "ptp_form", "timestamp": 3.0},
        {"event": "active_loop", "name": "ptp_form", "timestamp": 3.0},
        {"event": "action", "name": "action_listen", "timestamp": 4.0},
    ]
    conversation = conversation_from_events("s", events)
    assert conversation is not None
    text = export_test_story(conversation, "conversation s #1")
    assert "session_started_metadata" not in text and '"amount"' not in text
    path = tmp_path / "story.yml"
    path.write_text(text)
    steps = YAMLStoryReader().read_from_file(str(path))
    found = [e for step in steps for e in step.events]
    users = [e for e in found if isinstance(e, UserUttered)]
    assert [u.text for u in users] == ["I can pay 200 on friday"] and users[0].intent_name == "promise_to_pay"
    assert [e.entities for e in users][0][0]["value"] == "2026-12-04"
    assert "ptp_form" in [e.action_name for e in found if isinstance(e, ActionExecuted)]


def test_story_export_keeps_the_debtors_words_when_entity_spans_overlap(tmp_path: Path) -> None:
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    from bot.kpis import conversation_from_events
    from console.stories import export_test_story

    text = "I can pay 100 on friday"
    entities: list[dict[str, object]] = [
        {"entity": "language", "start": 0, "end": 23, "value": "en", "extractor": "LanguageDetector"},
        {"entity": "amount", "start": 10, "end": 13, "value": {"amount": "100.00", "currency": "USD"}},
        {"entity": "time", "start": 10, "end": 23, "value": "2026-12-04T00:00:00"},  # the date is inside
        {"entity": "date", "start": 14, "end": 23, "value": "2026-12-04"},
        {"entity": "weekday", "start": 14, "end": 23, "value": "friday"},  # the date's very span
    ]
    parse = {"intent": {"name": "promise_to_pay", "confidence": 0.9}, "entities": entities, "text": text}
    events = [
        {"event": "action", "name": "action_session_start", "timestamp": 1.0},
        {"event": "session_started", "timestamp": 1.0},
        {"event": "action", "name": "action_listen", "timestamp": 1.1},
        {"event": "user", "timestamp": 2.0, "text": text, "parse_data": parse, "input_channel": "rest"},
        {"event": "action", "name": "action_listen", "timestamp": 3.0},
    ]
    conversation = conversation_from_events("s", events)
    assert conversation is not None
    path = tmp_path / "story.yml"
    path.write_text(export_test_story(conversation, "conversation s #1"))
    users = [
        e for step in YAMLStoryReader().read_from_file(str(path)) for e in step.events if isinstance(e, UserUttered)
    ]
    assert [u.text for u in users] == [text]
    found = sorted((e["entity"], e["start"], e["end"]) for e in users[0].entities)
    assert found == [("date", 14, 23), ("weekday", 14, 23)]


def _conversation_with_an_arrangement(url: str) -> tuple[str, int, int]:
    """A web chat conversation of the last hour in the event log: repeated messages NLU was unsure
    about, an identity answer, and an arrangement agreed (with its first payment as a PTP).
    Returns the sender id and the arrangement and promise ids."""
    from datetime import date, datetime, timedelta, timezone

    from bot import eventlog
    from tests.unit.bot.test_kpis import Events

    sender = "web-arrangement-1"
    e = Events(db.utcnow() - timedelta(hours=1)).session()
    e.user("hi", "greet").action("verification_form").slot("requested_slot", "second_factor").action("action_listen")
    e.user("oh its 80202 i think", "nlu_fallback", 0.2).action("verification_form")
    e._add({"event": "active_loop", "name": None}).slot("requested_slot", None)
    e.slot("account_id", "A-9001").slot("identity_verified", True).action("action_listen")
    for _ in range(3):
        e.user("wot abt the fees", "nlu_fallback", 0.3).action("utter_default").action("action_listen")
    e.user("can i pay monthly", "request_payment_plan").action("action_offer_plans").action("action_listen")
    e.user("option 2", "select_plan").action("action_select_plan").user("yes", "affirm")
    e.action("action_record_arrangement")
    made = datetime.fromtimestamp(e.t, tz=timezone.utc)
    e.slot("arrangement_id", "1").action("action_listen")
    with db.session_scope(url) as session:
        session.add(
            db.Debtor(id=1, full_name="T", date_of_birth=date(1980, 1, 1), phone_e164="+15550001", postcode="1")
        )
        session.flush()
        session.add(
            db.Account(
                id="A-9001", debtor_id=1, balance_minor=30000, currency="USD", days_past_due=40,
                jurisdiction="US-MA", time_zone="America/New_York", last_four="1234",
            )
        )  # fmt: skip
        arrangement = db.Arrangement(
            account_id="A-9001", kind="instalments", frequency="monthly", total_minor=30000, currency="USD",
            schedule='[{"due": "2027-01-04", "amount_minor": 15000}, {"due": "2027-02-04", "amount_minor": 15000}]',
            channel="webchat", conversation_id=sender, created_at=made,
        )  # fmt: skip
        promise = db.PromiseToPay(
            account_id="A-9001", amount_minor=15000, currency="USD", due_date=date(2027, 1, 4), channel="webchat",
            conversation_id=sender, created_at=made,
        )  # fmt: skip
        session.add_all([arrangement, promise])
        session.flush()
        ids = int(arrangement.id), int(promise.id)
        eventlog.append(session, sender, 0, e.events)
    return sender, *ids


def test_conversations_show_the_arrangement_agreed(app: Flask) -> None:
    sender, arrangement, promise = _conversation_with_an_arrangement(app.config["DATABASE_URL"])
    client = app.test_client()
    _login(client, "sam", "supervisor-pass-1")
    listed = client.get("/ops/conversations").get_data(as_text=True)
    row = re.search(rf"<tr>\s*<td>.*?{sender}.*?</tr>", listed, re.S)
    assert row, listed
    outcome = " ".join(re.sub(r"<[^>]+>", " ", row.group(0)).split())
    assert f"arrangement ARR-{arrangement}" in outcome and f"promise PTP-{promise}" in outcome and "RPC" in outcome
    page = client.get(f"/ops/conversations/{sender}").get_data(as_text=True)
    assert f"arrangement ARR-{arrangement}" in page and "arrangement_id = 1" in page


def test_review_queue_groups_identical_messages_and_hides_identity_answers(app: Flask) -> None:
    _conversation_with_an_arrangement(app.config["DATABASE_URL"])
    client = app.test_client()
    _login(client, "sam", "supervisor-pass-1")
    page = client.get("/ops/review").get_data(as_text=True)
    rows = re.findall(r'<tr class="review-row">(.*?)</tr>', page, re.S)
    texts = [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows]
    assert not any("80202" in t for t in texts), texts  # typed while the ZIP / last-four question was open
    fees = [t for t in texts if "wot abt the fees" in t]
    assert len(fees) == 1 and "× 3" in fees[0], texts
    row = next(r for r in rows if "wot abt the fees" in r)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', row)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', row)
    assert key and token
    done = client.post("/ops/review", data={"csrf_token": token.group(1), "key": key.group(1), "text": "x",
                                            "intent": "greet", "dismiss": "Dismiss"})  # fmt: skip
    assert done.status_code == 303
    flashed = client.get("/ops/review").get_data(as_text=True)
    assert "Dismissed (3 identical messages)." in flashed and "wot abt the fees" not in flashed
