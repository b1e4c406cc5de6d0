"""Custom actions. Business rules live in ``bot/``; these read the tracker, call the core, and
turn the result into responses and slot events."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

from babel.dates import format_date
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import db
from bot.compliance import audit
from bot.compliance.optout import record_opt_in, record_opt_out
from bot.compliance.preferences import as_detail, parse_contact_preference
from bot.compliance.profiles import all_profiles, contact_channel
from bot.compliance.service import conversation_holds
from bot.compliance.validation import validation_period_end
from bot.extraction import find_amounts, find_dates, parse_date_of_birth, today_in
from bot.kpis import parse_rating
from bot.money import Money, MoneyError
from bot.repayment.arrangements import upcoming_payments
from bot.repayment.promises import check_amount, check_due_date, latest_due_date
from bot.settings import company_contacts, contact_for, helplines, promise_rules, verification_rules
from bot.verification import (
    IdentityRecord,
    has_second_factor_shape,
    parse_account_reference,
    parse_phone,
    second_factor_matches,
    sender_phone,
)

logger = logging.getLogger(__name__)

# rule files are checked when the action server starts: a bad file stops it with a message
# naming the file and field, instead of failing in the middle of a conversation
all_profiles()
verification_rules()
promise_rules()
helplines()
company_contacts()


def _locale(account: db.Account | None) -> str:
    """Babel locale for money and dates shown to this debtor (data/company.yml)."""
    return contact_for(str(account.jurisdiction) if account else "US")["locale"]


def _channel(tracker: Tracker) -> str:
    """sms, voice, webchat or rest: the contact channel of the latest message."""
    return contact_channel(tracker.get_latest_input_channel())


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _load_account(tracker: Tracker) -> db.Account | None:
    account_id = tracker.get_slot("account_id")
    if not account_id:
        return None
    with db.session_scope() as session:
        account = session.get(db.Account, account_id)
        if account is not None:
            session.expunge(account)
        return account


def _log(tracker: Tracker, event: str, account_id: str | None = None, detail: str | None = None) -> None:
    with db.session_scope() as session:
        db.log_contact(
            session,
            account_id=account_id or tracker.get_slot("account_id"),
            channel=_channel(tracker),
            direction="inbound",
            event=event,
            conversation_id=tracker.sender_id,
            detail=detail,
        )


def _audit(tracker: Tracker, action: str, reasons: list[str] | None = None, detail: Any = None) -> None:
    """An audit-log entry for a compliance-relevant event the bot recorded."""
    with db.session_scope() as session:
        audit.record(
            session,
            actor="bot",
            action=action,
            outcome="recorded",
            reasons=reasons or [],
            account_id=tracker.get_slot("account_id"),
            detail=detail,
        )


def _current_hold(tracker: Tracker) -> str | None:
    """The collection hold in force for the linked account right now (from the contact log)."""
    account_id = tracker.get_slot("account_id")
    if not account_id:
        return None
    with db.session_scope() as session:
        account = session.get(db.Account, account_id)
        hold, _ = conversation_holds(session, account, _channel(tracker), tracker.sender_id, _now())
    return hold


def _verified(tracker: Tracker) -> bool:
    return bool(tracker.get_slot("identity_verified")) and bool(tracker.get_slot("account_id"))


def _stop_form(tracker: Tracker) -> list[EventType]:
    """Events that end any active form, for requests that must interrupt it."""
    return [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop.get("name") else []


def _format_day(value: date, account: db.Account | None = None) -> str:
    return str(format_date(value, format="full", locale=_locale(account)))


def _phone_jurisdiction(sender_id: str) -> str:
    phone = sender_phone(sender_id) or ""
    return {"+44": "UK", "+86": "CN"}.get(phone[:3], "US")


def _account_locked(account_id: str) -> bool:
    """Too many failed verifications for this account recently, in any conversation."""
    rules = verification_rules()
    since = _now() - timedelta(hours=rules.lockout_hours)
    with db.session_scope() as session:
        failures = db.count_events(session, account_id=account_id, event="verification_failed", since=since)
    return failures >= rules.max_attempts


class ActionSessionStart(Action):
    """Starts each conversation: links the account from the sender's phone and gives the
    mini-Miranda as the first bot turn (15 U.S.C. 1692e(11); 12 CFR 1006.18(e))."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        phone = sender_phone(tracker.sender_id)
        jurisdiction = _phone_jurisdiction(tracker.sender_id)
        if phone:
            with db.session_scope() as session:
                account = db.find_account(session, phone_e164=phone)
                if account is not None:
                    events.append(SlotSet("account_id", account.id))
                    jurisdiction = str(account.jurisdiction)
        events.append(SlotSet("company_phone", contact_for(jurisdiction)["phone"]))
        # holds and opt-outs recorded in earlier conversations apply in this one
        metadata = tracker.get_slot("session_started_metadata") or {}
        channel = str(metadata.get("channel") or "rest")
        linked = next((e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "account_id"), None)
        with db.session_scope() as session:
            account = session.get(db.Account, linked) if linked else None
            hold, opted_out = conversation_holds(session, account, channel, phone or tracker.sender_id, _now())
        if hold:
            events.append(SlotSet("collection_hold", hold))
        if opted_out:
            events.append(SlotSet("opted_out", True))
        dispatcher.utter_message(response="utter_mini_miranda")
        events.append(ActionExecuted("action_listen"))
        return events


class ActionStartVerification(Action):
    """Says why identity comes first, unless this conversation is locked after failed attempts."""

    def name(self) -> str:
        return "action_start_verification"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account_id = tracker.get_slot("account_id")
        if account_id and not tracker.get_slot("verification_locked") and _account_locked(account_id):
            _log(tracker, "verification_refused_locked")
            return [SlotSet("verification_locked", True)]
        if not tracker.get_slot("verification_locked"):
            dispatcher.utter_message(response="utter_verify_first")
        # answers captured by an earlier, interrupted verification are not reused
        return [SlotSet("date_of_birth", None), SlotSet("second_factor", None), SlotSet("account_reference", None)]


class ValidateVerificationForm(FormValidationAction):
    """Right-party contact: account (when the sender is not a phone on file), date of birth, then
    postcode or last four.

    Both factors are checked together so a caller never learns which one was wrong; an account
    reference or phone number that matches no account is asked the same questions and fails at
    the end with the same wording, so the answers never reveal which references exist (15 U.S.C.
    1692b, 12 CFR 1006.6(d)). After ``max_attempts`` failures (data/verification.yml) in this
    conversation, verification is locked. An account with ``max_attempts`` failures across
    conversations within ``lockout_hours`` cannot be verified at all; by a typed reference, each
    attempt on it fails like any mismatch, so the lock is not revealed.

    A slot value of ``None`` is never an answer: ``action_start_verification`` clears earlier
    answers with ``SlotSet(..., None)`` and Rasa hands those to the validators at form activation.
    """

    def name(self) -> str:
        return "validate_verification_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot("verification_locked") or tracker.get_slot("identity_verified"):
            return []
        if tracker.get_slot("account_id"):
            return [s for s in domain_slots if s != "account_reference"]
        return list(domain_slots)

    def _fail(self, dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> dict[str, Any]:
        attempts = int(tracker.get_slot("verification_attempts") or 0) + 1
        _log(tracker, "verification_failed", detail=f"attempt {attempts}: {reason}")
        if attempts >= verification_rules().max_attempts:
            _log(tracker, "verification_locked")
            return {"verification_attempts": attempts, "verification_locked": True, "second_factor": "locked"}
        dispatcher.utter_message(response="utter_verification_mismatch")
        retry: dict[str, Any] = {
            "verification_attempts": attempts,
            "date_of_birth": None,
            "second_factor": None,
            "account_reference": None,
        }
        if tracker.get_slot("account_reference"):
            # linked by what the caller typed: ask for it again, as for a reference that matched nothing
            retry["account_id"] = None
        return retry

    async def extract_account_reference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """At form activation only (no slot requested yet): the message that started verification
        answers the first question when it holds an account reference or a phone number, so
        "A-1001" as a first message is not lost. Otherwise the domain's from_text mapping, which
        applies only once the question was asked, fills the slot."""
        if tracker.get_slot("requested_slot") or tracker.get_slot("account_id"):
            return {}
        text = str(tracker.latest_message.get("text") or "")
        if parse_account_reference(text) or parse_phone(text):
            return {"account_reference": text}
        return {}

    async def validate_account_reference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"account_reference": None}
        text = str(value)
        reference = parse_account_reference(text)
        phone = None if reference else parse_phone(text)
        if not (reference or phone):
            # a greeting or a question is not a wrong answer: the form asks again, uncounted
            return {"account_reference": None}
        with db.session_scope() as session:
            account = db.find_account(session, reference=reference, phone_e164=phone)
            account_id = account.id if account is not None else None
        # no answer may differ from here on between a known account, a locked one and no account:
        # they fail at the second factor alike, and the account's country (its phone number, its
        # date order) is used only once identity is confirmed
        return {"account_reference": reference or "phone", "account_id": account_id}

    async def validate_date_of_birth(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"date_of_birth": None}
        account = _load_account(tracker)
        order = verification_rules().date_order_for(account.jurisdiction if account else "US")
        dob = parse_date_of_birth(str(value), order)
        if dob is None:
            # one example for everyone (a month in words reads the same in every date order): an
            # example per country would tell a caller which country a typed reference belongs to
            dispatcher.utter_message(response="utter_dob_unreadable")
            return {"date_of_birth": None}
        return {"date_of_birth": dob.isoformat()}

    async def validate_second_factor(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"second_factor": None}
        text = str(value)
        if not has_second_factor_shape(text):
            dispatcher.utter_message(response="utter_second_factor_unreadable")
            return {"second_factor": None}
        account_id = tracker.get_slot("account_id")
        dob_text = tracker.get_slot("date_of_birth")
        if account_id and _account_locked(account_id):
            # answered as a mismatch, attempt by attempt, exactly as a reference that matches no
            # account: neither the questions nor the answers tell a locked account apart
            _log(tracker, "verification_refused_locked", account_id=account_id)
            return self._fail(dispatcher, tracker, "account locked")
        with db.session_scope() as session:
            account = session.get(db.Account, account_id) if account_id else None
            record = (
                IdentityRecord(account.debtor.date_of_birth, account.debtor.postcode, account.last_four)
                if account is not None
                else None
            )
            jurisdiction = str(account.jurisdiction) if account is not None else "US"
        if record is None or not dob_text:
            return self._fail(dispatcher, tracker, "account not found" if record is None else "no date of birth")
        dob_ok = record.date_of_birth.isoformat() == dob_text
        factor_ok = second_factor_matches(record, text, verification_rules().second_factors)
        if dob_ok and factor_ok:
            _log(tracker, "rpc_verified")
            # keep no identity data in the tracker once it has served its purpose
            return {
                "second_factor": "verified",
                "date_of_birth": "verified",
                "identity_verified": True,
                "company_phone": contact_for(jurisdiction)["phone"],
            }
        return self._fail(dispatcher, tracker, "details do not match")


class ActionVerificationOutcome(Action):
    """After the verification form: confirm, or end with no disclosure when locked."""

    def name(self) -> str:
        return "action_verification_outcome"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if _verified(tracker):
            from actions.plans import ActionOfferPlans, announce_broken_promise

            account = _load_account(tracker)
            if account is not None and announce_broken_promise(dispatcher, account):
                # a missed promise reopens the negotiation on the next contact
                return await ActionOfferPlans().run(dispatcher, tracker, domain)
            dispatcher.utter_message(response="utter_verified")
        elif tracker.get_slot("verification_locked"):
            dispatcher.utter_message(response="utter_verification_locked")
        return []


class ActionTellBalance(Action):
    """Balance and days past due, with the next payment already agreed (arrangement or promise
    to pay) if any; only after right-party verification."""

    def name(self) -> str:
        return "action_tell_balance"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account = _load_account(tracker) if _verified(tracker) else None
        if account is None:
            dispatcher.utter_message(response="utter_verify_first")
            return []
        with db.session_scope() as session:
            upcoming = upcoming_payments(session, str(account.id), today_in(str(account.time_zone)))
        said = {
            "last_four": account.last_four,
            "balance": account.balance.format(_locale(account)),
            "days_past_due": account.days_past_due,
        }
        # what is already agreed, instead of asking for a payment again: the arrangement first,
        # then the earliest promise made beside it
        arrangement = next((u for u in upcoming if u.arrangement_id), None)
        promise = next((u for u in upcoming if u.promise_id), None)
        if arrangement is None and promise is None:
            dispatcher.utter_message(response="utter_balance", **said)
        for agreed, response in (
            (arrangement, "utter_balance_with_arrangement"),
            (promise, "utter_promise_also" if arrangement else "utter_balance_with_promise"),
        ):
            if agreed is not None:
                dispatcher.utter_message(
                    response=response,
                    reference=agreed.arrangement_id or agreed.promise_id,
                    amount=agreed.amount.format(_locale(account)),
                    date=_format_day(agreed.due, account),
                    **said,
                )
        _log(tracker, "balance_disclosed", detail=str(account.balance))
        return []


class ActionPrepareFullPayment(Action):
    """Pay in full: the promise amount is the whole balance; the form then asks for the date."""

    def name(self) -> str:
        return "action_prepare_full_payment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account = _load_account(tracker) if _verified(tracker) else None
        if account is None:
            return []
        return [SlotSet("ptp_amount", account.balance.as_entity())]


class ValidatePtpForm(FormValidationAction):
    """Amount and date of a promise to pay, read from the current message only, in the account's
    currency and time zone, and checked against the balance and ``data/promises.yml``."""

    def name(self) -> str:
        return "validate_ptp_form"

    async def extract_ptp_amount(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = _load_account(tracker)
        if account is None:
            return {}
        if (tracker.latest_message.get("intent") or {}).get("name") == "pay_in_full":
            return {"ptp_amount": account.balance.as_entity()}
        found = find_amounts(tracker.latest_message.get("text") or "", str(account.currency), str(account.time_zone))
        if found:
            return {"ptp_amount": found[0].money.as_entity()}
        if tracker.get_slot("requested_slot") == "ptp_amount":
            dispatcher.utter_message(response="utter_ptp_amount_unreadable")
        return {}

    async def extract_ptp_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = _load_account(tracker)
        if account is None:
            return {}
        order = verification_rules().date_order_for(str(account.jurisdiction))
        dates = find_dates(tracker.latest_message.get("text") or "", str(account.time_zone), _now(), order)
        if dates:
            return {"ptp_date": dates[0].value.isoformat()}
        if tracker.get_slot("requested_slot") == "ptp_date":
            dispatcher.utter_message(response="utter_ptp_date_unreadable")
        return {}

    async def validate_ptp_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = _load_account(tracker)
        if account is None or not isinstance(value, dict):
            return {"ptp_amount": None}
        try:
            money = Money.of(value["amount"], value.get("currency") or str(account.currency))
        except (KeyError, MoneyError):
            return {"ptp_amount": None}
        rules = promise_rules()
        check = check_amount(account.balance, money, rules)
        locale = _locale(account)
        if check.reason == "currency_mismatch":
            dispatcher.utter_message(response="utter_ptp_currency_mismatch", currency=account.currency)
        elif check.reason == "below_minimum":
            minimum = Money.of(rules.min_amount, str(account.currency)).format(locale)
            dispatcher.utter_message(response="utter_ptp_below_minimum", minimum=minimum)
        elif check.reason == "above_balance":
            dispatcher.utter_message(response="utter_ptp_above_balance", balance=account.balance.format(locale))
        return {"ptp_amount": money.as_entity() if check.ok else None}

    async def validate_ptp_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = _load_account(tracker)
        if account is None or not isinstance(value, str):
            return {"ptp_date": None}
        try:
            due = date.fromisoformat(value)
        except ValueError:
            return {"ptp_date": None}
        rules = promise_rules()
        today = today_in(str(account.time_zone))
        check = check_due_date(due, today, rules)
        if check.reason == "date_in_past":
            dispatcher.utter_message(response="utter_ptp_date_in_past")
        elif check.reason == "date_too_far":
            latest = _format_day(latest_due_date(today, rules), account)
            dispatcher.utter_message(response="utter_ptp_date_too_far", max_days=rules.max_days_ahead, latest=latest)
        return {"ptp_date": due.isoformat() if check.ok else None}


class ActionConfirmPtp(Action):
    """Reads the promise back before recording it."""

    def name(self) -> str:
        return "action_confirm_ptp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        amount, due = tracker.get_slot("ptp_amount"), tracker.get_slot("ptp_date")
        if not (isinstance(amount, dict) and due):
            return []
        account = _load_account(tracker)
        money = Money.of(amount["amount"], amount["currency"])
        dispatcher.utter_message(
            response="utter_confirm_ptp",
            amount=money.format(_locale(account)),
            date=_format_day(date.fromisoformat(due), account),
        )
        return []


class ActionRecordPtp(Action):
    """Stores the confirmed promise to pay in the system of record."""

    def name(self) -> str:
        return "action_record_ptp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        amount, due = tracker.get_slot("ptp_amount"), tracker.get_slot("ptp_date")
        if not (_verified(tracker) and isinstance(amount, dict) and due):
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        account = _load_account(tracker)
        money = Money.of(amount["amount"], amount["currency"])
        due_date = date.fromisoformat(due)
        with db.session_scope() as session:
            row = db.record_promise(
                session,
                account_id=tracker.get_slot("account_id"),
                amount=money,
                due_date=due_date,
                channel=_channel(tracker),
                conversation_id=tracker.sender_id,
            )
            reference = row.id
        dispatcher.utter_message(
            response="utter_ptp_recorded",
            amount=money.format(_locale(account)),
            date=_format_day(due_date, account),
            reference=reference,
        )
        return [SlotSet("ptp_amount", None), SlotSet("ptp_date", None)]


class ActionResetPtp(Action):
    """The debtor said the read-back was wrong: clear it and ask again."""

    def name(self) -> str:
        return "action_reset_ptp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ptp_start_over")
        return [SlotSet("ptp_amount", None), SlotSet("ptp_date", None)]


class ActionRequestHuman(Action):
    """Records the request for a person in the contact log and asks for a handoff."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        _log(tracker, "human_requested")
        dispatcher.utter_message(response="utter_human_requested")
        dispatcher.utter_message(json_message={"handoff": "requested"})  # voice transfers the call
        return [SlotSet("handoff_reason", "requested")]  # the channels open a ticket for a collector


def _ledger_entry(tracker: Tracker) -> dict[str, Any]:
    """Who and where for an opt-out ledger entry made in this conversation."""
    return {
        "address": sender_phone(tracker.sender_id) or tracker.sender_id,
        "channel": _channel(tracker),
        "account_id": tracker.get_slot("account_id"),
        "actor": "bot",
        "conversation_id": tracker.sender_id,
    }


class ActionOptOut(Action):
    """Suppresses this channel for this sender (12 CFR 1006.6(e); 1006.14(h)) and confirms once,
    with no payment request in the confirmation."""

    def name(self) -> str:
        return "action_opt_out"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        with db.session_scope() as session:
            record_opt_out(session, **_ledger_entry(tracker), wording=tracker.latest_message.get("text") or "")
        dispatcher.utter_message(response="utter_opt_out_confirmed")
        return _stop_form(tracker) + [SlotSet("opted_out", True)]


class ActionWrongNumber(Action):
    """A third party: no debt detail, note it, and lock the conversation (15 U.S.C. 1692b)."""

    def name(self) -> str:
        return "action_wrong_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        _log(tracker, "wrong_party")
        dispatcher.utter_message(response="utter_wrong_number")
        return [SlotSet("verification_locked", True), SlotSet("identity_verified", False)]


def _jurisdiction(tracker: Tracker) -> str:
    """The account's jurisdiction, else a guess from the sender's phone country, else "US"."""
    account = _load_account(tracker)
    if account is not None:
        return str(account.jurisdiction)
    phone = sender_phone(tracker.sender_id) or ""
    return {"+44": "UK", "+86": "CN"}.get(phone[:3], "US")


class ActionCrisisResponse(Action):
    """Crisis or self-harm language: a safe reply with a helpline, the conversation flagged for a
    person at top priority, any form stopped, and no payment talk (FCA FG21/1; CONC 7.2.1R)."""

    def name(self) -> str:
        return "action_crisis_response"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        lines = helplines()
        region = _jurisdiction(tracker).split("-")[0]
        dispatcher.utter_message(
            response="utter_crisis", helpline=lines.get(region, lines["default"]), emergency=lines["emergency"]
        )
        _log(tracker, "handoff_crisis", detail="priority=1 crisis language")
        _audit(tracker, "handoff_crisis", reasons=["crisis_language"])
        dispatcher.utter_message(json_message={"handoff": "crisis"})
        return _stop_form(tracker) + [
            SlotSet("vulnerable", True),
            SlotSet("handoff_reason", "crisis"),
            SlotSet("collection_hold", "crisis"),
        ]


# intent → (contact-log event, response, handoff reason); the compliance holds these imply are
# applied by the contact gate from the contact log.
ACCOUNT_EVENTS: dict[str, tuple[str, str, str | None]] = {
    "dispute_debt": ("dispute", "utter_dispute_recorded", "dispute"),
    "already_paid": ("already_paid_claim", "utter_already_paid_recorded", "already_paid"),
    "request_validation": ("validation_requested", "utter_validation_recorded", None),
    "cease_contact": ("cease_contact", "utter_cease_recorded", None),
    "attorney_representation": ("attorney", "utter_attorney_recorded", "attorney"),
    "bankruptcy": ("bankruptcy", "utter_bankruptcy_recorded", "bankruptcy"),
    "deceased": ("deceased", "utter_deceased_recorded", "deceased"),
    "set_contact_preference": ("contact_preference", "utter_contact_preference_recorded", None),
    "abusive": ("abuse", "utter_abuse_response", "abuse"),
}


# events that change what the contact gate allows
COMPLIANCE_EVENTS = {
    "dispute",
    "validation_requested",
    "cease_contact",
    "attorney",
    "bankruptcy",
    "deceased",
    "contact_preference",
}


class ActionRecordAccountEvent(Action):
    """Records what the debtor told us (dispute, attorney, bankruptcy, ...) in the contact log with
    the debtor's own words, answers with the matching response, and flags a handoff where a person
    must act. Sources: 12 CFR 1006.34/1006.38 (disputes), 1006.6(b)(2) (attorney), 11 U.S.C. 362
    (automatic stay)."""

    def name(self) -> str:
        return "action_record_account_event"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name", "")
        event, response, handoff = ACCOUNT_EVENTS.get(intent, ("unclassified", "utter_default", None))
        text = tracker.latest_message.get("text") or ""
        _log(tracker, event, detail=text[:500])
        if intent == "set_contact_preference" and (preference := parse_contact_preference(text)):
            # the gate treats hours outside these as inconvenient (12 CFR 1006.6(b)(1)(i))
            _log(tracker, "inconvenient_time", detail=as_detail(preference))
        events = _stop_form(tracker) + ([SlotSet("handoff_reason", handoff)] if handoff else [])
        if event in COMPLIANCE_EVENTS:
            _audit(tracker, event, detail={"handoff": handoff})
            hold = _current_hold(tracker)
            if hold:
                events.append(SlotSet("collection_hold", hold))
        dispatcher.utter_message(response=response)
        account = (
            _load_account(tracker) if intent in ("dispute_debt", "request_validation") and _verified(tracker) else None
        )
        if account is not None:
            # validation information to the right party only (12 CFR 1006.34(c)); the dispute hold
            # stays until written verification is sent (1006.38(d)(2))
            today = today_in(str(account.time_zone))
            dispatcher.utter_message(
                response="utter_validation_information",
                last_four=account.last_four,
                as_of=_format_day(today, account),
                balance=account.balance.format(_locale(account)),
                dispute_by=_format_day(validation_period_end(today), account),
            )
            _log(tracker, "validation_information_sent")
        return events


class ActionAcknowledgeHardship(Action):
    """Acknowledges a hardship once, with extra care when the debtor may be vulnerable, and
    records the classifier's reading (type, duration, evidence) in the contact log."""

    def name(self) -> str:
        return "action_acknowledge_hardship"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        hardship = tracker.latest_message.get("hardship") or {}
        vulnerable = bool(hardship.get("vulnerable") or tracker.get_slot("vulnerable"))
        detail = f"type={hardship.get('type')} duration={hardship.get('duration')} vulnerability={hardship.get('vulnerability')}"
        _log(tracker, "hardship_disclosed", detail=detail)
        dispatcher.utter_message(response="utter_vulnerable_ack" if vulnerable else "utter_hardship_ack")
        events: list[EventType] = []
        if hardship.get("type"):
            events += [
                SlotSet("hardship_type", hardship["type"]),
                SlotSet("hardship_duration", hardship.get("duration")),
            ]
        return events + ([SlotSet("handoff_reason", "vulnerability")] if vulnerable else [])


class ActionOptIn(Action):
    """START: lifts this sender's opt-out on this channel and confirms."""

    def name(self) -> str:
        return "action_opt_in"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        with db.session_scope() as session:
            record_opt_in(session, **_ledger_entry(tracker))
        dispatcher.utter_message(response="utter_opted_in")
        return [SlotSet("opted_out", False)]


class ActionOptedOutNotice(Action):
    """A message on a channel the debtor opted out of: no collection content, only how to opt
    back in (12 CFR 1006.6(e))."""

    def name(self) -> str:
        return "action_opted_out_notice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_opted_out_notice")
        return _stop_form(tracker)


class ActionEndConversation(Action):
    """Goodbye: ends any form and forgets the verification, so the next message on a shared
    device or phone has to verify again."""

    def name(self) -> str:
        return "action_end_conversation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_goodbye")
        events = _stop_form(tracker) + [
            SlotSet("identity_verified", False),
            SlotSet("date_of_birth", None),
            SlotSet("second_factor", None),
            SlotSet("ptp_amount", None),
            SlotSet("ptp_date", None),
            SlotSet("plan_stage", None),
            SlotSet("plan_options", None),
            SlotSet("selected_plan", None),
            SlotSet("monthly_income", None),
            SlotSet("monthly_outgoings", None),
        ]
        if _csat_wanted(tracker):
            # asked once; policies/csat_policy.py takes a bare 1-5 reply to it as the answer
            voice = _channel(tracker) == "voice"
            dispatcher.utter_message(response="utter_csat_question_voice" if voice else "utter_csat_question")
            events.append(SlotSet("csat_asked", True))
        return events


def _csat_wanted(tracker: Tracker) -> bool:
    """Ask the CSAT question once per conversation, and never after an opt-out (no further
    messages, 12 CFR 1006.6(e)), a wrong party or a locked verification, or a crisis."""
    return not (
        tracker.get_slot("csat_asked")
        or tracker.get_slot("opted_out")
        or tracker.get_slot("verification_locked")
        or tracker.get_slot("collection_hold") == "crisis"
        or tracker.get_slot("handoff_reason") == "crisis"
    )


class ActionRecordCsat(Action):
    """Records the answer to the CSAT question: slot ``csat_score`` (1-5) and a contact-log event
    ``csat`` whose detail is the score."""

    def name(self) -> str:
        return "action_record_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        score = parse_rating(tracker.latest_message.get("text"))
        if score is None:  # the policy only predicts this action for a rating; stay safe anyway
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        _log(tracker, "csat", detail=str(score))
        dispatcher.utter_message(response="utter_csat_thanks")
        return [SlotSet("csat_score", float(score))]


class ActionCollectionPaused(Action):
    """A collection question while a hold is in force (dispute, attorney, bankruptcy, deceased,
    cease contact, crisis): no balance pitch and no promise, only what happens next."""

    def name(self) -> str:
        return "action_collection_paused"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        hold = tracker.get_slot("collection_hold") or "dispute"
        response = f"utter_paused_{hold}"
        known = response in (domain.get("responses") or {})
        dispatcher.utter_message(response=response if known else "utter_human_requested")
        return _stop_form(tracker)


class ActionCancelPtp(Action):
    """The debtor does not want to make a promise after all: leave the form, set nothing up."""

    def name(self) -> str:
        return "action_cancel_ptp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ptp_cancelled")
        return _stop_form(tracker) + [SlotSet("ptp_amount", None), SlotSet("ptp_date", None)]
