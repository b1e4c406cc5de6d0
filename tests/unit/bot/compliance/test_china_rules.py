"""China's rules (data/compliance/cn.yml): GB/T 45251—2025 and the China Banking Association's 2026
consumer loan collection guideline at the contact gate and in the content lint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.compliance.gate import ContactEvent, ContactRequest, check
from bot.compliance.lint import lint
from bot.compliance.profiles import profile_for

UTC = timezone.utc
PHONE = "+8613800138001"
OTHER_PHONE = "+8613900139002"
CONTACT = "+8613700137003"
# Tuesday 1 December 2026, 15:00 in Shanghai
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def call(channel: str = "voice", **kw: object) -> ContactRequest:
    base: dict[str, object] = dict(
        account_id="A-3001", jurisdiction="CN", channel=channel, address_time_zone="Asia/Shanghai", phone_e164=PHONE
    )
    base.update(kw)
    return ContactRequest(**base)  # type: ignore[arg-type]


def events(event: str, n: int, address: str | None = PHONE, hours_ago: float = 6) -> list[ContactEvent]:
    """``n`` events, one every 20 minutes from ``hours_ago`` hours before NOW."""
    start = NOW - timedelta(hours=hours_ago)
    return [ContactEvent(start + timedelta(minutes=20 * i), event, "voice", address=address) for i in range(n)]


def test_the_profile_cites_the_2025_standard_and_the_2026_guideline() -> None:
    cn = profile_for("CN")
    caps = {c.id: c for c in cn.frequency_caps}
    effective, unanswered = caps["cn_effective_calls_day"], caps["cn_unanswered_attempts_day"]
    assert (effective.counts, effective.max, effective.window_days, effective.per) == (
        ("telephone_conversation",),
        3,
        1,
        "debt",
    )
    assert (unanswered.counts, unanswered.max, unanswered.window_days, unanswered.per) == (
        ("call_unanswered",),
        6,
        1,
        "contact_method",
    )
    assert "GB/T 45251" in effective.citation and "AI voice" in effective.citation
    assert "CBA" in unanswered.citation
    assert "22:00-08:00" in cn.contact_window.citation and "GB/T 45251" in cn.contact_window.citation
    assert cn.third_parties is not None and "GB/T 45251" in cn.third_parties.citation
    assert set(cn.third_parties.allowed_after) == {"debtor_unreachable", "deceased", "lacks_capacity"}
    assert cn.call_recording is not None and cn.call_recording.required and cn.call_recording.retention_days > 0
    for profile in (profile_for("US"), profile_for("UK")):
        assert profile.third_parties is None and profile.call_recording is None


def test_a_seventh_unanswered_attempt_in_a_day_is_refused() -> None:
    assert check(call(), events("call_unanswered", 5), NOW).allowed
    six = events("call_unanswered", 6)
    decision = check(call(), six, NOW)
    assert decision.outcome == "defer" and [r.code for r in decision.reasons] == ["cap_cn_unanswered_attempts_day"]
    assert decision.defer_until == six[0].at + timedelta(days=1)  # 09:00 tomorrow in Shanghai, in the window
    assert check(call(), six, six[0].at + timedelta(days=1)).allowed


def test_unanswered_attempts_count_per_phone_number() -> None:
    to_other_number = events("call_unanswered", 6, address=OTHER_PHONE)
    assert check(call(), to_other_number, NOW).allowed
    assert check(call(phone_e164=OTHER_PHONE), to_other_number, NOW).outcome == "defer"
    # an attempt whose number was not recorded counts for every number
    assert check(call(), events("call_unanswered", 6, address=None), NOW).outcome == "defer"


def test_a_fourth_effective_call_in_a_day_is_refused() -> None:
    assert check(call(), events("telephone_conversation", 2), NOW).allowed
    three = events("telephone_conversation", 3)
    decision = check(call(), three, NOW)
    assert decision.outcome == "defer" and [r.code for r in decision.reasons] == ["cap_cn_effective_calls_day"]
    # whatever number they were on: the cap is per debtor
    assert check(call(), events("telephone_conversation", 3, address=OTHER_PHONE), NOW).outcome == "defer"
    assert check(call(), events("telephone_conversation", 3, hours_ago=25), NOW).allowed


def test_unanswered_and_effective_calls_are_counted_apart() -> None:
    mixed = events("call_unanswered", 5) + events("telephone_conversation", 2, hours_ago=3)
    assert check(call(), mixed, NOW).allowed  # 7 calls, but neither cap is reached
    # the US-style attempt count is no cap in China: placed calls count once their outcome is known
    assert check(call(), events("call_attempt", 12), NOW).allowed
    both = events("call_unanswered", 6) + events("telephone_conversation", 3, hours_ago=3)
    codes = {r.code for r in check(call(), both, NOW).reasons}
    assert codes == {"cap_cn_unanswered_attempts_day", "cap_cn_effective_calls_day"}


def test_voice_caps_leave_sms_alone_and_a_requested_call_back_is_not_counted() -> None:
    full = events("call_unanswered", 6) + events("telephone_conversation", 3, hours_ago=3)
    assert check(call("sms"), full, NOW).allowed
    assert check(call(initiated_by="debtor"), full, NOW).allowed


def test_the_us_and_uk_caps_do_not_count_outcomes() -> None:
    us = call(jurisdiction="US-NY", address_time_zone="America/New_York", phone_e164="+12125550199")
    at_noon_ny = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    outcomes = [ContactEvent(at_noon_ny - timedelta(hours=i + 1), "call_unanswered", "voice") for i in range(9)]
    assert check(us, outcomes, at_noon_ny).allowed


def test_contacts_only_when_the_debtor_is_unreachable_dead_or_lacks_capacity() -> None:
    contact = call(party="contact", phone_e164=CONTACT)
    decision = check(contact, [], NOW)
    assert decision.outcome == "deny" and decision.reasons[0].code == "third_party_not_allowed"
    assert "GB/T 45251" in decision.reasons[0].citation
    for condition in ("debtor_unreachable", "lacks_capacity", "deceased"):
        log = [ContactEvent(NOW - timedelta(days=2), condition, "voice")]
        assert check(contact, log, NOW).allowed, condition
    deceased = [ContactEvent(NOW - timedelta(days=2), "deceased", "rest")]
    assert check(call(), deceased, NOW).outcome == "deny"  # the debtor's own number: the estate hold


def test_a_contact_who_refuses_is_never_called_again() -> None:
    contact = call(party="contact", phone_e164=CONTACT)
    log = [
        ContactEvent(NOW - timedelta(days=3), "debtor_unreachable", "voice"),
        ContactEvent(NOW - timedelta(days=1), "contact_refused", "voice", address=CONTACT),
    ]
    decision = check(contact, log, NOW)
    assert decision.outcome == "deny" and decision.reasons[0].code == "third_party_refused"
    assert check(call(party="contact", phone_e164="+8613600136004"), log, NOW).allowed
    assert check(contact, log, NOW + timedelta(days=400)).outcome == "deny"  # refusal does not expire


def test_contacts_are_not_reached_at_night_or_in_a_dispute() -> None:
    contact = call(party="contact", phone_e164=CONTACT)
    unreachable = [ContactEvent(NOW - timedelta(days=3), "debtor_unreachable", "voice")]
    night = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert check(contact, unreachable, night).outcome == "defer"
    disputed = unreachable + [ContactEvent(NOW - timedelta(days=1), "dispute", "sms")]
    assert check(contact, disputed, NOW).outcome == "deny"


def test_no_third_party_contact_where_the_profile_has_no_rule() -> None:
    us = call(jurisdiction="US", address_time_zone="America/New_York", phone_e164="+12125550199", party="contact")
    log = [ContactEvent(NOW - timedelta(days=3), "debtor_unreachable", "voice")]
    assert check(us, log, datetime(2026, 11, 30, 17, 0, tzinfo=UTC)).outcome == "deny"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("再不还钱就让你坐牢", "threats"),
        ("我们明天就上门催收", "threats"),
        ("不还后果自负", "threats"),
        ("We know where you live.", "threats"),
        ("你就是个老赖", "insults"),
        ("你这是骗贷", "insults"),
        ("You are a deadbeat.", "insults"),
        ("我们会在你小区张贴催收公告", "public_shaming"),
        ("把你的欠款发朋友圈曝光", "public_shaming"),
        ("We will post this publicly.", "public_shaming"),
        ("我们是派出所的", "court_impersonation"),
        ("这是法院的传票", "court_impersonation"),
        ("This is the police.", "court_impersonation"),
        ("我们会通知你的家人和单位", "contacts_of_debtor"),
        ("已经联系了您的紧急联系人", "contacts_of_debtor"),
        ("We will tell your employer.", "contacts_of_debtor"),
        ("你可以先去网贷借点钱还上", "borrow_to_repay"),
        ("找朋友借钱还了吧", "borrow_to_repay"),
        ("信用卡套现也行", "borrow_to_repay"),
        ("Take out another loan to pay this.", "borrow_to_repay"),
        ("需要支付500元催收服务费", "extra_fees"),
        ("另外要缴纳加急手续费", "extra_fees"),
        ("There is a collection fee of 200.", "extra_fees"),
        ("你会上黑名单", "blacklist"),
    ],
)
def test_china_prohibited_wording(text: str, rule: str) -> None:
    found = lint(text, profile_for("CN"), "webchat").violations
    assert rule in [v.rule for v in found], found
    assert all(v.citation for v in found)


@pytest.mark.parametrize(
    "text",
    [
        "逾期会影响您的个人征信记录，请按时还款。",
        "您可以申请延期或分期还款，我们会根据您的情况协商。",
        "我们不会收取合同以外的任何费用。",
        "通过支付宝还款无需支付任何手续费。",
        "理性借贷，请勿以贷养贷。",
        "请不要向他人借钱还款，我们可以一起想办法。",
        "我们不会联系您的家人或同事。",
        "我们不会上门催收。",
        "您好，这里是贷款机构的催收团队，关于您的逾期贷款。",
    ],
)
def test_china_wording_that_reassures_is_not_prohibited(text: str) -> None:
    assert not lint(text, profile_for("CN"), "webchat").violations


def test_bad_china_fields_name_the_rule_and_field() -> None:
    from pathlib import Path

    import yaml

    from bot.compliance.profiles import parse_profile
    from bot.settings import DataFileError

    raw = yaml.safe_load((Path(__file__).resolve().parents[4] / "data/compliance/cn.yml").read_text())
    raw["frequency_caps"][1]["per"] = "household"
    with pytest.raises(DataFileError, match=r"frequency_caps\[cn_unanswered_attempts_day\].*'per'"):
        parse_profile(raw, "cn.yml")
    raw = yaml.safe_load((Path(__file__).resolve().parents[4] / "data/compliance/cn.yml").read_text())
    raw["call_recording"]["retention_days"] = 0
    with pytest.raises(DataFileError, match=r"call_recording.*retention_days"):
        parse_profile(raw, "cn.yml")
    del raw["call_recording"]
    del raw["third_parties"]["refusal_event"]
    with pytest.raises(DataFileError, match=r"third_parties.*refusal_event"):
        parse_profile(raw, "cn.yml")
