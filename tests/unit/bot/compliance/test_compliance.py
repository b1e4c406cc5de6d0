"""Compliance engine: profiles, the contact gate, the content lint and the audit log."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from bot import db
from bot.compliance import audit, profiles
from bot.compliance.gate import ContactEvent, ContactRequest, check, contact_time_zones
from bot.compliance.lint import lint, sms_segments, with_footer
from bot.compliance.preferences import as_detail, parse_contact_preference
from bot.compliance.profiles import all_profiles, profile_for
from bot.settings import DataFileError
from scripts.services import ROOT

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def request(**kw: object) -> ContactRequest:
    base = dict(
        account_id="A-1",
        jurisdiction="US-NY",
        channel="sms",
        address_time_zone="America/New_York",
        phone_e164="+12125550199",
    )
    base.update(kw)
    return ContactRequest(**base)  # type: ignore[arg-type]


def test_every_profile_loads_with_citations() -> None:
    loaded = {p.jurisdiction: p for p in all_profiles()}
    assert {"US", "US-MA", "UK", "CN"} <= set(loaded)
    for p in loaded.values():
        assert p.contact_window.citation
        assert all(c.citation for c in p.frequency_caps) and all(h.citation for h in p.holds)
        assert all(w.citation for w in p.prohibited_wording)
    ma = loaded["US-MA"]
    assert {c.id for c in ma.frequency_caps} == {
        "call_attempts_7d",
        "call_after_conversation_7d",
        "ma_creditor_contacts_7d",
        "ma_non_personal_contacts_30d",  # 940 CMR 7.04(1)(f): 2 in 30 days to numbers not personal
    }
    assert profile_for("US-TX").jurisdiction == "US"


def test_bad_profile_names_rule_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load((ROOT / "data/compliance/us.yml").read_text())
    raw["frequency_caps"][0]["window_days"] = 0
    with pytest.raises(DataFileError, match=r"frequency_caps\[call_attempts_7d\].*window_days"):
        profiles.parse_profile(raw, "us.yml")
    raw = yaml.safe_load((ROOT / "data/compliance/us.yml").read_text())
    del raw["holds"][1]["citation"]
    with pytest.raises(DataFileError, match=r"holds\[cease_contact\].*citation"):
        profiles.parse_profile(raw, "us.yml")
    raw = yaml.safe_load((ROOT / "data/compliance/us.yml").read_text())
    raw["prohibited_wording"][0]["pattern"] = "(unclosed"
    with pytest.raises(DataFileError, match=r"prohibited_wording\[arrest_or_jail\].*pattern"):
        profiles.parse_profile(raw, "us.yml")


def test_window_uses_the_overlap_of_address_and_area_code() -> None:
    # A-1003: New York number, Seattle address
    r = request(jurisdiction="US-WA", address_time_zone="America/Los_Angeles", phone_e164="+12125550103")
    assert contact_time_zones(r) == ["America/Los_Angeles", "America/New_York"]
    assert check(r, [], at("2026-11-30T17:00:00")).allowed  # 09:00 LA, 12:00 NY
    early = check(r, [], at("2026-11-30T14:00:00"))  # 06:00 LA, 09:00 NY
    assert early.outcome == "defer" and early.defer_until == at("2026-11-30T16:00:00")
    assert early.reasons[0].code == "outside_contact_window" and "1006.6(b)(1)" in early.reasons[0].citation
    late = check(r, [], at("2026-12-01T02:30:00"))  # 18:30 LA, 21:30 NY
    assert late.outcome == "defer" and late.defer_until == at("2026-12-01T16:00:00")


def test_china_no_contact_22_to_08() -> None:
    r = request(jurisdiction="CN", address_time_zone="Asia/Shanghai", phone_e164="+8613800138001", channel="voice")
    assert check(r, [], at("2026-11-29T13:59:00")).allowed  # 21:59 Shanghai
    decision = check(r, [], at("2026-11-29T14:00:00"))  # 22:00
    assert decision.outcome == "defer" and decision.defer_until == at("2026-11-30T00:00:00")


def test_reg_f_seven_calls_in_seven_days() -> None:
    now = at("2026-11-30T15:00:00")
    calls = [ContactEvent(now - timedelta(days=6, hours=23 - i), "call_attempt", "voice") for i in range(7)]
    r = request(channel="voice")
    decision = check(r, calls, now)
    assert decision.outcome == "defer" and [x.code for x in decision.reasons] == ["cap_call_attempts_7d"]
    assert decision.defer_until is not None and decision.defer_until >= calls[0].at + timedelta(days=7)
    assert check(r, calls[1:], now).allowed
    assert check(request(channel="voice", initiated_by="debtor"), calls, now).allowed  # a requested call-back


def test_reg_f_no_call_within_seven_days_of_a_conversation() -> None:
    now = at("2026-11-30T15:00:00")
    talked = [ContactEvent(now - timedelta(days=3), "telephone_conversation", "voice")]
    decision = check(request(channel="voice"), talked, now)
    assert decision.outcome == "defer" and decision.reasons[0].code == "cap_call_after_conversation_7d"
    assert decision.defer_until is not None and decision.defer_until >= talked[0].at + timedelta(days=7)
    assert check(request(channel="sms"), talked, now).allowed  # the rule limits calls, not texts


def test_massachusetts_two_contacts_in_seven_days() -> None:
    now = at("2026-11-30T15:00:00")
    sent = [
        ContactEvent(now - timedelta(days=2), "sms_sent", "sms"),
        ContactEvent(now - timedelta(days=1), "call_attempt", "voice"),
    ]
    ma = request(jurisdiction="US-MA", phone_e164="+16175550101")
    decision = check(ma, sent, now)
    assert decision.outcome == "defer" and "ma_creditor_contacts_7d" in decision.reasons[0].code
    assert check(request(jurisdiction="US-NY"), sent, now).allowed


def test_holds_deny_at_once_and_lift() -> None:
    now = at("2026-11-30T15:00:00")
    for event in ("dispute", "cease_contact", "attorney", "bankruptcy", "deceased"):
        decision = check(request(), [ContactEvent(now - timedelta(minutes=1), event, "webchat")], now)
        assert decision.outcome == "deny" and decision.reasons[0].code == f"hold_{event}"
    disputed = [
        ContactEvent(now - timedelta(days=2), "dispute", "sms"),
        # verification sent, not the notice alone, lifts the dispute (12 CFR 1006.38(d)(2))
        ContactEvent(now - timedelta(days=1), "verification_sent", "email"),
    ]
    assert check(request(), disputed, now).allowed
    opted_out = [ContactEvent(now - timedelta(days=1), "opt_out", "sms")]
    assert check(request(channel="sms"), opted_out, now).outcome == "deny"
    assert check(request(channel="voice"), opted_out, now).allowed  # "stop texting" limits texts only
    opted_in = opted_out + [ContactEvent(now - timedelta(hours=1), "opt_in", "sms")]
    assert check(request(channel="sms"), opted_in, now).allowed


def test_uk_breathing_space_lasts_sixty_days() -> None:
    now = at("2026-11-30T12:00:00")
    uk = request(jurisdiction="UK", address_time_zone="Europe/London", phone_e164="+447700900101")
    assert check(uk, [ContactEvent(now - timedelta(days=59), "breathing_space", "rest")], now).outcome == "deny"
    assert check(uk, [ContactEvent(now - timedelta(days=61), "breathing_space", "rest")], now).allowed


def test_stated_inconvenient_time() -> None:
    preference = parse_contact_preference("please only call me after 6pm")
    assert preference == {"earliest": time(18, 0)}
    events = [ContactEvent(at("2026-11-29T12:00:00"), "inconvenient_time", "sms", as_detail(preference))]
    decision = check(request(), events, at("2026-11-30T15:00:00"))  # 10:00 New York
    assert decision.outcome == "defer" and decision.reasons[0].code == "inconvenient_time"
    assert decision.defer_until == at("2026-11-30T23:00:00")  # 18:00 New York


def test_domain_responses_pass_the_lint_in_every_jurisdiction() -> None:
    responses = yaml.safe_load((ROOT / "bot/domain/responses.yml").read_text())["responses"]
    texts = [(name, v["text"]) for name, variants in responses.items() for v in variants]
    assert len(texts) > 40
    for profile in all_profiles():
        bad = [(name, v.rule) for name, text in texts for v in lint(text, profile, "webchat").violations]
        assert not bad, f"{profile.jurisdiction}: {bad}"


def test_every_language_and_every_text_outside_the_responses_pass_the_lint() -> None:
    from bot.responses import language_responses, languages
    from bot.texts import all_texts

    texts = [
        (f"{language}:{name}", v["text"])
        for language in languages()
        for name, variants in language_responses(language).items()
        for v in variants
    ]
    texts += [(f"{language}:{key}", text) for language, key, text in all_texts()]
    assert len({name.split(":")[0] for name, _ in texts}) >= 2  # English and Chinese
    for profile in all_profiles():
        bad = [(name, v.rule) for name, text in texts for v in lint(text, profile, "webchat").violations]
        assert not bad, f"{profile.jurisdiction}: {bad}"


@pytest.mark.parametrize(
    ("jurisdiction", "text", "rule"),
    [
        ("US", "Pay today or you will be arrested.", "arrest_or_jail"),
        ("US", "We will garnish your wages next week.", "seizure_or_garnishment"),
        ("US", "This is the attorney's office calling about your debt.", "false_attorney_or_government"),
        ("US", "We'll sue you if this isn't paid.", "threat_of_suit"),
        ("UK", "You must pay it all today.", "pressure_lump_sum"),
        ("UK", "Bailiffs will visit your home.", "bailiffs_or_seizure"),
        ("CN", "You will be put on the blacklist.", "blacklist"),
        ("CN", "这是法院通知", "court_impersonation"),
    ],
)
def test_lint_catches_prohibited_wording(jurisdiction: str, text: str, rule: str) -> None:
    assert rule in [v.rule for v in lint(text, profile_for(jurisdiction), "webchat").violations]


def test_sms_footer_and_segments() -> None:
    us = profile_for("US")
    assert lint("Your payment is due.", us, "sms").missing_footer
    footed = with_footer("Your payment is due.", us)
    assert footed.endswith("Reply STOP to opt out.") and with_footer(footed, us) == footed
    assert lint(footed, us, "sms").ok
    assert sms_segments("a" * 160).segments == 1 and sms_segments("a" * 161).segments == 2
    assert sms_segments("€" * 80).units == 160  # extension characters cost two septets
    assert sms_segments("你好" * 35).encoding == "UCS-2" and sms_segments("你好" * 35).segments == 1
    assert sms_segments("你好" * 36).segments == 2
    assert lint("x" * 1000 + " Reply STOP to opt out.", us, "sms").too_long


def test_audit_log_is_append_only_and_chained(database: str) -> None:
    url = database
    with db.session_scope(url) as session:
        for i in range(3):
            audit.record(session, actor="gate", action="outbound_sms", outcome="allow", account_id=f"A-{i}")
        entries = [audit.Entry("outreach", "outbound_voice", "defer", ("outside_contact_window",), "A-9", {"x": 1})] * 2
        assert audit.record_many(session, entries) == 2
        audit.record(session, actor="gate", action="outbound_sms", outcome="deny", account_id="A-3")
    with db.session_scope(url) as session:
        assert [e.outcome for e in session.query(audit.AuditEntry).order_by(audit.AuditEntry.id)] == [
            "allow", "allow", "allow", "defer", "defer", "deny"
        ]  # fmt: skip
        assert audit.verify_chain(session) is None
    with pytest.raises(Exception, match="append-only"), db.session_scope(url) as session:
        session.execute(audit.AuditEntry.__table__.update().values(outcome="deny"))
    with pytest.raises(Exception, match="append-only"), db.session_scope(url) as session:
        session.execute(audit.AuditEntry.__table__.delete())


def test_validation_period_assumes_five_business_days_then_thirty() -> None:
    from datetime import date

    from bot.compliance.validation import validation_period_end

    assert validation_period_end(date(2026, 11, 29)) == date(2027, 1, 6)  # Sunday: Mon+5 business days = Dec 7
    assert validation_period_end(date(2026, 12, 4)) == date(2027, 1, 10)  # Friday: Dec 11 + 30
