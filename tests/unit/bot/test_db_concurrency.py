"""SQLite under concurrent writers: an outreach run while the Rasa server writes (delivery
statuses, inbound SMS) must not end in "database is locked", and an inbound SMS whose database
write fails is processed when Twilio redelivers it."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import db
from bot.outreach.campaigns import run
from bot.verification import sender_phone

NOW = datetime(2026, 11, 30, 21, 0, tzinfo=timezone.utc)  # inside US contact windows


def test_sqlite_engines_use_wal_and_a_busy_timeout(portfolio_database: str) -> None:
    with db.get_engine(portfolio_database).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar()) >= 5000


def _status_write(url: str, phone: str, sid: str) -> None:
    """What the SMS channel's status webhook does: find the account, append a contact-log row."""
    with db.session_scope(url) as session:
        account = db.find_account(session, phone_e164=sender_phone(phone))
        db.log_contact(
            session,
            account_id=str(account.id) if account else None,
            channel="sms",
            direction="outbound",
            event="sms_status",
            conversation_id=phone,
            detail=f"{sid} delivered",
        )


class RasaServerStandIn:
    """One worker thread, as the Rasa server's event loop runs its synchronous database calls:
    a delivery-status callback queued behind an SMS must finish before the next trigger_intent
    is answered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = ThreadPoolExecutor(max_workers=1)
        self.pending: list[Future[None]] = []
        self.sids = 0

    def sms(self, to: str, body: str) -> str:
        """The fake Twilio accepts the SMS and calls the status webhook back a moment later."""
        self.sids += 1
        sid = f"SM{self.sids:032d}"

        def callback() -> None:
            time.sleep(0.02)
            _status_write(self.url, to, sid)

        self.pending.append(self.loop.submit(callback))
        return sid

    def call(self, to: str) -> str:
        return "CA0"

    def open(self, phone: str, account_ref: str, reason: str) -> list[str]:
        """trigger_intent: the action reads the account (and may log) on the server's side."""

        def trigger() -> None:
            with db.session_scope(self.url) as session:
                session.get(db.Account, account_ref)
                db.log_contact(
                    session, account_id=account_ref, channel="sms", direction="outbound", event="outreach_opened"
                )

        self.loop.submit(trigger).result(timeout=30)
        return ["This is a debt collector.", "Please confirm your date of birth."]


def test_outreach_run_with_concurrent_writers_never_locks(portfolio_database: str) -> None:
    with db.session_scope(portfolio_database) as session:
        ids = list(session.execute(select(db.Account.id).order_by(db.Account.id)).scalars())[:25]
    server = RasaServerStandIn(portfolio_database)
    stop = threading.Event()
    writer_errors: list[BaseException] = []
    written = 0

    def other_writer() -> None:  # e.g. an inbound SMS being logged, the CLI recording a payment
        nonlocal written
        while not stop.is_set():
            try:
                with db.session_scope(portfolio_database) as session:
                    db.log_contact(session, account_id=None, channel="sms", direction="inbound", event="sms_received")
                written += 1
            except BaseException as exc:  # noqa: BLE001  (any failure is the finding)
                writer_errors.append(exc)
            time.sleep(0.005)

    writer = threading.Thread(target=other_writer)
    writer.start()
    started = time.monotonic()
    try:
        with db.session_scope(portfolio_database) as session:
            result = run(session, NOW, server, server, ids, progress=False)
    finally:
        stop.set()
        writer.join()
    elapsed = time.monotonic() - started
    status_errors = [f.exception(timeout=30) for f in server.pending]
    server.loop.shutdown()

    sent = sum(result.sent.values())
    assert sent >= 5, result.deferred  # the run really sent and so really raced the callbacks
    assert not [e for e in status_errors if e is not None]
    assert not writer_errors
    assert written > 0
    with db.session_scope(portfolio_database) as session:
        statuses = session.execute(select(db.ContactLog).where(db.ContactLog.event == "sms_status")).scalars().all()
    assert len(statuses) == server.sids  # no delivery status lost
    # a wait on the busy timeout (5 s) would show here; the run itself takes well under a second
    assert elapsed < 5, f"{elapsed:.1f} s for {len(ids)} accounts"


@pytest.fixture
def red(redis_server: Any) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=redis_server.port)


def _channel() -> Any:
    from channels.twilio_common import TwilioSettings
    from channels.twilio_sms import TwilioSmsInput

    settings = TwilioSettings("AC0", "token", "+15559870000", "http://127.0.0.1:5005", "http://127.0.0.1:1", True)
    return TwilioSmsInput(settings)


def test_an_sms_whose_logging_fails_is_processed_on_redelivery(
    portfolio_database: str, red: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = _channel()
    passed_on: list[str] = []

    async def process(_app: Any, _on_new: Any, message: Any, _phone: str) -> None:
        passed_on.append(message.text)

    channel._process = process
    real_log: Callable[..., Any] = db.log_contact
    failures = [OperationalError("INSERT INTO contact_log", {}, Exception("database is locked"))]

    def flaky_log(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_log(*args, **kwargs)

    monkeypatch.setattr(db, "log_contact", flaky_log)
    sid = f"SM{uuid.uuid4().hex}"
    form = {"From": "+16175550101", "MessageSid": sid, "Body": "I can pay 50 on friday", "NumMedia": "0"}

    async def deliver() -> Any:
        answer = await channel.handle_message(None, None, red, form)
        await asyncio.sleep(0)  # let the spawned processing run
        return answer

    with pytest.raises(OperationalError):  # Sanic answers 500: Twilio redelivers
        asyncio.run(deliver())
    assert red.get(f"collections:twilio:sms:{sid}") is None  # not recorded as seen
    assert passed_on == []

    assert asyncio.run(deliver()).status == 200  # the redelivery is processed
    assert passed_on == ["I can pay 50 on friday"]
    assert asyncio.run(deliver()).status == 200  # and a further redelivery is a duplicate
    assert passed_on == ["I can pay 50 on friday"]
    with db.session_scope(portfolio_database) as session:
        rows = session.execute(select(db.ContactLog).where(db.ContactLog.detail.like(f"{sid} %"))).scalars().all()
    assert [r.event for r in rows] == ["sms_received"]


def test_opt_outs_stored_under_an_input_channel_name_are_renamed(tmp_path: Any) -> None:
    """Written before contact_channel(), in a database from before migrations: the SMS channel
    asks the ledger about "sms" only, so the baseline migration renames them when this version
    first opens the database (once: the code writes contact channels since)."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.MetaData()
    for table in db.Base.metadata.sorted_tables:
        if table.name in ("debtors", "accounts", "opt_outs", "contact_log"):
            table.to_metadata(old)
    engine = sa.create_engine(url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            old.tables["opt_outs"].insert().values(address="+16175550199", channel="twilio_sms", at=db.utcnow())
        )
        conn.execute(
            old.tables["contact_log"]
            .insert()
            .values(channel="twilio_voice", direction="inbound", event="opt_out", at=db.utcnow())
        )
    engine.dispose()
    with db.session_scope(url) as session:
        assert session.query(db.OptOut).filter_by(address="+16175550199").one().channel == "sms"
        assert {c.channel for c in session.query(db.ContactLog).filter_by(event="opt_out")} == {"voice"}
