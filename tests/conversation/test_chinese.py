"""A Chinese debtor end to end, through the real Rasa server and action server: over REST, signed
SMS and voice TwiML, from the greeting to an arrangement in CNY, every bot message in Chinese and
none with prohibited wording; outreach opens in Chinese. Messages written for these tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from bot import db
from bot.compliance.lint import lint
from bot.compliance.profiles import profile_for
from bot.outreach.campaigns import account_language, opening_texts, sms_bodies
from bot.understanding.text import han_ratio
from tests.conftest import Bot


def _account(db_session: Any, account_id: str) -> db.Account:
    return db_session.execute(select(db.Account).where(db.Account.id == account_id)).scalar_one()


def _chinese(replies: list[str]) -> list[str]:
    """The replies, each checked to be Chinese and free of China's prohibited wording."""
    assert replies, "no reply"
    for reply in replies:
        assert han_ratio(reply) > 0.6, reply
        assert not lint(reply, profile_for("CN"), "webchat").violations, reply
    return replies


def _dob(account: db.Account) -> str:
    born = account.debtor.date_of_birth
    return f"{born.year}年{born.month}月{born.day}日"


def test_a_chinese_debtor_agrees_a_plan_in_chinese_over_rest(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-3001")
    sender = account.debtor.phone_e164
    said: list[str] = []
    for text in ("你好", _dob(account), account.last_four):
        said += _chinese(bot.say(sender, text))
    assert "身份已确认" in said[-1]
    balance = " ".join(_chinese(bot.say(sender, "我还欠多少钱")))
    assert "¥8,600.00" in balance and "20天" in balance
    heard = _chinese(bot.say(sender, "年初厂里裁员我失业了，现在没有收入来源，能不能分期慢慢还"))
    assert heard[0].startswith("听到您的情况我很抱歉")
    _chinese(bot.say(sender, "现在打零工每个月收入4500"))
    options = " ".join(_chinese(bot.say(sender, "房租1500 生活费1200")))
    assert "1." in options and "¥" in options
    _chinese(bot.say(sender, "第三个"))
    done = " ".join(_chinese(bot.say(sender, "是的")))
    assert "ARR-" in done
    db_session.expire_all()
    arrangement = db_session.execute(select(db.Arrangement).where(db.Arrangement.account_id == "A-3001")).scalar_one()
    assert arrangement.currency == "CNY" and arrangement.status == "active"
    _chinese(bot.say(sender, "好的谢谢，再见"))


def test_a_chinese_debtor_by_signed_sms_is_answered_in_chinese_with_the_chinese_footer(
    bot: Bot, db_session: Any
) -> None:
    from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms

    account = _account(db_session, "A-5030")
    phone = account.debtor.phone_e164

    def turn(text: str) -> list[str]:
        before = len(fake(bot, "/fake/messages"))
        assert post_sms(bot, sms(phone, text)) == 200
        replies = replies_to(bot, phone, before)
        assert replies and all(r.endswith("回复TD退订") for r in replies), replies
        return _chinese([r.removesuffix("回复TD退订") for r in replies])

    turn("您好")
    turn(_dob(account))
    assert "身份已确认" in " ".join(turn(account.last_four))
    assert "¥" in " ".join(turn("我现在还欠多少"))
    assert post_sms(bot, sms(phone, "TD")) == 200  # the Chinese opt-out keyword is STOP
    db_session.expire_all()
    assert db_session.execute(select(db.OptOut).where(db.OptOut.address == phone)).scalar_one().channel == "sms"


def test_a_chinese_caller_hears_chinese_and_is_heard_in_chinese(bot: Bot, db_session: Any) -> None:
    from tests.conversation.test_twilio_voice import call, says

    account = _account(db_session, "A-5035")
    params = {"CallSid": f"CA{uuid.uuid4().hex}", "From": account.debtor.phone_e164, "To": "+15559870000"}
    status, root, _ = call(bot, params)
    assert status == 200 and root is not None
    gather = root.find("Gather")
    assert gather is not None and gather.get("language") == "cmn-Hans-CN"
    assert all(s.get("language") == "cmn-CN" for s in root.iter("Say"))
    assert han_ratio(says(root)) > 0.6, says(root)
    status, root, _ = call(bot, {**params, "SpeechResult": _dob(account), "Confidence": "0.92"})
    assert status == 200 and root is not None and "邮政编码" in says(root), says(root)


def test_outreach_to_a_chinese_account_opens_in_chinese(db_session: Any) -> None:
    account = _account(db_session, "A-5038")
    language = account_language(db_session, account.id)
    assert language == "zh"
    bodies = sms_bodies(opening_texts("collection", "neutral", language, "CN"), "CN", language)
    assert bodies and all(b.endswith("回复TD退订") for b in bodies), json.dumps(bodies, ensure_ascii=False)
    _chinese([b.removesuffix("回复TD退订") for b in bodies])


def test_a_chinese_debtor_waiting_for_a_person_is_told_in_chinese_and_never_left_in_silence(
    bot: Bot, db_session: Any
) -> None:
    from bot.handoff import HandoffQueue, redis_from_env

    account = _account(db_session, "A-5007")  # CN; an account no other test uses
    sender = account.debtor.phone_e164
    queue = HandoffQueue(redis_from_env(bot.env), bot.env["DATABASE_URL"])
    _chinese(bot.say(sender, "你好"))
    notice = " ".join(_chinese(bot.say(sender, "我要转人工，找个真人跟我说")))
    assert "工作人员会" in notice, notice
    ticket_id = queue.open_ticket_id(sender)
    assert ticket_id is not None
    # the China team's hours or reply time, in Chinese; then a short Chinese answer to every message
    [acknowledged] = _chinese(bot.say(sender, "在吗？"))
    assert acknowledged.startswith("收到"), acknowledged
    [queued] = _chinese(bot.say(sender, "我要人工客服"))
    assert "您已在等待人工服务" in queued or queued.startswith("收到"), queued
    queue.close(ticket_id, "sue", "other", supervisor=True)
