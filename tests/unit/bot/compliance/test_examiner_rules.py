"""The rules an examiner checks next, each test named with its citation and driven by a table:
disclosure timing, business names, the validation period across a US federal holiday, the
validation notice (PDF and its page 1 as PNG under reports/), e-mail through a real local SMTP
server with its opt-out link, time-barred debt, typed phone numbers, SCRA, Breathing Space,
UK I&E trigger figures and holds recorded from a ticket's outcome."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pypdfium2
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bot import db
from bot.compliance.breathing_space import BreathingSpaceError, breathing_space_status, record_breathing_space
from bot.compliance.disclosures import business_name_problems, disclosure_due
from bot.compliance.gate import ContactEvent, ContactRequest, check
from bot.compliance.limitations import status as limitation_status
from bot.compliance.lint import lint
from bot.compliance.notices import content_for, create_notice, mark_mailed, render_pdf, render_png, send_notice
from bot.compliance.preferences import mentions_work_restriction
from bot.compliance.profiles import all_profiles, profile_for
from bot.compliance.scra import scra_status
from bot.compliance.service import gate_contact, history_for
from bot.compliance.validation import assumed_receipt, validation_period_end
from bot.mailer import EmailSettings, read_unsubscribe_token, usable_address
from bot.money import Money
from bot.repayment.sfs import above_triggers
from channels.email import unsubscribe
from scripts.services import ROOT, free_port

UTC = timezone.utc
REPORTS = ROOT / "reports"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def request(**kw: Any) -> ContactRequest:
    base: dict[str, Any] = dict(
        account_id="A-1",
        jurisdiction="US-MA",
        channel="voice",
        address_time_zone="America/New_York",
        phone_e164="+16175550199",
    )
    base.update(kw)
    return ContactRequest(**base)


# -- 12 CFR 1006.18(e), 15 U.S.C. 1692b: what is said before and after right-party contact -------


def test_every_profile_says_its_first_and_later_disclosures_and_when_1006_18_e() -> None:
    for profile in all_profiles():
        rules = profile.disclosures
        assert rules.before_rpc == "business_name", profile.jurisdiction
        assert rules.first.when == rules.later.when == "after_rpc"
        assert rules.first.citation and rules.later.citation and rules.later_conversation
        assert rules.first.text_for("en") != rules.later.text_for("en")
    us = profile_for("US").disclosures
    assert us.first.text_for("en").startswith("This is a debt collector. This is an attempt to collect a debt")
    assert "from a debt collector" in us.later.text_for("en") and "1006.18(e)(2)" in us.later.citation


def test_business_names_do_not_suggest_debt_collection_1006_2_j_1_i_and_1692b() -> None:
    assert business_name_problems() == []
    us = profile_for("US").disclosures.business_name_must_not_match
    for bad in ("Example Debt Recovery", "ACME Collections", "Arrears Management Ltd"):
        assert us.search(bad), bad


def test_the_first_disclosure_once_then_the_later_one_1006_18_e(portfolio_database: str) -> None:
    with db.session_scope() as session:
        first = disclosure_due(session, "A-1003", "US-WA", "en")
        assert first.kind == "first" and first.event == "disclosure_first"
        db.log_contact(session, account_id="A-1003", channel="sms", direction="outbound", event=first.event)
        session.flush()
        later = disclosure_due(session, "A-1003", "US-WA", "en")
        assert later.kind == "later" and "from a debt collector" in later.text
        uk = disclosure_due(session, "A-2001", "UK", "en")
        assert uk.kind == "first" and "collections team" in uk.text


# -- 12 CFR 1006.34(b)(5): the validation period, business days and US federal holidays -----------


@pytest.mark.parametrize(
    ("sent", "received", "period_end", "why"),
    [
        ("2026-11-16", "2026-11-23", "2026-12-23", "Monday: five business days, no holiday"),
        ("2026-11-23", "2026-12-01", "2026-12-31", "Monday of Thanksgiving week: one day later"),
        ("2026-11-24", "2026-12-02", "2027-01-01", "Tuesday before Thanksgiving (Nov 26): one day later"),
        ("2026-12-21", "2026-12-29", "2027-01-28", "the week of Christmas (Dec 25)"),
        ("2026-12-28", "2027-01-05", "2027-02-04", "New Year's Day (Jan 1)"),
        ("2026-11-29", "2026-12-07", "2027-01-06", "a Sunday counts from Monday"),
    ],
)
def test_validation_period_across_us_federal_holidays_1006_34_b_5(
    sent: str, received: str, period_end: str, why: str
) -> None:
    assert assumed_receipt(date.fromisoformat(sent)).isoformat() == received, why
    assert validation_period_end(date.fromisoformat(sent)).isoformat() == period_end, why


def test_validation_notice_for_a1001_renders_model_form_b1_1006_34(portfolio_database: str) -> None:
    """The PDF for A-1001 with its page 1 as reports/validation_notice_A-1001.png, provided on
    the Tuesday before Thanksgiving: the dispute date is a day later than without the holiday."""
    with db.session_scope() as session:
        account = session.get(db.Account, "A-1001")
        content = content_for(account, date(2026, 11, 24))
        pdf = render_pdf(content)
    assert content.period_end == date(2027, 1, 1)
    assert content.itemization_balance.minor + content.interest.minor - content.credits.minor == 124050
    document = pypdfium2.PdfDocument(pdf)
    assert len(document) == 1
    text = document[0].get_textpage().get_text_range()
    document.close()
    for expected in (
        "Example Lending is a debt collector.",
        "As of",
        "You were charged this amount in interest:",
        "You paid or were credited this amount toward the debt:",
        "Total amount of the debt now:",
        "$1,240.50",
        "Call or write to us by January 1, 2027 to dispute all or part of the debt.",
        "name and address of the original creditor",
        "How do you want to respond?",
        "This is not my debt.",
        "I want you to send me the name and address of the original creditor.",
        "Jordan Avery",
        "4821",
    ):
        assert expected in text.replace("\r\n", " ").replace("\n", " "), expected
    png = render_png(pdf, REPORTS / "validation_notice_A-1001.png")
    assert png.stat().st_size > 20_000


# -- e-mail: a real local SMTP server, the opt-out link (12 CFR 1006.6(e)), 1006.6(d)(4), E-SIGN ---


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[EmailSettings, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = EmailSettings(
        "127.0.0.1", controller.port, "", "", False, "Example Lending <n@example.test>", "http://x"
    )
    yield settings, inbox
    controller.stop()


def test_the_notice_goes_by_email_with_consent_and_lifts_a_dispute_only_when_sent_1006_38_d_2(
    portfolio_database: str, smtp: tuple[EmailSettings, _Inbox]
) -> None:
    settings, inbox = smtp
    now = at("2026-11-24T15:00:00")
    with db.session_scope() as session:
        db.log_contact(session, account_id="A-1001", channel="sms", direction="inbound", event="dispute")
        account = session.get(db.Account, "A-1001")
        assert gate_contact(session, account, "sms", now, "test").reasons[0].code == "hold_dispute"
        notice = create_notice(session, account, now)
        assert (notice.method, notice.status, notice.to_address) == ("email", "queued", "jordan.avery@example.com")
        assert gate_contact(session, account, "sms", now, "test").reasons[0].code == "hold_dispute"  # queued: no lift
        send_notice(session, notice, now, settings)
        assert notice.status == "sent" and notice.period_end == date(2027, 1, 1)
        assert gate_contact(session, account, "sms", now, "test").allowed  # verification sent: lifted
        events = [e.event for e in history_for(session, "A-1001")]
        assert events[-3:] == ["validation_notice_sent", "verification_sent", "email_sent"]
    [message] = inbox.messages
    assert (
        message["To"] == "jordan.avery@example.com" and "This is a debt collector." in message.get_body().get_content()
    )
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf" and attachment.get_content().startswith(b"%PDF")
    link = message["List-Unsubscribe"].strip("<>")
    assert link.split("?t=")[1] in message.get_body().get_content()
    # the opt-out link works: recorded in the ledger, and the gate refuses e-mail from then on
    status, page = unsubscribe(link.split("?t=")[1])
    assert status == 200 and "jordan.avery@example.com" in page
    with db.session_scope() as session:
        account = session.get(db.Account, "A-1001")
        assert (
            session.execute(select(db.OptOut).where(db.OptOut.channel == "email")).scalars().one().account_id
            == "A-1001"
        )
        refused = gate_contact(session, account, "email", now + timedelta(minutes=1), "test")
        assert refused.outcome == "deny" and refused.reasons[0].code == "hold_opt_out"
        # a later notice goes by mail, and a mailed one is sent only once posted
        notice = create_notice(session, account, now + timedelta(minutes=2))
        assert notice.method == "mail" and "Cambridge" in notice.to_address
        assert mark_mailed(session, notice.id, now + timedelta(hours=1), "test").status == "sent"
    assert unsubscribe("forged%7C%7Ctoken")[0] == 400 and read_unsubscribe_token("x|y|z") is None


@pytest.mark.parametrize(
    ("address", "source", "problem"),
    [
        ("jordan@example.com", "consumer_used", None),
        ("jordan@example.com", None, "no_safe_harbour_procedure"),
        (None, "consumer_used", "no_email_address"),
    ],
)
def test_email_addresses_rest_on_a_safe_harbour_procedure_1006_6_d_4(
    address: str | None, source: str | None, problem: str | None
) -> None:
    assert usable_address(address, source) == problem


def test_no_contact_window_for_email_but_holds_apply_1006_6_b_1() -> None:
    night = at("2026-11-30T07:00:00")  # 02:00 in Boston
    assert check(request(channel="sms"), [], night).outcome == "defer"
    assert check(request(channel="email"), [], night).allowed
    held = [ContactEvent(night - timedelta(days=1), "cease_contact", "sms")]
    assert check(request(channel="email"), held, night).outcome == "deny"


# -- time-barred debt: 12 CFR 1006.26(b), data/limitations.yml ------------------------------------


@pytest.mark.parametrize(
    ("account_id", "time_barred", "revival_risk", "citation"),
    [
        ("A-1004", True, False, "N.Y. C.P.L.R. 214-i"),  # a payment does not revive it in New York
        ("A-1005", True, True, "Fla. Stat. 95.11(2)(b)"),  # a payment could revive it in Florida
        ("A-1001", False, False, "M.G.L. c. 260, s. 2"),
    ],
)
def test_time_barred_accounts_1006_26_b(
    portfolio_database: str, account_id: str, time_barred: bool, revival_risk: bool, citation: str
) -> None:
    with db.session_scope() as session:
        found = limitation_status(session.get(db.Account, account_id), date(2026, 12, 5))
    assert (found.time_barred, found.revival_risk) == (time_barred, revival_risk)
    assert found.limitation is not None and found.limitation.citation.startswith(citation)


@pytest.mark.parametrize("text", ["We may sue you for this.", "We could take legal action.", "a court judgment"])
def test_no_suit_talk_to_a_time_barred_debtor_1006_26_b(text: str) -> None:
    us = profile_for("US-NY")
    assert [v.rule for v in lint(text, us, "sms", time_barred=True).violations] == ["time_barred_suit"]
    assert not [v for v in lint(text, us, "webchat", time_barred=False).violations if v.rule == "time_barred_suit"]


# -- phone numbers have types: 12 CFR 1006.6(b)(3), 940 CMR 7.04(1)(f), CONC 7.9.4R -----------------


@pytest.mark.parametrize(
    ("text", "work"),
    [
        ("stop calling me at work", True),
        ("my employer doesn't allow personal calls", True),
        ("please don't ring my office", True),
        ("I can't take calls at work", True),
        ("stop calling me", False),
        ("only call after 6pm", False),
    ],
)
def test_work_restrictions_are_heard(text: str, work: bool) -> None:
    assert mentions_work_restriction(text) is work


@pytest.mark.parametrize("jurisdiction", ["US", "US-MA", "UK"])
def test_no_calls_to_a_work_number_once_the_employer_prohibits_them_1006_6_b_3(jurisdiction: str) -> None:
    now = at("2026-12-01T16:00:00")
    zone = "Europe/London" if jurisdiction == "UK" else "America/New_York"
    told = [ContactEvent(now - timedelta(days=1), "work_contact_prohibited", "sms")]
    work = request(jurisdiction=jurisdiction, address_time_zone=zone, phone_kind="work")
    mobile = request(jurisdiction=jurisdiction, address_time_zone=zone, phone_kind="mobile")
    assert check(work, told, now).reasons[0].code == "hold_work_contact"
    assert check(mobile, told, now).allowed
    assert check(work, [], now).allowed


def test_massachusetts_two_in_thirty_days_to_numbers_not_personal_940_cmr_7_04_1_f() -> None:
    now = at("2026-12-01T16:00:00")
    to_work = [ContactEvent(now - timedelta(days=d), "call_attempt", "voice", phone_kind="work") for d in (20, 10)]
    decision = check(request(phone_kind="work"), to_work, now)
    assert decision.outcome == "defer" and decision.reasons[0].code == "cap_ma_non_personal_contacts_30d"
    assert decision.defer_until is not None and decision.defer_until >= now + timedelta(days=10)
    # the same two calls leave the personal numbers' 2-in-7-days cap alone
    assert check(request(phone_kind="mobile"), to_work, now).allowed
    assert check(request(jurisdiction="US", phone_kind="work"), to_work, now).allowed  # Massachusetts only


# -- SCRA: 50 U.S.C. 3937(b) ------------------------------------------------------------------------


def test_scra_flag_until_documents_arrive_50_usc_3937_b() -> None:
    asked = ContactEvent(at("2026-11-01T10:00:00"), "scra_requested", "sms")
    assert scra_status([asked]).awaiting_documents
    got = ContactEvent(at("2026-11-20T10:00:00"), "scra_documents_received", "mail")
    assert not scra_status([asked, got]).awaiting_documents


# -- UK Breathing Space: SI 2020/1311 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "events", "days_later", "active"),
    [
        ("standard", [], 59, True),
        ("standard", [], 61, False),
        ("mental_health", [], 400, True),  # until treatment ends, however long
        ("mental_health", [("breathing_space_ended", 100)], 129, True),  # + 30 days after treatment
        ("mental_health", [("breathing_space_ended", 100)], 131, False),
    ],
)
def test_breathing_space_holds_and_freezes_si_2020_1311(
    kind: str, events: list[tuple[str, int]], days_later: int, active: bool
) -> None:
    start = at("2026-01-05T00:00:00")
    event = "breathing_space" if kind == "standard" else "breathing_space_mental_health"
    history = [ContactEvent(start, event, "mail", "reference=BS123 type=" + kind)]
    history += [ContactEvent(start + timedelta(days=d), name, "mail") for name, d in events]
    now = start + timedelta(days=days_later, hours=12)
    uk = request(jurisdiction="UK", address_time_zone="Europe/London", phone_e164="+447700900101", channel="sms")
    decision = check(uk, history, now)
    status = breathing_space_status(history, now)
    assert status is not None and status.active is active and status.interest_frozen is active
    assert status.reference == "BS123"
    assert (decision.outcome == "deny") is active
    if active:
        assert decision.reasons[0].code.startswith("hold_breathing_space")


def test_breathing_space_needs_the_reference_and_a_uk_account(portfolio_database: str) -> None:
    with db.session_scope() as session:
        with pytest.raises(BreathingSpaceError, match="reference"):
            record_breathing_space(
                session, account_id="A-2001", reference=" ", kind="standard", start=date.today(), actor="t"
            )
        with pytest.raises(BreathingSpaceError, match="not a UK account"):
            record_breathing_space(
                session, account_id="A-1001", reference="BS1", kind="standard", start=date.today(), actor="t"
            )
        record_breathing_space(
            session, account_id="A-2001", reference="BS1", kind="standard", start=date.today(), actor="t"
        )
        account = session.get(db.Account, "A-2001")
        assert gate_contact(session, account, "sms", datetime.now(UTC), "t").reasons[0].code == "hold_breathing_space"


# -- UK I&E: CONC 7.3.4R, 7.3.7AG -------------------------------------------------------------------


def test_spending_above_sfs_trigger_figures_is_flagged_for_a_question_conc_7_3_7ag() -> None:
    spending = {"food_and_housekeeping": Money.of("650", "GBP"), "personal_costs": Money.of("40", "GBP")}
    [above] = above_triggers(spending)
    assert above.category == "food_and_housekeeping" and above.trigger == Money.of("400", "GBP")
    assert above_triggers({"food_and_housekeeping": Money.of("650", "USD")}) == []


# -- a ticket's outcome records its hold for the account -------------------------------------------


def test_resolving_a_ticket_with_dispute_logged_records_the_hold(portfolio_database: str) -> None:
    from bot.handoff import Ticket, record_outcome_hold

    ticket = Ticket(7, "web-1", "A-1003", "webchat", "requested", 4, datetime.now(UTC), "claimed")
    with db.session_scope() as session:
        assert record_outcome_hold(session, ticket, "dispute_logged", "sam") == "dispute"
        assert record_outcome_hold(session, ticket, "ptp", "sam") is None
        account = session.get(db.Account, "A-1003")
        assert gate_contact(session, account, "sms", datetime.now(UTC), "t").reasons[0].code == "hold_dispute"


def test_no_response_or_text_talks_of_suit_so_time_barred_debtors_get_them_all_1006_26_b() -> None:
    """Every domain response and every text passes the time-barred wording rules too, so the
    send-time lint can hold a sender whose account is not known to the strictest reading."""
    import yaml

    from bot.texts import all_texts

    texts = [
        (name, v["text"])
        for path in sorted((ROOT / "bot/domain").glob("*.yml"))
        for name, variants in (yaml.safe_load(path.read_text()).get("responses") or {}).items()
        for v in variants
    ] + [(key, text) for _, key, text in all_texts()]
    for profile in all_profiles():
        bad = [(n, v.rule) for n, t in texts for v in lint(t, profile, "webchat", time_barred=True).violations]
        assert not bad, f"{profile.jurisdiction}: {bad}"
