"""Handoff rules (data/handoff.yml), the reply-time notice, fallback streaks and ticket summaries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.compliance.lint import lint
from bot.compliance.profiles import all_profiles
from bot.handoff import (
    build_summary,
    fallback_streak,
    handoff_rules,
    next_opening,
    opening_hours,
    reason_set_in_last_turn,
    reply_eta,
)
from bot.texts import languages, texts_for

UTC = timezone.utc


def test_rules_load_with_crisis_first() -> None:
    rules = handoff_rules()
    assert rules.reason("crisis").priority == min(r.priority for r in rules.reasons.values())
    assert rules.reason("plan_outside_bot_authority").code == "beyond_authority"  # alias
    assert rules.reason("something_new").priority == rules.reason("requested").priority  # never an error
    for code in (
        "requested",
        "dispute",
        "attorney",
        "bankruptcy",
        "deceased",
        "already_paid",
        "abuse",
        "fallback",
        "beyond_authority",
        "collector_request",
        "vulnerability",
        "crisis",
    ):
        assert code in rules.reasons, code
    assert {"ptp", "arrangement", "dispute_logged", "refused", "wrong_party"} <= set(rules.outcomes)


def test_business_hours_and_the_eta_in_the_debtors_zone() -> None:
    rules = handoff_rules()
    tuesday_noon_ny = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 12:00 in New York
    assert next_opening(tuesday_noon_ny, rules) is None
    assert reply_eta(tuesday_noon_ny, "America/Los_Angeles") == f"within about {rules.typical_reply_minutes} minutes"
    saturday_night = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)  # Sat 22:00 in New York, closed until Monday
    opening = next_opening(saturday_night, rules)
    assert opening is not None and opening.weekday() == 0 and opening.hour == 8
    eta = reply_eta(saturday_night, "America/Los_Angeles")
    assert eta == "after we open at 5:00 AM on Monday (your time)", eta
    assert "\u202f" not in eta and eta.isascii()  # keeps an SMS in GSM-7
    assert "lundi" in reply_eta(saturday_night, "Europe/Paris", "fr_FR")


def test_business_hours_by_jurisdiction() -> None:
    rules = handoff_rules()
    assert rules.team("CN").time_zone == "Asia/Shanghai" and rules.team("UK").time_zone == "Europe/London"
    assert rules.team("US-MA").time_zone == rules.team(None).time_zone == rules.time_zone == "America/New_York"
    assert rules.team("XX") == rules.team(None)  # a jurisdiction without a team: the default team
    for team in rules.teams.values():
        assert team.typical_reply_minutes == rules.typical_reply_minutes
    # Tuesday 12:00 in New York is Wednesday 01:00 in Shanghai: the US team is in, the CN team is not
    tuesday_noon_ny = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert next_opening(tuesday_noon_ny, rules, "US-NY") is None
    opening = next_opening(tuesday_noon_ny, rules, "CN")
    assert opening is not None and opening.isoformat() == "2026-12-02T09:00:00+08:00"
    eta = reply_eta(tuesday_noon_ny, "Asia/Shanghai", "en_US", jurisdiction="CN")
    assert eta == "after we open at 9:00 AM on Wednesday (your time)", eta
    assert "星期三" in reply_eta(tuesday_noon_ny, "Asia/Shanghai", "zh_CN", jurisdiction="CN")
    # Saturday 22:00 in New York is Sunday 11:00 in Shanghai: a Chinese debtor gets a person now,
    # not "after we open at ... on Monday"
    saturday_night_ny = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert reply_eta(saturday_night_ny, "Asia/Shanghai", jurisdiction="CN").startswith("within about")
    assert reply_eta(saturday_night_ny, "Asia/Shanghai").startswith("after we open")  # the US team
    # the UK team keeps London hours: Tuesday 17:00 UTC is 17:00 in London
    assert next_opening(tuesday_noon_ny, rules, "UK") is None
    assert next_opening(datetime(2026, 12, 1, 20, 30, tzinfo=UTC), rules, "UK") == datetime(
        2026, 12, 2, 8, 0, tzinfo=ZoneInfo("Europe/London")
    )


def test_a_bad_team_names_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.handoff as handoff
    from bot.settings import DataFileError, read_data_file

    raw = read_data_file("handoff.yml")
    raw["business_hours"]["teams"]["CN"]["time_zone"] = "Asia/Nowhere"
    monkeypatch.setattr(handoff, "read_data_file", lambda name: raw)
    handoff.handoff_rules.cache_clear()
    try:
        with pytest.raises(DataFileError, match=r"business_hours\.teams\.CN\.time_zone"):
            handoff.handoff_rules()
    finally:
        monkeypatch.undo()
        handoff.handoff_rules.cache_clear()


def test_the_notices_pass_the_content_lint() -> None:
    for language in languages():
        texts = texts_for(language)
        eta = texts.get("handoff.eta_open", minutes=15)
        for key in (
            "handoff.notice",
            "handoff.notice_no_push",
            "handoff.notice_no_contact",
            "handoff.holding_reply",
            "handoff.still_waiting",
            "handoff.already_queued",
            "handoff.crisis_holding_reply",
            "handoff.reference_noted",
        ):
            text = texts.get(key, eta=eta, helpline="Call 988.", hours="Monday 8:00 AM to 8:00 PM")
            for profile in all_profiles():
                assert not lint(text, profile, "webchat").violations, (language, profile.jurisdiction, text)


def test_opening_hours_and_reply_times_are_said_in_the_debtors_language() -> None:
    winter = datetime(2026, 1, 13, 17, 0, tzinfo=timezone.utc)  # a Tuesday, noon in New York
    hours = opening_hours(winter, "Asia/Shanghai", "zh_CN", jurisdiction="CN", language="zh")
    assert hours == "星期一至星期五 09:00至21:00，星期六至星期日 09:00至18:00"
    saturday_night_shanghai = datetime(2026, 1, 17, 14, 0, tzinfo=timezone.utc)  # 22:00 Saturday in Shanghai
    assert (
        reply_eta(saturday_night_shanghai, "Asia/Shanghai", "zh_CN", jurisdiction="CN")
        == "在星期日09:00（您当地时间）上班后"
    )


def _turn(intent: str, *actions: str) -> list[dict[str, Any]]:
    return [{"event": "user", "text": intent, "parse_data": {"intent": {"name": intent}}}] + [
        {"event": "action", "name": a} for a in (*actions, "action_listen")
    ]


def test_fallback_streak_counts_consecutive_misunderstood_turns() -> None:
    events = _turn("greet", "utter_greet") + _turn("nlu_fallback", "utter_default")
    assert fallback_streak(events) == 1
    assert fallback_streak(events + _turn("nlu_fallback", "utter_default")) == 2
    assert fallback_streak(events + _turn("ask_balance", "action_tell_balance")) == 0
    restarted = events + [{"event": "session_started"}] + _turn("nlu_fallback", "action_default_fallback")
    assert fallback_streak(restarted) == 1


def test_reason_is_read_from_the_last_turn_only() -> None:
    earlier = _turn("dispute_debt", "action_record_account_event")
    earlier.insert(2, {"event": "slot", "name": "handoff_reason", "value": "dispute"})
    assert reason_set_in_last_turn(earlier) == "dispute"
    assert reason_set_in_last_turn(earlier + _turn("greet", "utter_greet")) is None
    cleared = _turn("greet") + [{"event": "slot", "name": "handoff_reason", "value": None}]
    assert reason_set_in_last_turn(cleared) is None


def test_summary() -> None:
    events = [
        {"event": "user", "text": "i lost my job", "timestamp": 1_700_000_000.0},
        {"event": "bot", "text": "I'm sorry to hear that", "timestamp": 1_700_000_001.0},
    ]
    slots = {
        "identity_verified": True,
        "hardship_type": "job_loss",
        "ptp_amount": {"amount": "50.00", "currency": "USD"},
    }
    summary = build_summary(events, slots, ["PTP-3 $20.00 due 2026-12-04"], limit=1)
    assert summary["verification"] == "verified" and summary["hardship"] == "job_loss"
    assert summary["ptp_in_progress"] == "50.00 USD on ?" and summary["promises"] == ["PTP-3 $20.00 due 2026-12-04"]
    assert summary["last_messages"] == [
        {"from": "bot", "text": "I'm sorry to hear that", "at": "2023-11-14T22:13:21+00:00"}
    ]
    assert build_summary([], {"verification_locked": True}, [])["verification"] == "locked after failed attempts"


@pytest.mark.parametrize("bad", ["reasons: {}", "business_hours: {time_zone: Mars/Olympus}"])
def test_a_bad_rules_file_names_the_field(bad: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from bot import handoff, settings

    good = yaml.safe_load((settings.DATA / "handoff.yml").read_text())
    good.update(yaml.safe_load(bad))
    (tmp_path / "handoff.yml").write_text(yaml.safe_dump(good))
    monkeypatch.setattr(settings, "DATA", tmp_path)
    handoff.handoff_rules.cache_clear()
    try:
        with pytest.raises(settings.DataFileError, match="data/handoff.yml"):
            handoff.handoff_rules()
    finally:
        monkeypatch.undo()
        handoff.handoff_rules.cache_clear()


def test_offers_in_the_summary_are_readable_lines() -> None:
    from datetime import date

    from bot.money import Money
    from bot.repayment.arrangements import option_to_dict
    from bot.repayment.plans import Payment, PlanOption

    option = PlanOption(
        kind="instalments",
        schedule=(Payment(date(2026, 12, 4), Money(1000_00, "USD")), Payment(date(2027, 1, 4), Money(1000_00, "USD"))),
        total=Money(2000_00, "USD"),
        discount=Money(0, "USD"),
        interest=Money(0, "USD"),
        reason="affordable",
        frequency="monthly",
    )
    summary = build_summary([], {"plan_options": [option_to_dict(option), "a note"]}, [])
    assert summary["offers"] == [
        "instalments (monthly): 2 payments, total $2,000.00, first due 2026-12-04",
        "a note",
    ]


def test_opening_hours_are_said_in_the_debtors_time_zone() -> None:
    from datetime import datetime, timezone

    from bot.handoff import opening_hours

    winter = datetime(2026, 12, 5, 15, tzinfo=timezone.utc)
    assert (
        opening_hours(winter, "America/New_York") == "Monday to Friday 8:00 AM to 8:00 PM, Saturday 9:00 AM to 1:00 PM"
    )
    assert opening_hours(winter, "America/Los_Angeles").startswith("Monday to Friday 5:00 AM to 5:00 PM")
    # Shanghai: the team's day runs over midnight there
    assert "Monday to Friday 9:00 PM to 9:00 AM the next day" in opening_hours(winter, "Asia/Shanghai")
    # the daylight-saving week is the current one: 8:00 in New York is 13:00 in London in winter
    assert opening_hours(winter, "Europe/London", "en_GB").startswith("Monday to Friday 13:00 to 01:00 the next day")
    summer = datetime(2026, 7, 4, 15, tzinfo=timezone.utc)
    assert opening_hours(summer, "Europe/London", "en_GB").startswith("Monday to Friday 13:00 to 01:00")
    assert opening_hours(winter, "Not/A_Zone") == opening_hours(winter, "America/New_York")


def test_the_summary_lists_every_offer_the_debtors_own_and_the_arrangement_agreed() -> None:
    """Three plans offered, a counter-offer answered with one plan, that plan accepted: the
    ``plan_options`` slot is empty by then, yet the summary names all four offers, the debtor's
    own offer and the arrangement; an earlier session's offers are not this conversation's."""
    from datetime import date

    from bot.money import Money
    from bot.repayment.arrangements import option_to_dict
    from bot.repayment.plans import Payment, PlanOption

    def option(n: int, each: int) -> dict[str, Any]:
        schedule = tuple(Payment(date(2026, 12 if i == 0 else 1, 4), Money(each, "USD")) for i in range(n))
        return option_to_dict(
            PlanOption(
                kind="instalments",
                schedule=schedule,
                total=Money(each * n, "USD"),
                discount=Money(0, "USD"),
                interest=Money(0, "USD"),
                reason="affordable",
                frequency="monthly",
            )
        )

    three = [option(2, 500_00), option(4, 250_00), option(5, 200_00)]
    counter = [option(10, 100_00)]

    def slot(name: str, value: Any) -> dict[str, Any]:
        return {"event": "slot", "name": name, "value": value}

    def action(name: str) -> dict[str, Any]:
        return {"event": "action", "name": name}

    def user(text: str) -> dict[str, Any]:
        return {"event": "user", "text": text, "timestamp": 1_700_000_000.0}

    earlier = [action("action_session_start"), slot("plan_options", [option(1, 1000_00)]), slot("arrangement_id", "1")]
    events = [
        *earlier,
        action("action_session_start"),
        user("can I pay in instalments"),
        action("action_offer_plans"),
        slot("plan_options", three),
        user("I can only manage 100 a month"),
        action("action_select_plan"),
        slot("plan_options", counter),
        user("yes"),
        action("action_record_arrangement"),
        slot("arrangement_id", "7"),
        slot("plan_options", None),
        user("can I talk to someone"),
    ]
    summary = build_summary(events, {"plan_options": None, "arrangement_id": "7"}, [])
    assert summary["offers"] == [
        "instalments (monthly): 2 payments, total $1,000.00, first due 2026-12-04",
        "instalments (monthly): 4 payments, total $1,000.00, first due 2026-12-04",
        "instalments (monthly): 5 payments, total $1,000.00, first due 2026-12-04",
        "instalments (monthly): 10 payments, total $1,000.00, first due 2026-12-04",
    ]
    assert summary["debtor_offers"] == ["I can only manage 100 a month"]
    assert summary["arrangement_id"] == "7"
    # nothing offered or agreed in this session: the last session's arrangement is not claimed
    fresh = build_summary([*earlier, action("action_session_start"), user("hi")], {"arrangement_id": "1"}, [])
    assert fresh["offers"] == [] and fresh["arrangement_id"] is None and fresh["debtor_offers"] == []
