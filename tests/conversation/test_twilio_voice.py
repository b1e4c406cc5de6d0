"""The Twilio Voice channel: TwiML that always keeps the line open, speech and DTMF, reprompts,
a polite close after silence, and a <Dial> transfer on handoff."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
import uuid
from typing import Any
from xml.etree import ElementTree

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot import db
from tests.conftest import Bot
from tests.conversation.helpers import disclosure_due

PATH = "/webhooks/twilio_voice/webhook"


NEXT_QUERY: dict[str, str] = {}  # CallSid → query of the <Gather> action the last TwiML gave


def call(
    bot: Bot, params: dict[str, str], query: str | None = None, sign: bool = True
) -> tuple[int, ElementTree.Element | None, float]:
    """POST a voice webhook as Twilio does. Without ``query``, it goes to the action URL of the
    call's last <Gather> (as Twilio follows it), so each input is its own turn."""
    if query is None:
        query = NEXT_QUERY.get(params.get("CallSid", ""), "")
    public = bot.env["PUBLIC_URL"] + PATH + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = RequestValidator(bot.env["TWILIO_AUTH_TOKEN"]).compute_signature(public, params)
    url = bot.base_url + PATH + (f"?{query}" if query else "")
    req = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            root = ElementTree.fromstring(resp.read())
            gather = root.find("Gather")
            if gather is not None and params.get("CallSid"):
                NEXT_QUERY[params["CallSid"]] = urllib.parse.urlsplit(gather.get("action") or "").query
            return resp.status, root, time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, None, time.monotonic() - started


def says(root: ElementTree.Element) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


def verified_call_said_goodbye(bot: Bot, account: db.Account) -> tuple[dict[str, str], ElementTree.Element]:
    """An inbound call from ``account``'s phone: verified by speech, then "goodbye". Returns the
    call's base parameters and the TwiML of the goodbye (which asks the CSAT question)."""
    base = {
        "CallSid": f"CA{uuid.uuid4().hex}",
        "From": account.debtor.phone_e164,
        "To": "+15559870000",
        "Direction": "inbound",
    }
    call(bot, base)
    for spoken in [account.debtor.date_of_birth.strftime("%B %d %Y"), account.debtor.postcode]:
        _, root, _ = call(bot, {**base, "SpeechResult": spoken, "Confidence": "0.93"})
    assert root is not None and "confirmed" in says(root)
    _, root, _ = call(bot, {**base, "SpeechResult": "ok thanks goodbye", "Confidence": "0.93"})
    assert root is not None and "Goodbye" in says(root)
    return base, root


def _redirect_query(root: ElementTree.Element | None) -> str:
    redirect = root.find("Redirect") if root is not None else None
    assert redirect is not None and redirect.text
    return urllib.parse.urlsplit(redirect.text).query


def test_voice_call_flow(bot: Bot, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5015")).scalar_one()
    phone = account.debtor.phone_e164
    sid = f"CA{uuid.uuid4().hex}"
    base = {"CallSid": sid, "From": phone, "To": "+15559870000", "Direction": "inbound"}

    assert call(bot, base, sign=False)[0] == 403

    status, root, first_latency = call(bot, base)
    assert status == 200 and root is not None
    gather = root.find("Gather")
    assert (
        gather is not None
        and gather.get("input") == "speech dtmf"
        and gather.get("language") == "en-US"
        and gather.get("hints")
    )
    # the business name and the identity question only, before right-party contact (12 CFR 1006.6(d))
    assert says(root).startswith("Hello, this is Example Lending.") and "2 to speak to a person" in says(root)
    assert "debt" not in says(root).lower()
    assert root.find("Redirect") is not None, "no input must not hang up"

    _, root, _ = call(bot, {**base, "SpeechResult": "mumble mumble", "Confidence": "0.2"})
    assert "didn't catch that" in says(root) and root.find("Gather") is not None

    # no input: Twilio follows the <Redirect>, which counts the silence
    _, root, _ = call(bot, base, query=_redirect_query(root))
    assert "still there" in says(root) and root.find("Hangup") is None
    _, root, _ = call(bot, base, query=_redirect_query(root))
    assert root.find("Hangup") is not None and "Goodbye" in says(root)

    dob = account.debtor.date_of_birth.strftime("%B %d %Y")
    _, root, _ = call(bot, {**base, "SpeechResult": dob, "Confidence": "0.93"})
    assert "postcode" in says(root) or "ZIP" in says(root)
    latencies = [first_latency]
    _, root, latency = call(bot, {**base, "Digits": "2"})
    latencies.append(latency)
    dial = root.find("Dial")
    assert dial is not None and dial.text == "+15550001111", ElementTree.tostring(root)
    print(f"voice webhook latency: first {latencies[0] * 1000:.0f} ms, handoff {latencies[1] * 1000:.0f} ms")
    assert max(latencies) < 15, "Twilio's webhook timeout is 15 s"


def test_outbound_call_is_keyed_by_the_debtor(bot: Bot, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5016")).scalar_one()
    phone = account.debtor.phone_e164
    params = {"CallSid": f"CA{uuid.uuid4().hex}", "From": "+15559870000", "To": phone, "Direction": "outbound-api"}
    status, root, _ = call(bot, params)
    assert status == 200 and root is not None
    # the tracker is the debtor's number, not the company's: the account is linked
    from tests.conversation.helpers import slot_values, tracker_events

    redis_port = int(bot.env["REDIS_PORT"])
    assert slot_values(tracker_events(redis_port, phone), "account_id") == ["A-5016"]


def test_a_call_after_an_sms_conversation_opens_afresh(bot: Bot, db_session: Any) -> None:
    """The new-user trial: the number's SMS conversation is waiting for a date of birth when the
    debtor calls. The call is a new communication: it opens with the business name and the
    identity questions (12 CFR 1006.6(d)), its opening is no form answer, the mini-Miranda comes
    once identity is confirmed (1006.18(e)(1)), and spoken wording never says "write"/"reply"."""
    from tests.conversation.helpers import tracker_events
    from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms

    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5042")).scalar_one()
    assert account.jurisdiction.startswith("US"), "month, day, year order for keyed digits"
    disclosure = disclosure_due(db_session, "A-5042")
    phone = account.debtor.phone_e164
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "hi")) == 200
    assert "date of birth" in " ".join(replies_to(bot, phone, before))

    base = {"CallSid": f"CA{uuid.uuid4().hex}", "From": phone, "To": "+15559870000", "Direction": "inbound"}
    status, root, _ = call(bot, base)
    assert status == 200 and root is not None
    spoken = says(root)
    assert spoken.startswith("Hello, this is Example Lending.") and "debt" not in spoken.lower()
    assert "couldn't read" not in spoken and "write it" not in spoken, spoken
    assert "date of birth" in spoken, "the call verifies the caller afresh"
    redis_port = int(bot.env["REDIS_PORT"])
    events = tracker_events(redis_port, phone)
    assert sum(e.get("event") == "session_started" for e in events) == 2, "the SMS session, then the call's"

    # keyed digits that cannot be a date get a clear spoken re-prompt
    _, root, _ = call(bot, {**base, "Digits": "1234#"})
    spoken = says(root)
    assert "say it like" in spoken and "key in" in spoken, spoken
    assert "write" not in spoken.lower() and "reply" not in spoken.lower()
    # eight keyed digits answer the date-of-birth question, a keyed ZIP the second one
    _, root, _ = call(bot, {**base, "Digits": account.debtor.date_of_birth.strftime("%m%d%Y") + "#"})
    assert "postcode" in says(root) or "ZIP" in says(root), says(root)
    _, root, _ = call(bot, {**base, "Digits": account.debtor.postcode + "#"})
    assert "that's confirmed" in says(root), says(root)
    assert says(root).startswith(disclosure), says(root)


def test_a_rating_keyed_after_the_csat_question_is_a_rating_not_the_menu(
    bot: Bot, db_session: Any, redis_server: Any
) -> None:
    """Keypad 3 is "stop these calls" in the menu; pressed to rate the call it was recorded as an
    opt-out, and 2 asked for a person."""
    from tests.conversation.helpers import slot_values, tracker_events

    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5055")).scalar_one()
    phone = account.debtor.phone_e164
    base, root = verified_call_said_goodbye(bot, account)
    assert "press it on your keypad" in says(root)
    _, root, _ = call(bot, {**base, "Digits": "3"})
    assert root is not None and "Thank you for your feedback" in says(root), says(root)
    assert slot_values(tracker_events(redis_server.port, phone), "csat_score") == [3.0]
    db_session.expire_all()
    assert db_session.execute(select(db.OptOut).where(db.OptOut.address == phone)).first() is None
    # afterwards the keypad is the menu again
    _, root, _ = call(bot, {**base, "Digits": "2"})
    assert root is not None and "Thank you for your feedback" not in says(root)


def test_the_same_words_twice_in_a_call_are_two_turns_but_a_retry_is_one(
    bot: Bot, db_session: Any, redis_server: Any
) -> None:
    """Requests were told apart by their words, so a caller saying the same thing again (a date of
    birth after "let's try again", "yes" to a second question) was answered "are you still
    there?" and not heard. A retried request is the same URL, so it is still not processed twice."""
    from tests.conversation.helpers import tracker_events

    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5057")).scalar_one()
    phone = account.debtor.phone_e164
    base = {"CallSid": f"CA{uuid.uuid4().hex}", "From": phone, "To": "+15559870000", "Direction": "inbound"}
    dob = {**base, "SpeechResult": account.debtor.date_of_birth.strftime("%B %d %Y"), "Confidence": "0.93"}
    call(bot, base)
    assert "ZIP" in says(call(bot, dob)[1])  # type: ignore[arg-type]
    assert "don't match" in says(call(bot, {**base, "SpeechResult": "60614", "Confidence": "0.93"})[1])  # type: ignore[arg-type]
    retried = NEXT_QUERY[base["CallSid"]]
    _, root, _ = call(bot, dob)
    assert root is not None and "ZIP" in says(root), says(root)

    users = [e for e in tracker_events(redis_server.port, phone) if e["event"] == "user"]
    _, root, _ = call(bot, dob, query=retried)  # Twilio retrying the request it just made
    assert root is not None and "still there" in says(root)
    assert [e for e in tracker_events(redis_server.port, phone) if e["event"] == "user"] == users
    _, root, _ = call(bot, {**base, "SpeechResult": account.debtor.postcode, "Confidence": "0.93"})
    assert root is not None and "confirmed" in says(root), says(root)
