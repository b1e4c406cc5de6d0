"""The balance, and payments the debtor offers: pay in full or a promise to pay (amount and
date read back, then recorded in the system of record)."""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from actions.common import (
    channel_of,
    collection_stopped,
    disclose,
    is_verified,
    load_account,
    log_event,
    now,
    stop_form,
    texts_of,
    wording,
)
from actions.payment_links import offer_payment_link
from bot import db
from bot.extraction import find_amounts, find_dates, find_impossible_dates, has_negative_amount, today_in
from bot.money import Money, MoneyError
from bot.repayment.arrangements import upcoming_payments
from bot.repayment.promises import check_amount, check_due_date, latest_due_date
from bot.settings import contact_for, promise_rules, verification_rules

IMPOSSIBLE = "impossible:"  # ptp_date extracted from a day its month never has ("impossible:2-31")


class ActionPaymentMethods(Action):
    """How to pay: the methods, and once identity is verified a secure payment link for the next
    agreed payment (a promise or an arrangement's instalment), else for the balance."""

    def name(self) -> str:
        return "action_payment_methods"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account = load_account(tracker) if is_verified(tracker) else None
        company_phone = contact_for(str(account.jurisdiction) if account else None).phone
        dispatcher.utter_message(response="utter_payment_methods", company_phone=company_phone)
        if account is None:
            dispatcher.utter_message(text=texts_of(tracker).get("payment.verify_for_link"))
            return []
        disclosed = disclose(dispatcher, tracker, account)  # before any debt detail (12 CFR 1006.18(e))
        stopped = collection_stopped(dispatcher, tracker, domain)
        if stopped is not None:
            return disclosed + stopped
        if account.balance.minor <= 0:
            dispatcher.utter_message(response="utter_nothing_owed")
            return disclosed
        with db.session_scope() as session:
            upcoming = upcoming_payments(session, str(account.id), today_in(str(account.time_zone)))
            # the earliest agreed payment: an arrangement's next instalment (with the promise the
            # arrangement recorded for it, when there is one) or a promise made beside it
            agreed = upcoming[0] if upcoming else None
            promise_id = agreed.promise_id if agreed is not None else None
            if agreed is not None and agreed.arrangement_id:
                promise_id = session.execute(
                    select(db.PromiseToPay.id).where(
                        db.PromiseToPay.account_id == str(account.id),
                        db.PromiseToPay.status == "open",
                        db.PromiseToPay.due_date == agreed.due,
                        db.PromiseToPay.amount_minor == agreed.amount.minor,
                    )
                ).scalar()
        if agreed is not None and agreed.amount.minor <= account.balance.minor:
            purpose = "instalment" if agreed.arrangement_id else "promise"
            return disclosed + await offer_payment_link(
                dispatcher, tracker, account, agreed.amount, purpose, promise_id
            )
        return disclosed + await offer_payment_link(dispatcher, tracker, account, account.balance, "one_off")


class ActionTellBalance(Action):
    """Balance and days past due, with the next payment already agreed (arrangement or promise
    to pay) if any; only after right-party verification."""

    def name(self) -> str:
        return "action_tell_balance"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account = load_account(tracker) if is_verified(tracker) else None
        if account is None:
            dispatcher.utter_message(response="utter_verify_first")
            return []
        disclosed = disclose(dispatcher, tracker, account)  # before any debt detail (12 CFR 1006.18(e))
        stopped = collection_stopped(dispatcher, tracker, domain)
        if stopped is not None:
            return disclosed + stopped
        with db.session_scope() as session:
            upcoming = upcoming_payments(session, str(account.id), today_in(str(account.time_zone)))
        w = wording(tracker, account)
        said = {
            "last_four": account.last_four,
            "balance": w.money(account.balance),
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
                    amount=w.money(agreed.amount),
                    date=w.day(agreed.due),
                    **said,
                )
        log_event(tracker, "balance_disclosed", detail=str(account.balance))
        return disclosed


class ActionPrepareFullPayment(Action):
    """Pay in full: the promise amount is the whole balance; the form then asks for the date."""

    def name(self) -> str:
        return "action_prepare_full_payment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account = load_account(tracker) if is_verified(tracker) else None
        if account is None:
            return []
        stopped = collection_stopped(dispatcher, tracker, domain)
        if stopped is not None:
            return stopped
        return [SlotSet("ptp_amount", account.balance.as_entity())]


class ValidatePtpForm(FormValidationAction):
    """Amount and date of a promise to pay, read from the current message only, in the account's
    currency and time zone, and checked against the balance and ``data/promises.yml``."""

    def name(self) -> str:
        return "validate_ptp_form"

    async def extract_ptp_amount(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = load_account(tracker)
        if account is None:
            return {}
        if (tracker.latest_message.get("intent") or {}).get("name") == "pay_in_full":
            return {"ptp_amount": account.balance.as_entity()}
        text = tracker.latest_message.get("text") or ""
        if has_negative_amount(text):  # "-50": validated below and asked again, never read as 50
            return {"ptp_amount": {"amount": "-1", "currency": str(account.currency)}}
        found = find_amounts(text, str(account.currency), str(account.time_zone))
        if found:
            return {"ptp_amount": found[0].money.as_entity()}
        if tracker.get_slot("requested_slot") == "ptp_amount":
            dispatcher.utter_message(response="utter_ptp_amount_unreadable")
        return {}

    async def extract_ptp_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = load_account(tracker)
        if account is None:
            return {}
        order = verification_rules().date_order_for(str(account.jurisdiction))
        text = tracker.latest_message.get("text") or ""
        dates = find_dates(text, str(account.time_zone), now(), order)
        if dates:
            return {"ptp_date": dates[0].value.isoformat()}
        impossible = find_impossible_dates(text, order)
        if impossible:  # "the 31st of February": validated below with a question, never another month
            return {"ptp_date": f"{IMPOSSIBLE}{impossible[0].month}-{impossible[0].day}"}
        if tracker.get_slot("requested_slot") == "ptp_date":
            dispatcher.utter_message(response="utter_ptp_date_unreadable")
        return {}

    async def validate_ptp_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = load_account(tracker)
        if account is None or not isinstance(value, dict):
            return {"ptp_amount": None}
        try:
            money = Money.of(value["amount"], value.get("currency") or str(account.currency))
        except (KeyError, MoneyError):
            return {"ptp_amount": None}
        if money.minor <= 0:  # a clear question instead of a minimum: nothing, or a sign slipped in
            key = "ptp.amount_zero" if money.minor == 0 else "ptp.amount_negative"
            dispatcher.utter_message(text=wording(tracker, account).texts.get(key))
            return {"ptp_amount": None}
        rules = promise_rules()
        check = check_amount(account.balance, money, rules)
        w = wording(tracker, account)
        if check.reason == "currency_mismatch":
            dispatcher.utter_message(response="utter_ptp_currency_mismatch", currency=account.currency)
        elif check.reason == "below_minimum":
            minimum = w.money(Money.of(rules.min_amount, str(account.currency)))
            dispatcher.utter_message(response="utter_ptp_below_minimum", minimum=minimum)
        elif check.reason == "above_balance":
            dispatcher.utter_message(response="utter_ptp_above_balance", balance=w.money(account.balance))
        return {"ptp_amount": money.as_entity() if check.ok else None}

    async def validate_ptp_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        account = load_account(tracker)
        if account is None or not isinstance(value, str):
            return {"ptp_date": None}
        if value.startswith(IMPOSSIBLE):
            month, day = (int(n) for n in value[len(IMPOSSIBLE) :].split("-"))
            w = wording(tracker, account)
            name = format_date(date(2028, month, 1), format="MMMM", locale=w.locale)
            longest = 29 if month == 2 else (date(2028, month % 12 + 1, 1) - date(2028, month, 1)).days
            dispatcher.utter_message(text=w.texts.get("ptp.date_impossible", month=name, day=day, days=longest))
            return {"ptp_date": None}
        try:
            due = date.fromisoformat(value)
        except ValueError:
            return {"ptp_date": None}
        rules = promise_rules()
        today = today_in(str(account.time_zone))
        check = check_due_date(due, today, rules)
        w = wording(tracker, account)
        if check.reason == "date_in_past":
            dispatcher.utter_message(response="utter_ptp_date_in_past")
        elif check.reason == "date_too_far":
            latest = w.day(latest_due_date(today, rules))
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
        stopped = collection_stopped(dispatcher, tracker, domain)
        if stopped is not None:
            return stopped
        w = wording(tracker, load_account(tracker))
        money = Money.of(amount["amount"], amount["currency"])
        dispatcher.utter_message(
            response="utter_confirm_ptp",
            amount=w.money(money),
            date=w.day(date.fromisoformat(due)),
        )
        return []


class ActionRecordPtp(Action):
    """Stores the confirmed promise to pay in the system of record."""

    def name(self) -> str:
        return "action_record_ptp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        amount, due = tracker.get_slot("ptp_amount"), tracker.get_slot("ptp_date")
        if not (is_verified(tracker) and isinstance(amount, dict) and due):
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        # a hold reported meanwhile in another conversation or channel of the account: nothing recorded
        stopped = collection_stopped(dispatcher, tracker, domain)
        if stopped is not None:
            return stopped
        account = load_account(tracker)
        w = wording(tracker, account)
        money = Money.of(amount["amount"], amount["currency"])
        due_date = date.fromisoformat(due)
        with db.session_scope() as session:
            row = db.record_promise(
                session,
                account_id=tracker.get_slot("account_id"),
                amount=money,
                due_date=due_date,
                channel=channel_of(tracker),
                conversation_id=tracker.sender_id,
            )
            reference = row.id
        dispatcher.utter_message(
            response="utter_ptp_recorded",
            amount=w.money(money),
            date=w.day(due_date),
            reference=reference,
        )
        events: list[EventType] = [SlotSet("ptp_amount", None), SlotSet("ptp_date", None)]
        if account is not None:  # pay now if they like: the link keeps this promise when paid
            events += await offer_payment_link(
                dispatcher, tracker, account, money, "promise", int(reference), "payment.link_promise", transfer=False
            )
        return events


class ActionResetPtp(Action):
    """The debtor said the read-back was wrong: clear it and ask again."""

    def name(self) -> str:
        return "action_reset_ptp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ptp_start_over")
        return [SlotSet("ptp_amount", None), SlotSet("ptp_date", None)]


class ActionCancelPtp(Action):
    """The debtor does not want to make a promise after all: leave the form, set nothing up."""

    def name(self) -> str:
        return "action_cancel_ptp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ptp_cancelled")
        return stop_form(tracker) + [SlotSet("ptp_amount", None), SlotSet("ptp_date", None)]
