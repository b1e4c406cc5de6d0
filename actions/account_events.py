"""What the debtor tells us about the account or about contact: a request for a person, an
opt-out or opt-in, a dispute, attorney, bankruptcy, death, cease-contact or contact preference;
and the answer to collection talk while a hold is in force."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    audit_event,
    channel_of,
    current_hold,
    disclose,
    is_verified,
    ledger_entry,
    load_account,
    log_event,
    paused_response,
    stop_form,
    texts_of,
    wording,
)
from bot import db
from bot.compliance.optout import record_opt_in, record_opt_out
from bot.compliance.preferences import as_detail, mentions_work_restriction, named_channels, parse_contact_preference
from bot.compliance.validation import validation_period_end
from bot.extraction import today_in


class ActionRequestHuman(Action):
    """Records the request for a person in the contact log and asks for a handoff."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        log_event(tracker, "human_requested")
        dispatcher.utter_message(response="utter_human_requested")
        dispatcher.utter_message(json_message={"handoff": "requested"})  # voice transfers the call
        return [SlotSet("handoff_reason", "requested")]  # the channels open a ticket for a collector


def record_work_restriction(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """ "Stop calling me at work" / "my employer doesn't allow calls": recorded as
    ``work_contact_prohibited`` (the gate then refuses calls and texts to the work number, 12 CFR
    1006.6(b)(3); CONC 7.9.4R) and confirmed; the debtor's other numbers and this channel stay open."""
    log_event(tracker, "work_contact_prohibited", detail=(tracker.latest_message.get("text") or "")[:500])
    audit_event(tracker, "work_contact_prohibited")
    dispatcher.utter_message(response="utter_work_contact_recorded")
    return stop_form(tracker)


class ActionOptOut(Action):
    """Stops the channels the debtor names ("stop calling me" sent by text stops calls), else the
    channel the request came on (12 CFR 1006.6(e); 1006.14(h)), and confirms once, with no payment
    request in the confirmation. Another channel is stopped for the linked account's phone
    number; this conversation goes on unless its own channel was stopped. "Stop calling me at
    work" stops contact at work only (:func:`record_work_restriction`)."""

    def name(self) -> str:
        return "action_opt_out"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        if mentions_work_restriction(text):
            return record_work_restriction(dispatcher, tracker)
        here = channel_of(tracker)
        channels = named_channels(text) or [here]
        account = load_account(tracker)
        with db.session_scope() as session:
            for channel in channels:
                entry = ledger_entry(tracker)
                if channel != here and channel in ("sms", "voice") and account is not None:
                    entry["address"] = str(session.get(db.Account, account.id).debtor.phone_e164)
                record_opt_out(session, **{**entry, "channel": channel}, wording=text)
        if here in channels:
            dispatcher.utter_message(response="utter_opt_out_confirmed")
            return stop_form(tracker) + [SlotSet("opted_out", True)]
        texts = texts_of(tracker)
        names = [texts.get(f"channel.{c}") for c in channels]
        dispatcher.utter_message(response="utter_opt_out_confirmed_other", channels=texts.join(names))
        return []


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
        work: list[EventType] = []
        if mentions_work_restriction(text):
            # "stop calling me at work" (SafetyPolicy sends it here whatever the intent): recorded;
            # a dispute or a bankruptcy said in the same words is recorded too
            work = record_work_restriction(dispatcher, tracker)
            if intent not in ACCOUNT_EVENTS or intent in ("set_contact_preference", "cease_contact", "abusive"):
                return work
        log_event(tracker, event, detail=text[:500])
        if intent == "set_contact_preference" and (preference := parse_contact_preference(text)):
            # the gate treats hours outside these as inconvenient (12 CFR 1006.6(b)(1)(i))
            log_event(tracker, "inconvenient_time", detail=as_detail(preference))
        events = work or stop_form(tracker)
        events += [SlotSet("handoff_reason", handoff)] if handoff else []
        if event in COMPLIANCE_EVENTS:
            audit_event(tracker, event, detail={"handoff": handoff})
            hold = current_hold(tracker)
            if hold:
                events.append(SlotSet("collection_hold", hold))
        # responses about the debt have a variant for a caller not yet verified, which says nothing
        # that tells a third party the account is a debt (15 U.S.C. 1692b; 12 CFR 1006.6(d))
        dispatcher.utter_message(response=response)
        account = (
            load_account(tracker) if intent in ("dispute_debt", "request_validation") and is_verified(tracker) else None
        )
        if account is not None:
            events += disclose(dispatcher, tracker, account)
            # validation information to the right party only (12 CFR 1006.34(c)); the dispute hold
            # stays until written verification is sent (1006.38(d)(2))
            today = today_in(str(account.time_zone))
            w = wording(tracker, account)
            dispatcher.utter_message(
                response="utter_validation_information",
                last_four=account.last_four,
                as_of=w.day(today),
                balance=w.money(account.balance),
                dispute_by=w.day(validation_period_end(today)),
            )
            log_event(tracker, "validation_information_sent")
        return events


class ActionOptIn(Action):
    """START: lifts this sender's opt-out on this channel and confirms."""

    def name(self) -> str:
        return "action_opt_in"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        with db.session_scope() as session:
            record_opt_in(session, **ledger_entry(tracker))
        dispatcher.utter_message(response="utter_opted_in")
        return [SlotSet("opted_out", False)]


class ActionOptedOutNotice(Action):
    """A message on a channel the debtor opted out of: no collection content, only how to opt
    back in (12 CFR 1006.6(e))."""

    def name(self) -> str:
        return "action_opted_out_notice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_opted_out_notice")
        return stop_form(tracker)


class ActionCollectionPaused(Action):
    """A collection question while a hold is in force (dispute, attorney, bankruptcy, deceased,
    cease contact, crisis, Breathing Space): no balance pitch and no promise, only what happens
    next. The hold is read from the account's contact log now (it belongs to the account, not to
    this conversation); the slot is the fallback for a conversation with no account linked."""

    def name(self) -> str:
        return "action_collection_paused"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("account_id"):
            hold = current_hold(tracker)
            if hold is None:  # lifted since (e.g. verification sent): collection may go on
                dispatcher.utter_message(response="utter_how_can_help")
                return [SlotSet("collection_hold", None)]
        else:
            hold = tracker.get_slot("collection_hold") or "dispute"
        dispatcher.utter_message(response=paused_response(hold, domain))
        return stop_form(tracker) + [SlotSet("collection_hold", hold)]
