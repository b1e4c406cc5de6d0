"""Right-party contact: verification of the debtor's identity before anything about the debt
(15 U.S.C. 1692b; 12 CFR 1006.6(d)), its outcome, and a wrong party."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    current_hold,
    disclose,
    is_verified,
    load_account,
    log_event,
    now,
    paused_response,
    stop_form,
    wording,
)
from actions.plans import ActionOfferPlans, announce_broken_promise
from bot import db, logmask
from bot.extraction import parse_date_of_birth
from bot.settings import contact_for, verification_rules
from bot.verification import (
    IdentityRecord,
    has_second_factor_shape,
    parse_account_reference,
    parse_phone,
    second_factor_matches,
    third_party_for_debtor,
)


def account_locked(account_id: str) -> bool:
    """Too many failed verifications for this account recently, in any conversation
    (``max_attempts`` within ``lockout_hours``, data/verification.yml)."""
    rules = verification_rules()
    since = now() - timedelta(hours=rules.lockout_hours)
    with db.session_scope() as session:
        failures = db.count_events(session, account_id=account_id, event="verification_failed", since=since)
    return failures >= rules.max_attempts


class ActionStartVerification(Action):
    """Says why identity comes first, unless this conversation is locked after failed attempts."""

    def name(self) -> str:
        return "action_start_verification"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account_id = tracker.get_slot("account_id")
        if account_id and not tracker.get_slot("verification_locked") and account_locked(account_id):
            log_event(tracker, "verification_refused_locked")
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
        log_event(tracker, "verification_failed", detail=f"attempt {attempts}: {reason}")
        if attempts >= verification_rules().max_attempts:
            log_event(tracker, "verification_locked")
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
        account = load_account(tracker)
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
        if account_id and account_locked(account_id):
            # answered as a mismatch, attempt by attempt, exactly as a reference that matches no
            # account: neither the questions nor the answers tell a locked account apart
            log_event(tracker, "verification_refused_locked", account_id=account_id)
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
            log_event(tracker, "rpc_verified")
            # keep no identity data in the tracker once it has served its purpose
            return {
                "second_factor": "verified",
                "date_of_birth": "verified",
                "identity_verified": True,
                "company_phone": contact_for(jurisdiction).phone,
            }
        return self._fail(dispatcher, tracker, "details do not match")


class ActionVerificationOutcome(Action):
    """After the verification form: the disclosure first (the mini-Miranda in the first
    conversation, "from a debt collector" in a later one: 12 CFR 1006.18(e)), then the account's
    holds read from the contact log (a hold reported in another conversation or channel applies
    here at once: no invitation to pay, the hold's reply instead), then the confirmation; or an
    end with no disclosure when locked."""

    def name(self) -> str:
        return "action_verification_outcome"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if is_verified(tracker):
            account = load_account(tracker)
            events = disclose(dispatcher, tracker, account)
            hold = current_hold(tracker)
            events.append(SlotSet("collection_hold", hold))
            if hold:
                dispatcher.utter_message(response="utter_verified_on_hold")
                dispatcher.utter_message(response=paused_response(hold, domain))
                return events
            if account is not None and announce_broken_promise(dispatcher, account, wording(tracker, account)):
                # a missed promise reopens the negotiation on the next contact
                return events + await ActionOfferPlans().run(dispatcher, tracker, domain)
            dispatcher.utter_message(response="utter_verified")
            return events
        elif tracker.get_slot("verification_locked"):
            dispatcher.utter_message(response="utter_verification_locked")
        return []


class ActionWrongNumber(Action):
    """A third party (a wrong number, or someone who answers for the debtor): no debt detail,
    noted, the conversation locked, and an offer to take a message for the person we are trying
    to reach (15 U.S.C. 1692b, 1692c(b); 12 CFR 1006.6(d)): they may leave one and learn nothing.
    Someone answering for the debtor (``data/third_party.yml``) is thanked and told how the
    debtor can call us; anyone else is told it was a wrong number first."""

    def name(self) -> str:
        return "action_wrong_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        log_event(tracker, "wrong_party", detail=logmask.mask(text)[:200])
        if third_party_for_debtor(text):
            dispatcher.utter_message(response="utter_third_party_message_offer")
        else:
            dispatcher.utter_message(response="utter_wrong_number")
            dispatcher.utter_message(response="utter_leave_a_message")
        return [
            *stop_form(tracker),
            SlotSet("verification_locked", True),
            SlotSet("identity_verified", False),
            SlotSet("third_party_message_pending", True),
        ]


class ActionTakeMessage(Action):
    """The message a third party leaves for the debtor: kept in the contact log (the debtor's
    data masked) for a collector to read, thanked, and nothing said about the account (15 U.S.C.
    1692b)."""

    def name(self) -> str:
        return "action_take_message"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = logmask.mask(tracker.latest_message.get("text") or "")
        log_event(tracker, "third_party_message", detail=text[:500])
        dispatcher.utter_message(response="utter_third_party_message_taken")
        return [SlotSet("third_party_message_pending", False)]
