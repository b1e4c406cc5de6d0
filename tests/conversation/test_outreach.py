"""Outreach end to end: whole-portfolio runs against a fake Twilio of their own and a separate
database (the session database is shared by other conversation tests), and one outreach SMS
whose reply continues the conversation it opened (shared Rasa server; account A-5155)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone
from sqlalchemy import select

from bot import db
from bot.compliance.profiles import profile_for
from scripts import services
from tests.conftest import Bot
from tests.conversation.helpers import disclosure_due, slot_values, tracker_events
from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms

NINE_PM = datetime(2026, 11, 30, 21, 0, tzinfo=timezone.utc)


def _outreach(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "scripts.outreach", "--quiet", *args],
        cwd=services.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _messages(port: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/fake/messages", timeout=10) as resp:
        return list(json.loads(resp.read()))


def _zones(account: db.Account) -> list[str]:
    number = phonenumbers.parse(account.debtor.phone_e164, None)
    return [str(account.time_zone), *(z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown")]


def _deferred(output: str) -> dict[str, int]:
    return {code: int(n) for n, code in re.findall(r"^\s+(\d+)\s+(\w+)$", output, re.M)}


def test_portfolio_runs_keep_to_windows_and_caps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outreach.db'}"
    env = services.base_env(
        DATABASE_URL=url,
        FAKE_TWILIO_PORT=str(services.free_port()),
        RASA_PORT=str(services.free_port()),  # nothing listens: status callbacks go nowhere
        TWILIO_AUTH_TOKEN="outreach-test-token",
    )
    env["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{env['FAKE_TWILIO_PORT']}"
    subprocess.run([sys.executable, "-m", "bot.cli", "load-portfolio"], cwd=services.ROOT, env=env, check=True)
    twilio = services.start_fake_twilio(env, log=tmp_path / "fake_twilio.log")
    try:
        first_out = _outreach(env, "--no-open", "--at", NINE_PM.isoformat())
        first = _messages(env["FAKE_TWILIO_PORT"])
        second_out = _outreach(env, "--no-open", "--at", (NINE_PM + timedelta(minutes=30)).isoformat())
        second = _messages(env["FAKE_TWILIO_PORT"])
    finally:
        services.stop(twilio)

    with db.session_scope(url) as session:
        accounts = {a.debtor.phone_e164: a for a in session.execute(select(db.Account)).scalars()}
        assert first, first_out
        for message in first:
            account = accounts[message["to"]]
            window = profile_for(str(account.jurisdiction)).contact_window
            for zone in _zones(account):
                local = NINE_PM.astimezone(ZoneInfo(zone)).time()
                assert window.start <= local < window.end, (account.id, zone, local)
            # the business name and the identity question, nothing about a debt (12 CFR 1006.6(d))
            assert message["body"].startswith("Hello, this is Example Lending.") and "date of birth" in message["body"]
            assert "debt" not in message["body"].lower()
            assert message["body"].endswith("Reply STOP to opt out.")
        # 21:00 UTC is 21:00 in London and 05:00 in Shanghai: nobody there is contacted
        outside = [a for a in accounts.values() if str(a.jurisdiction) in ("UK", "CN")]
        assert not {a.debtor.phone_e164 for a in outside} & {m["to"] for m in first}
        first_rows = session.execute(
            select(db.ContactLog).where(db.ContactLog.event == "outreach_deferred", db.ContactLog.at == NINE_PM)
        ).scalars()
        why = {str(r.account_id): str(r.detail) for r in first_rows}
        for account in outside:  # each was deferred for the hour, or kept for a collector's first call
            assert re.search(r"outside_contact_window|collector_first_contact", why[str(account.id)]), account.id
        assert (
            _deferred(first_out)["outside_contact_window"]
            == sum("outside_contact_window" in d for d in why.values())
            >= len(outside) // 2
        )
        assert f"sent: {len(first)} (sms {len(first)})" in first_out

        # the second run the same evening sends nothing that breaks a cap (nor the cadence)
        assert len(second) == len(first), second[len(first) :]
        assert "sent: 0" in second_out and _deferred(second_out)["cadence_every_days"] == len(first)
        for phone, account in accounts.items():
            to_them = [m for m in second if m["to"] == phone]
            for cap in profile_for(str(account.jurisdiction)).frequency_caps:
                if "sms" in cap.channels:
                    assert len(to_them) <= cap.max, (account.id, cap.id)
        logged = session.execute(select(db.ContactLog.event, db.ContactLog.account_id)).all()
        assert sum(1 for e, _ in logged if e == "sms_sent") == len(first)
        assert sum(1 for e, _ in logged if e == "outreach_deferred") == 2 * len(accounts) - len(first)


def test_reply_to_an_outreach_sms_continues_that_conversation(bot: Bot, db_session: Any) -> None:
    account = db_session.get(db.Account, "A-5155")
    phone, dob = account.debtor.phone_e164, account.debtor.date_of_birth
    disclosure = disclosure_due(db_session, "A-5155")
    env = {
        **bot.env,
        "RASA_URL": bot.base_url,
        "RASA_API_TOKEN": bot.env["RASA_API_TOKEN"],
    }
    before = len(fake(bot, "/fake/messages"))
    at = datetime.now(timezone.utc).replace(hour=18, minute=0, second=0, microsecond=0)  # 13:00 in New York
    out = _outreach(env, "--account", "A-5155", "--at", at.isoformat())
    assert "sent: 1 (sms 1)" in out, out
    opening = [m["body"] for m in fake(bot, "/fake/messages")[before:] if m["to"] == phone]
    assert len(opening) >= 1
    text = " ".join(opening)
    events = tracker_events(int(bot.env["REDIS_PORT"]), phone)
    assert text.startswith("Hello, this is Example Lending.") and "date of birth" in text, [
        (e.get("event"), e.get("name"), e.get("text"), e.get("value")) for e in events
    ]
    assert not re.search(r"\$|\d{2,}|debt|collect", text, re.I), text  # nothing about a debt before RPC
    events = tracker_events(int(bot.env["REDIS_PORT"]), phone)
    assert any(
        e.get("event") == "user" and (e.get("parse_data") or {}).get("intent", {}).get("name") == "EXTERNAL_outreach"
        for e in events
    )
    assert slot_values(events, "account_id")[-1] == "A-5155"

    after_open = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, dob.strftime("%B %d %Y"))) == 200
    reply = " ".join(replies_to(bot, phone, after_open))
    assert "postcode" in reply.lower() and "debt collector" not in reply.lower()  # the form goes on, no new session
    after_dob = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, account.last_four)) == 200
    confirmed = " ".join(replies_to(bot, phone, after_dob))
    assert "thank" in confirmed.lower() or "confirmed" in confirmed.lower(), confirmed
    assert confirmed.startswith(disclosure), confirmed  # the mini-Miranda first after RPC
    events = tracker_events(int(bot.env["REDIS_PORT"]), phone)
    assert slot_values(events, "identity_verified")[-1] is True
    assert sum(1 for e in events if e.get("event") == "session_started") == 1
    db_session.expire_all()
    sent = (
        db_session.execute(
            select(db.ContactLog).where(db.ContactLog.account_id == "A-5155", db.ContactLog.event == "sms_sent")
        )
        .scalars()
        .all()
    )
    assert len(sent) == 1 and sent[0].detail.startswith("outreach collection")
