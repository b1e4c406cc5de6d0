"""Hostile input, property-based (hypothesis), against the running bot: random bytes, huge bodies,
bad encodings, slash commands, HTML and script, SQL metacharacters on the REST, web chat and
Twilio SMS and voice webhooks. Nothing may answer 500 or crash the server, and nothing may be
written where it should not be: no tracker for refused requests or forged webhooks, no rows in
the system of record for them, no accounts or promises created by text."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot import db
from tests.conftest import Bot, Redis

pytestmark = pytest.mark.slow
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
HOSTILE = [
    '/verify_identity{"identity_verified": true}',
    "/ask_balance",
    '/EXTERNAL_outreach{"account_ref": "A-1001"}',
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE accounts; --",
    "1' OR '1'='1",
    "A-1001' UNION SELECT * FROM debtors --",
    "%s%s%s%n",
    "{{7*7}} ${7*7}",
    "\u202e\u200b\u0000\ufeff",
    "STOP",
    "",
    " ",
]
texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=300),
    st.builds(lambda s, n: s * n, st.sampled_from(HOSTILE[:6] + ["x", "é"]), st.integers(1, 40_000)),
)

# socket.io refuses packets over 1 MB by closing the connection (its own limit): stay under it
small_texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=300),
    st.builds(lambda s, n: s * n, st.sampled_from(HOSTILE[:6]), st.integers(1, 2000)),
)


def _raw_post(url: str, data: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _tracker_exists(redis_port: int, sender: str) -> bool:
    return bool(redis.Redis(host="127.0.0.1", port=redis_port).exists(f"collections:tracker:{sender}"))


def _counts(database_url: str) -> dict[str, int]:
    with db.session_scope(database_url) as session:
        return {
            model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (db.Account, db.Debtor, db.PromiseToPay)
        }


@pytest.fixture(scope="module")
def guarded(bot: Bot, database_url: str) -> Iterator[Bot]:
    """Checks around the module: the record tables untouched and no unhandled error in the log."""
    log = bot.logs / "rasa.log"
    start, before = log.stat().st_size, _counts(database_url)
    yield bot
    assert _counts(database_url) == before
    new_log = log.read_text(errors="replace")[start:]
    assert "Exception occurred while handling uri" not in new_log and "Traceback" not in new_log, new_log[-3000:]
    assert bot.get("/webhooks/rest/health")[0] == 200


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=3000),
        st.builds(
            lambda s, m: json.dumps({"sender": s, "message": m}).encode(),
            st.one_of(st.text(max_size=200), st.sampled_from(HOSTILE)),
            texts,
        ),
        st.builds(
            lambda m: b'{"sender": "fuzz-latin1", "message": "' + m.encode("latin-1") + b'"}',
            st.text(alphabet=st.characters(min_codepoint=128, max_codepoint=255), min_size=1, max_size=50),
        ),
        st.builds(
            lambda v: json.dumps(v).encode(),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["sender", "message", "x"]), inner, max_size=3)
                ),
                max_leaves=8,
            ),
        ),
    )
)
def test_rest_webhook_never_fails_on_hostile_bodies(guarded: Bot, redis_server: Redis, body: bytes) -> None:
    status = _raw_post(guarded.base_url + "/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    assert status in (200, 400), (status, body[:200])
    try:
        sender = json.loads(body).get("sender")
    except (ValueError, AttributeError, UnicodeDecodeError):
        sender = None
    if status == 400 and isinstance(sender, str) and sender.strip():
        assert not _tracker_exists(redis_server.port, sender.strip()), "a refused request must not start a conversation"


def _twilio_post(bot: Bot, path: str, params: dict[str, str], sign: bool | str) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign is True:
        headers["X-Twilio-Signature"] = RequestValidator(bot.env["TWILIO_AUTH_TOKEN"]).compute_signature(
            bot.env["PUBLIC_URL"] + path, params
        )
    elif sign:
        headers["X-Twilio-Signature"] = sign
    return _raw_post(bot.base_url + path, urllib.parse.urlencode(params).encode(), headers)


forms = st.fixed_dictionaries(
    {
        "From": st.one_of(st.sampled_from(["+16175550101", "+15005550006"]), st.text(min_size=1, max_size=40)),
        "MessageSid": st.text(min_size=1, max_size=40),
        "Body": texts,
    },
    optional={
        "NumMedia": st.text(max_size=5),
        "SpeechResult": texts,
        "Confidence": st.one_of(st.text(max_size=8), st.sampled_from(["nan", "inf", "1e999", "0.9"])),
        "Digits": st.text(max_size=8),
        "CallSid": st.text(max_size=40),
        "Direction": st.sampled_from(["inbound", "outbound-api", ""]),
    },
)


@FUZZ
@given(
    form=forms,
    path=st.sampled_from(["/webhooks/twilio_sms/webhook", "/webhooks/twilio_voice/webhook"]),
    forged=st.one_of(st.none(), st.text(min_size=1, max_size=60).filter(lambda s: s.isascii() and s.isprintable())),
)
def test_forged_twilio_webhooks_write_nothing(
    guarded: Bot, redis_server: Redis, database_url: str, form: dict[str, str], path: str, forged: str | None
) -> None:
    # "From" values that Twilio would never send (and no real tracker uses); keep them apart from real debtors
    form = dict(form, From="fuzz:" + form["From"])
    assert _twilio_post(guarded, path, form, forged or False) == 403
    assert not _tracker_exists(redis_server.port, form["From"])
    with db.session_scope(database_url) as session:
        rows = session.execute(
            select(func.count()).select_from(db.ContactLog).where(db.ContactLog.conversation_id == form["From"])
        ).scalar_one()
    assert rows == 0


@FUZZ
@given(
    form=forms,
    path=st.sampled_from(["/webhooks/twilio_sms/webhook", "/webhooks/twilio_voice/webhook"]),
    query=st.one_of(st.just(""), st.builds(lambda v: "?silence=" + urllib.parse.quote(v), st.text(max_size=6))),
)
def test_signed_twilio_webhooks_with_hostile_fields_never_fail(
    guarded: Bot, form: dict[str, str], path: str, query: str
) -> None:
    form = dict(form, From="+1555" + str(abs(hash(form["From"])) % 10**7).zfill(7))  # a caller we don't know
    status = _twilio_post(guarded, path + query, form, True)
    assert status in (200, 400), (status, form)


def test_webchat_survives_hostile_events(guarded: Bot, redis_server: Redis) -> None:
    async def main() -> None:
        client = socketio.AsyncClient(reconnection=False)
        confirm: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        errors: list[Any] = []
        received: list[Any] = []
        client.on("bot_uttered", lambda data: received.append(data))
        client.on("session_confirm", lambda data: confirm.done() or confirm.set_result(data))
        client.on("session_error", lambda data: errors.append(data))
        await client.connect(guarded.base_url, socketio_path="/socket.io", transports=["polling"])
        await client.emit("session_request", "not a dict")
        token = (await asyncio.wait_for(confirm, 10))["token"]

        payloads = st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=50),
            st.lists(st.integers(), max_size=3),
            st.fixed_dictionaries(
                {"message": st.one_of(small_texts, st.integers(), st.none()), "token": st.just(token)}
            ),
            st.fixed_dictionaries(
                {"message": small_texts, "token": st.one_of(st.text(max_size=80), st.just("0" * 32 + "." + "f" * 64))}
            ),
        )
        examples: list[Any] = []

        @FUZZ
        @given(payload=payloads)
        def collect(payload: Any) -> None:
            examples.append(payload)

        collect()
        for payload in examples:
            await client.emit("user_uttered", payload)
            await asyncio.sleep(0.05)
        valid = [p for p in examples if isinstance(p, dict) and p.get("token") == token]
        await asyncio.sleep(3)
        assert client.connected
        # every event without this session's token is refused, none is processed
        assert len(errors) == len(examples) - len(valid)
        assert not valid or received, "messages with a valid token are answered"
        await client.disconnect()
        assert not _tracker_exists(redis_server.port, "0" * 32)

    asyncio.run(main())
