"""Compliance over the real channels (signed SMS and voice webhooks, REST, web chat, e-mail through
a local SMTP server, the local fake of Twilio), each test named with the rule it shows:

- holds belong to the account: reported in one conversation, they stop a promise or a plan in
  another conversation of the same account on another channel (15 U.S.C. 1692c(c), 1692g(b);
  11 U.S.C. 362; 12 CFR 1006.6(b)(2), 1006.38(d)(2); SI 2020/1311);
- disclosure timing: the business name and identity questions before RPC, the mini-Miranda first
  after it, "from a debt collector" in later conversations (15 U.S.C. 1692b; 12 CFR 1006.6(d),
  1006.18(e));
- a third party answering an outbound SMS or call learns nothing and may leave a message; a
  machine gets only the limited-content message (12 CFR 1006.2(j));
- STOP answered once, by Twilio's Advanced Opt-Out (12 CFR 1006.6(e));
- the handoff marker never reaches REST or web chat clients;
- the validation notice by e-mail with a working opt-out link (12 CFR 1006.34, 1006.6(e));
- no calls to a work number once the employer prohibits them (1006.6(b)(3));
- SCRA explained and flagged (50 U.S.C. 3937(b)); time-barred debt (12 CFR 1006.26(b)).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from bot import db
from bot.telephony import TwilioSender, TwilioSettings
from scripts import services
from tests.conftest import Bot
from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms
from tests.conversation.test_twilio_voice import NEXT_QUERY, call, says
from tests.conversation.test_webchat import ChatClient

GREETING = "Hello, this is Example Lending."
MINI_MIRANDA = "This is a debt collector. This is an attempt to collect a debt and any information obtained will be used for that purpose."
LATER = "This message is from a debt collector."
# what tells a third party that the contact is about a debt
DEBT_WORDS = re.compile(
    r"debt|owe|owing|balance|collect|payment|pay |overdue|past due|arrears|loan|\$|£|\d+\.\d\d", re.I
)


def _account(db_session: Any, account_id: str) -> db.Account:
    db_session.expire_all()
    return db_session.get(db.Account, account_id)


def _dob(account: db.Account) -> str:
    return account.debtor.date_of_birth.strftime("%B %d %Y")


def _promises(db_session: Any, account_id: str) -> int:
    db_session.expire_all()
    return int(
        db_session.execute(
            select(func.count()).select_from(db.PromiseToPay).where(db.PromiseToPay.account_id == account_id)
        ).scalar_one()
        + db_session.execute(
            select(func.count()).select_from(db.Arrangement).where(db.Arrangement.account_id == account_id)
        ).scalar_one()
    )


def _events(db_session: Any, account_id: str) -> list[str]:
    db_session.expire_all()
    return [
        str(r.event)
        for r in db_session.execute(
            select(db.ContactLog).where(db.ContactLog.account_id == account_id).order_by(db.ContactLog.id)
        ).scalars()
    ]


def _sms_turns(bot: Bot, phone: str, texts: list[str]) -> list[list[str]]:
    """Each text as a signed inbound SMS; the replies the bot sent through Twilio to each."""
    out = []
    for text in texts:
        before = len(fake(bot, "/fake/messages"))
        assert post_sms(bot, sms(phone, text)) == 200
        out.append([re.sub(r"\s*Reply STOP to opt out\.$", "", r) for r in replies_to(bot, phone, before)])
    return out


def _rest_turns(bot: Bot, sender: str, texts: list[str]) -> list[list[str]]:
    return [bot.say(sender, text) for text in texts]


def _voice_turns(bot: Bot, phone: str, texts: list[str]) -> list[list[str]]:
    """An inbound call from ``phone``: the call's opening, then each text as speech."""
    base = {"CallSid": f"CA{uuid.uuid4().hex}", "From": phone, "To": "+15559870000", "Direction": "inbound"}
    _, root, _ = call(bot, base)
    assert root is not None
    out = [[el.text or "" for el in root.iter("Say")]]
    for text in texts:
        _, root, _ = call(bot, {**base, "SpeechResult": text, "Confidence": "0.93"})
        assert root is not None
        out.append([el.text or "" for el in root.iter("Say")])
    return out


def _webchat_turns(bot: Bot, texts: list[str]) -> list[list[str]]:
    async def scenario() -> list[list[str]]:
        client = ChatClient(bot.base_url)
        session = await client.start()
        out = [await client.say(text, session["token"]) for text in texts]
        await client.sio.disconnect()
        return out

    return asyncio.run(scenario())


def _verify_by_reference(account: db.Account) -> list[str]:
    """What someone who is not texting from the account's phone says to verify."""
    return ["hi", str(account.id), _dob(account), str(account.debtor.postcode)]


def _flat(turns: list[list[str]]) -> str:
    return "\n".join(t for turn in turns for t in turn)


# -- holds belong to the account ---------------------------------------------------------------


@dataclass(frozen=True)
class HoldCase:
    hold: str
    account_id: str
    report: str  # channel of the report: sms, rest (the account's phone as sender), voice, cli
    words: str
    attempt: str  # channel of the attempt: rest (typed reference) or webchat
    tries: tuple[str, ...]
    reply: str  # what the hold's reply says
    citation: str


HOLDS = [
    HoldCase("bankruptcy", "A-5160", "rest", "i filed for bankruptcy", "webchat",
             ("I can pay 100 on friday", "yes"), "because of the bankruptcy", "11 U.S.C. 362(a)(6)"),
    HoldCase("dispute", "A-5162", "sms", "this isn't my debt", "rest",
             ("can I set up a payment plan", "1", "yes"), "paused while we look into your dispute", "12 CFR 1006.38(d)(2)"),
    HoldCase("attorney", "A-5165", "voice", "contact my lawyer", "rest",
             ("I can pay 100 on friday", "yes"), "an attorney represents you", "12 CFR 1006.6(b)(2)"),
    HoldCase("cease_contact", "A-5166", "sms", "stop contacting me", "webchat",
             ("can I set up a payment plan", "1", "yes"), "asked us to stop contacting you", "15 U.S.C. 1692c(c)"),
    HoldCase("deceased", "A-5167", "rest", "my husband passed away last month", "rest",
             ("I can pay 100 on friday", "yes"), "bereavement team", "12 CFR 1006.2(e)"),
    HoldCase("crisis", "A-5169", "sms", "i want to die", "rest",
             ("I can pay 100 on friday", "yes"), "not talk about payments now", "CONC 7.2.1R; UDAAP"),
    HoldCase("breathing_space", "A-5161", "cli", "", "rest",
             ("I can pay 50 on friday", "yes"), "Breathing Space", "SI 2020/1311 reg. 7"),
]  # fmt: skip


@pytest.mark.parametrize("case", HOLDS, ids=[f"{c.hold}-{c.report}-then-{c.attempt}" for c in HOLDS])
def test_a_hold_reported_in_one_conversation_stops_collection_in_another_channel(
    bot: Bot, db_session: Any, case: HoldCase
) -> None:
    account = _account(db_session, case.account_id)
    phone = str(account.debtor.phone_e164)
    if case.report == "cli":
        result = subprocess.run(
            [str(services.VENV_BIN / "python"), "-m", "bot.cli", "breathing-space", case.account_id,
             "--reference", "BS-TEST-0001", "--type", "standard"],
            cwd=services.ROOT, env=bot.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    else:
        turns = {"sms": _sms_turns, "voice": _voice_turns}.get(case.report)
        said = turns(bot, phone, [case.words]) if turns else _rest_turns(bot, phone, [case.words])
        # before verification the report is taken, and nothing tells a third party it is a debt
        assert not re.search(r"\bdebt\b|collection|balance", _flat(said[-1:]), re.I), said
    hold_event = {"crisis": "handoff_crisis"}.get(case.hold, case.hold)
    assert hold_event in _events(db_session, case.account_id), (case.hold, case.citation)
    before = _promises(db_session, case.account_id)

    texts = [*_verify_by_reference(account), *case.tries]
    if case.attempt == "webchat":
        replies = _webchat_turns(bot, texts)
    else:
        replies = _rest_turns(bot, f"other-{case.hold}-{uuid.uuid4().hex[:8]}", texts)
    verified = replies[3]
    assert any("confirmed" in r for r in verified), replies
    # no invitation to pay after verification, and the hold's reply to the promise or plan
    assert not any("tell me an amount" in r for r in verified), verified
    after = _flat(replies[4:])
    assert case.reply in after, (case.hold, case.citation, replies)
    assert "recorded (reference PTP" not in after and "ARR-" not in after
    assert _promises(db_session, case.account_id) == before, f"{case.hold}: nothing may be recorded ({case.citation})"


def test_a_hold_reported_after_verification_elsewhere_stops_a_promise_already_under_way(
    bot: Bot, db_session: Any
) -> None:
    """The trial that found the gap: the account verified in web chat, then a bankruptcy reported
    over REST, then "I can pay 100 on friday" and "yes" in the web chat (11 U.S.C. 362(a)(6))."""
    account = _account(db_session, "A-5163")  # UK: insolvency also stops collection (Insolvency Act s.285)

    async def scenario() -> list[list[str]]:
        client = ChatClient(bot.base_url)
        token = (await client.start())["token"]
        out = [await client.say(t, token) for t in _verify_by_reference(account)]
        out.append(await client.say("I can pay 100 on friday", token))
        bot.say(str(account.debtor.phone_e164), "i filed for bankruptcy")  # REST, the account's phone
        out.append(await client.say("yes", token))
        await client.sio.disconnect()
        return out

    replies = asyncio.run(scenario())
    assert any("confirm" in r.lower() for r in replies[4]), replies  # the read-back
    assert "because of the bankruptcy" in _flat(replies[5:]), replies
    assert _promises(db_session, "A-5163") == 0


# -- disclosure timing ---------------------------------------------------------------------------


def test_disclosure_timing_over_every_channel_1692b_1006_6_d_1006_18_e(bot: Bot, db_session: Any) -> None:
    """A-5171's first conversation (SMS), then later conversations in web chat and on a call."""
    account = _account(db_session, "A-5171")
    phone = str(account.debtor.phone_e164)
    first = _sms_turns(bot, phone, ["hi", _dob(account), str(account.debtor.postcode), "whats my balance"])
    assert first[0][0].startswith(GREETING), first  # 15 U.S.C. 1692b(1): the business name only
    assert not DEBT_WORDS.search(_flat(first[:2])), first
    assert first[2][0].startswith(MINI_MIRANDA), first  # 1006.18(e)(1): first thing once verified
    assert "$" in _flat(first[3:])
    later_chat = _webchat_turns(bot, [*_verify_by_reference(account), "whats my balance"])
    assert later_chat[0][0] == GREETING and not DEBT_WORDS.search(_flat(later_chat[:3]))
    assert later_chat[3][0] == LATER, later_chat  # 1006.18(e)(2): a later conversation
    later_call = _voice_turns(bot, phone, [_dob(account), str(account.debtor.postcode)])
    assert later_call[0][0] == GREETING and not DEBT_WORDS.search(_flat(later_call[:2])), later_call
    assert later_call[2][0] == LATER, later_call
    events = _events(db_session, "A-5171")
    assert events.count("disclosure_first") == 1 and events.count("disclosure_later") == 2


# -- third parties and machines ----------------------------------------------------------------


def _open_outreach(bot: Bot, account_id: str, phone: str) -> list[str]:
    """An outreach SMS opened in Rasa (the real opener), as scripts/outreach.py sends it."""
    from bot.outreach.campaigns import RasaOpener

    return RasaOpener(bot.base_url, bot.env["RASA_API_TOKEN"]).open(phone, account_id, "collection")


THIRD_PARTIES = [
    ("A-5174", ["who is this?", "how much does he owe?"]),
    ("A-5175", ["wrong number", "tell him to call his bank"]),
    ("A-5176", ["I'm his wife, what is this about?", "please call him after 6"]),
    ("A-5178", ["is this about a debt?", "what company is this", "he's not home"]),
    ("A-5179", ["she doesn't live here", "ok"]),
]


@pytest.mark.parametrize(("account_id", "words"), THIRD_PARTIES, ids=[a for a, _ in THIRD_PARTIES])
def test_a_third_party_answering_an_outbound_sms_learns_nothing_1692b(
    bot: Bot, db_session: Any, account_id: str, words: list[str]
) -> None:
    account = _account(db_session, account_id)
    phone = str(account.debtor.phone_e164)
    opening = _open_outreach(bot, account_id, phone)
    replies = [opening, *_sms_turns(bot, phone, words)]
    text = _flat(replies)
    assert opening[0] == GREETING and not DEBT_WORDS.search(text), replies
    if "third_party_message" in _events(db_session, account_id):
        assert "pass your message on" in text


@pytest.mark.parametrize(
    ("account_id", "words"),
    [
        ("A-5181", ["wrong number", "tell her I called"]),
        ("A-5183", ["I'm his brother, he's not here", "tell him his brother called"]),
    ],
)
def test_a_person_answering_an_outbound_call_learns_nothing_and_may_leave_a_message_1692b(
    bot: Bot, db_session: Any, account_id: str, words: list[str]
) -> None:
    account = _account(db_session, account_id)
    phone = str(account.debtor.phone_e164)
    fake(bot, "/fake/answer", {"to": phone, "answered_by": "human"})
    sender = TwilioSender(TwilioSettings.from_env(bot.env))
    sid = sender.call(phone)
    record = _call_record(bot, sid)
    root = ElementTree.fromstring(record["twiml"])
    gather = root.find("Gather")
    assert record["answered_by"] == "human" and gather is not None
    assert says(root).startswith(GREETING)  # a person hears the business name and the identity questions
    NEXT_QUERY[sid] = urllib.parse.urlsplit(gather.get("action") or "").query  # where Twilio posts the answer
    base = {"CallSid": sid, "From": bot.env["TWILIO_NUMBER"], "To": phone, "Direction": "outbound-api"}
    spoken = [says(root)]
    for text in words:
        _, root, _ = call(bot, {**base, "SpeechResult": text, "Confidence": "0.92"})
        assert root is not None
        spoken.append(says(root))
    assert not DEBT_WORDS.search(" ".join(spoken)), spoken
    assert "leave a message" in spoken[1] and "pass your message on" in spoken[2], spoken
    events = _events(db_session, account_id)
    assert "call_answered" in events and "wrong_party" in events and "third_party_message" in events


def _call_record(bot: Bot, sid: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in fake(bot, "/fake/calls"):
            if record["sid"] == sid and record.get("twiml"):
                return dict(record)
        time.sleep(0.2)
    raise AssertionError(f"call {sid} was never answered")


def test_a_machine_answered_call_gets_only_the_limited_content_message_1006_2_j(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5185")
    phone = str(account.debtor.phone_e164)
    fake(bot, "/fake/answer", {"to": phone, "answered_by": "machine_end_beep"})
    sid = TwilioSender(TwilioSettings.from_env(bot.env)).call(phone)
    record = _call_record(bot, sid)
    assert record["machine_detection"] == "DetectMessageEnd" and record["answered_by"] == "machine_end_beep"
    root = ElementTree.fromstring(record["twiml"])
    # exactly: business name (not suggesting debt collection), a request to reply, a person to ask
    # for and a phone number (12 CFR 1006.2(j)(1)); nothing else, then the call ends
    assert [el.tag for el in root] == ["Say", "Hangup"]
    assert says(root) == (
        "Hello, this is Alex Morgan from Example Lending. Please call us back at 1-800-555-0199 and ask for Alex Morgan."
    )
    assert "voicemail_limited_content" in _events(db_session, "A-5185")
    assert "call_answered" not in _events(db_session, "A-5185")


# -- STOP, START and HELP as Twilio's Advanced Opt-Out answers them ------------------------------


def test_stop_gets_one_confirmation_from_twilio_and_start_lifts_it_1006_6_e(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5187")
    phone = str(account.debtor.phone_e164)
    base = f"http://127.0.0.1:{bot.env['FAKE_TWILIO_PORT']}"

    def inbound(body: str) -> dict[str, Any]:
        req = urllib.request.Request(
            f"{base}/fake/inbound",
            data=json.dumps({"from": phone, "body": body}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(json.loads(resp.read()))

    before = len(fake(bot, "/fake/messages"))
    answer = inbound("STOP")
    assert answer["webhook_status"] == 200 and "unsubscribed" in answer["auto_reply"]
    time.sleep(3)
    to_them = [m for m in fake(bot, "/fake/messages")[before:] if m["to"] == phone]
    assert [m.get("auto_reply") for m in to_them] == [True], to_them  # exactly one confirmation
    db_session.expire_all()
    assert db_session.execute(select(db.OptOut).where(db.OptOut.address == phone)).scalars().first() is not None
    inbound("hello?")  # after STOP: nothing goes out
    time.sleep(3)
    assert len([m for m in fake(bot, "/fake/messages")[before:] if m["to"] == phone]) == 1
    inbound("START")
    time.sleep(2)
    assert db_session.execute(select(db.OptOut).where(db.OptOut.address == phone)).scalars().first() is None


# -- nothing internal reaches a debtor ---------------------------------------------------------


def test_the_handoff_marker_never_reaches_rest_or_webchat(bot: Bot) -> None:
    status, body = bot.post(
        "/webhooks/rest/webhook", {"sender": f"marker-{uuid.uuid4().hex[:8]}", "message": "I want to speak to a person"}
    )
    assert status == 200 and body and all("custom" not in m for m in body), body
    assert any("speak with a person" in m.get("text", "") for m in body)

    async def scenario() -> list[dict[str, Any]]:
        client = ChatClient(bot.base_url)
        token = (await client.start())["token"]
        await client.say("I want to speak to a person", token)
        await client.sio.disconnect()
        return client.received

    received = asyncio.run(scenario())
    assert received and all("handoff" not in m for m in received), received


# -- e-mail: the validation notice through SMTP with a working opt-out link --------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=services.free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


def _cli(bot: Bot, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(services.VENV_BIN / "python"), "-m", "bot.cli", *args],
        cwd=services.ROOT,
        env={**bot.env, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_validation_notice_goes_by_email_and_its_opt_out_link_works_1006_34_1006_6_e(
    bot: Bot, db_session: Any, smtp_server: tuple[int, _Inbox]
) -> None:
    port, inbox = smtp_server
    sent = _cli(bot, "notice", "A-1001", SMTP_PORT=str(port))
    assert sent.returncode == 0 and "email to jordan.avery@example.com, sent" in sent.stdout, sent.stdout + sent.stderr
    [message] = inbox.messages
    body = message.get_body(("plain",)).get_content()
    assert MINI_MIRANDA in body and "dispute all or part of the debt" in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "validation-notice-A-1001.pdf"
    link = message["List-Unsubscribe"].strip("<>")
    assert link in body
    local = bot.base_url + link[len(bot.env["PUBLIC_URL"]) :]  # the link reaches the bot's e-mail channel
    with urllib.request.urlopen(local, timeout=30) as resp:
        page = resp.read().decode()
    assert "receive e-mails from us at jordan.avery@example.com any more" in page
    gate = _cli(bot, "gate", "A-1001", "--channel", "email")
    assert gate.stdout.startswith("deny") and "hold_opt_out" in gate.stdout, gate.stdout
    db_session.expire_all()
    email_opt_outs = (
        db_session.execute(select(db.OptOut).where(db.OptOut.address == "jordan.avery@example.com")).scalars().all()
    )
    assert [(o.channel, o.account_id) for o in email_opt_outs] == [("email", "A-1001")]  # the ledger has it
    forged = bot.base_url + "/webhooks/email/unsubscribe?t=someone%40example.com%7CA-1001%7Cforged"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=30)
    assert refused.value.code == 400


# -- work numbers, SCRA and time-barred debt through conversations -----------------------------


def test_stop_calling_me_at_work_is_recorded_and_obeyed_1006_6_b_3(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5164")
    work = "+16175550192"
    db_session.add(db.PhoneNumber(debtor_id=account.debtor_id, e164=work, kind="work"))
    db_session.commit()
    assert _cli(
        bot, "gate", "A-5164", "--channel", "voice", "--phone", work, "--at", "2026-12-02T16:00:00+00:00"
    ).stdout.startswith("allow")
    replies = _sms_turns(
        bot, str(account.debtor.phone_e164), ["please stop calling me at work, my boss doesn't allow it"]
    )
    assert "won't call or text you at work" in _flat(replies), replies
    assert "work_contact_prohibited" in _events(db_session, "A-5164")
    at_work = _cli(bot, "gate", "A-5164", "--channel", "voice", "--phone", work, "--at", "2026-12-02T16:00:00+00:00")
    assert at_work.stdout.startswith("deny") and "hold_work_contact" in at_work.stdout, at_work.stdout
    mobile = _cli(bot, "gate", "A-5164", "--channel", "voice", "--at", "2026-12-02T16:00:00+00:00")
    assert not mobile.stdout.startswith("deny"), mobile.stdout


def test_a_servicemember_gets_the_scra_cap_explained_and_the_account_flagged_50_usc_3937_b(
    bot: Bot, db_session: Any
) -> None:
    account = _account(db_session, "A-5190")
    replies = _rest_turns(
        bot,
        str(account.debtor.phone_e164),
        ["hi", _dob(account), str(account.debtor.postcode), "im deployed overseas with the army until march and cant manage payments from here"],
    )  # fmt: skip
    text = _flat(replies[3:])
    assert "6% a year" in text and "copy of your military orders" in text, replies
    assert "scra_requested" in _events(db_session, "A-5190")
    done = _cli(bot, "scra-documents", "A-5190")
    assert done.returncode == 0 and _events(db_session, "A-5190")[-1] == "scra_documents_received"


@pytest.mark.parametrize(
    ("account_id", "recorded", "says"),
    [
        ("A-1005", False, "Because of the age of this debt"),  # Florida: a payment could revive it
        ("A-1004", True, "recorded (reference PTP"),  # New York: a payment does not revive it
    ],
)
def test_time_barred_debt_is_never_revived_by_an_offer_1006_26_b(
    bot: Bot, db_session: Any, account_id: str, recorded: bool, says: str
) -> None:
    account = _account(db_session, account_id)
    before = _promises(db_session, account_id)
    replies = _rest_turns(
        bot,
        f"tb-{account_id}-{uuid.uuid4().hex[:6]}",
        [*_verify_by_reference(account), "I can pay 100 on friday", "yes"],
    )
    text = _flat(replies[4:])
    assert says in text, replies
    assert not re.search(r"\bsue|lawsuit|court|legal action", _flat(replies), re.I)
    assert (_promises(db_session, account_id) > before) is recorded
