"""Personal data stays out of the logs: after conversations over REST, SMS and voice that verify
identity, ask the balance and hit a failing Twilio send, the Rasa server's log (channels included)
and the action server's log hold no full date of birth, account reference or phone number."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from scripts import loadgen
from tests.conftest import Bot
from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms
from tests.conversation.test_twilio_voice import call, says

pytestmark = pytest.mark.slow
E164 = re.compile(r"\+\d{10,15}")
ACCOUNT_REF = re.compile(r"\bA-\d{4}\b")


def _forms_of(account: Any) -> list[str]:
    dob = account.date_of_birth
    national = account.phone[2:]
    return [
        account.phone,
        national,
        f"({national[:3]}) {national[3:6]}-{national[6:]}",
        account.id,
        dob.isoformat(),
        f"{dob:%B} {dob.day} {dob.year}",
        f"{dob:%m/%d/%Y}",
    ]


def test_conversations_leave_no_personal_data_in_logs(bot: Bot, database_url: str) -> None:
    accounts = {a.id: a for a in loadgen.ensure_accounts(database_url)}
    rest, text, voice, by_ref = (accounts[f"A-{n}"] for n in (5380, 5381, 5382, 5383))
    logs = [bot.logs / "rasa.log", bot.logs / "actions.log"]
    starts = [log.stat().st_size for log in logs]

    for message in loadgen.debtor_script(rest)[:4] + ["I lost my job and can't pay", "I can pay 50 on friday"]:
        assert bot.say(rest.phone, message)
    # identified by account reference from a sender that is not a phone: the reference is in the text
    for message in ["hi", by_ref.id, loadgen.debtor_script(by_ref)[1], by_ref.postcode, "how much do I owe"]:
        assert bot.say("web-visitor-5383", message)

    before = len(fake(bot, "/fake/messages"))
    fake(bot, "/fake/fail", {"count": 1, "status": 503, "code": 20503})  # a logged, retried failure
    for i, message in enumerate(loadgen.debtor_script(text)[:3]):  # the first send fails once, then goes
        assert post_sms(bot, sms(text.phone, message)) == 200
        assert replies_to(bot, text.phone, before), (i, message)
        before = len(fake(bot, "/fake/messages"))

    params = {"CallSid": "CA" + "5382" * 8, "From": voice.phone, "To": "+15559870000", "Direction": "inbound"}
    assert call(bot, params)[0] == 200
    status, root, _ = call(bot, dict(params, SpeechResult=loadgen.debtor_script(voice)[1], Confidence="0.9"))
    assert status == 200 and root is not None and "ZIP" in says(root), "the date of birth was not taken in"
    time.sleep(1)

    for log, start in zip(logs, starts, strict=True):
        written = log.read_text(errors="replace")[start:]
        # the Rasa server logs every Twilio request and the failed send; the action server logs
        # nothing per turn at INFO, so for it the check is that nothing personal appears
        assert written or log.name == "actions.log", f"{log.name}: nothing logged, the test would prove nothing"
        for account in (rest, text, voice, by_ref):
            for form in _forms_of(account):
                assert form not in written, f"{log.name} contains {form!r}"
        assert not E164.findall(written), E164.findall(written)[:5]
        assert not ACCOUNT_REF.findall(written), ACCOUNT_REF.findall(written)[:5]
