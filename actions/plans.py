"""Plan actions: the I&E form, options and counter-offers, selection, and the arrangement.
The rules live in ``bot/repayment/plans.py`` (engine), ``bot/repayment/affordability.py`` (I&E),
``bot/repayment/negotiation.py`` (choices and offers) and ``bot/repayment/arrangements.py`` (system of record)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    Wording,
    channel_of,
    collection_stopped,
    disclose,
    is_verified,
    load_account,
    log_event,
    now,
    wording,
)
from actions.payment_links import offer_payment_link
from bot import db
from bot.extraction import today_in
from bot.money import Money
from bot.outreach.segments import classify, facts_for
from bot.outreach.strategies import strategy_for
from bot.repayment.affordability import (
    SKIPPED,
    Statement,
    disposable,
    ie_rules,
    income_needs_confirming,
    is_skip,
    outgoings_from_slot,
    outgoings_slot,
    outgoings_total,
    read_statement,
)
from bot.repayment.arrangements import (
    active_arrangement,
    mark_broken,
    option_from_dict,
    option_to_dict,
    record_arrangement,
)
from bot.repayment.negotiation import choose_option, is_counter_offer, read_offer
from bot.repayment.plans import (
    Counter,
    OfferPolicy,
    PlanOption,
    PlanRequest,
    counter_instalments,
    counter_settlement,
    financial_hardship,
    is_holiday,
    moved_off_cadence,
    policy_for,
    propose,
)
from bot.repayment.sfs import above_triggers

ie_rules()  # a bad data/income_expenditure.yml stops the action server at start-up, naming the field
IE_SLOTS = ("monthly_income", "monthly_outgoings")


def describe(option: PlanOption, w: Wording) -> str:
    """One line for an option: what, how much, when, in total, and any interest or discount."""
    t = w.texts
    first, last = option.schedule[0], option.schedule[-1]
    count = len(option.schedule)
    due = w.day(first.due, "medium")
    if option.kind == "settlement":
        return t.get(
            "plan.option.settlement",
            total=w.money(option.total),
            first_due=due,
            discount=w.money(option.discount),
        )
    if option.kind == "pay_in_full":
        return t.get("plan.option.pay_in_full", total=w.money(option.total), first_due=due)
    if option.kind == "deferral":
        return t.get("plan.option.deferral", first_due=due)
    freq = t.get(f"plan.frequency.{option.frequency}") if option.frequency else ""
    amount = w.money(first.amount)
    if option.kind == "reduced_payments":
        return t.get("plan.option.reduced_payments", count=count, frequency=freq, amount=amount, first_due=due)
    groups = amount_groups(option)
    if len(groups) == 1:
        line = t.get("plan.option.instalments", count=count, frequency=freq, amount=amount)
    else:  # said as it is: "5 of $1,580.39 and 1 of $1,580.38", never "6 payments of $1,580.38"
        parts = [t.get("plan.option.group", n=n, amount=w.money(m)) for m, n in groups]
        joined = t.get("plan.option.group_and").join([", ".join(parts[:-1]), parts[-1]])
        line = t.get("plan.option.instalments_mixed", count=count, frequency=freq, groups=joined)
    line += t.get("plan.option.span", first_due=due, last_due=w.day(last.due, "medium"), total=w.money(option.total))
    if option.interest.minor:
        rate = f"{option.rate * 100:.2f}"
        line += t.get("plan.option.interest", interest=w.money(option.interest), rate=rate)
    else:
        line += t.get("plan.option.no_interest")
    return line


def amount_groups(option: PlanOption) -> list[tuple[Money, int]]:
    """The option's non-zero payment amounts with how many times each is due, the most frequent
    first (ties in schedule order): [(1580.39, 5), (1580.38, 1)]."""
    counts: dict[Money, int] = {}
    for payment in option.schedule:
        if payment.amount.minor:
            counts[payment.amount] = counts.get(payment.amount, 0) + 1
    order = list(counts)
    return sorted(counts.items(), key=lambda item: (-item[1], order.index(item[0])))


def schedule_lines(option: PlanOption, w: Wording, shown: int = 6) -> str:
    """The payment dates and amounts, one per line; long schedules are shortened. A payment moved
    off the plan's cadence says from when and why ("moved from Dec 25, 2026, a public holiday")."""
    t = w.texts
    moved = moved_off_cadence([p.due for p in option.schedule], option.frequency)

    def line(due: date, amount: Money) -> str:
        text = t.get("plan.schedule.payment", day=w.day(due, "medium"), amount=w.money(amount))
        regular = moved.get(due)
        if regular is None:
            return text
        # why the regular day was skipped; a weekend day followed by a holiday names both (Sunday
        # 14 Feb, then Presidents' Day on the 15th)
        skipped = [regular + timedelta(days=i) for i in range((due - regular).days)]
        holidays = [bool(w.jurisdiction) and is_holiday(d, w.jurisdiction) for d in skipped]
        why = "holiday" if holidays[0] else "weekend_holiday" if any(holidays) else "weekend"
        return text + t.get("plan.schedule.moved", day=w.day(regular, "medium"), why=t.get(f"plan.schedule.why_{why}"))

    lines = [line(p.due, p.amount) for p in option.schedule if p.amount.minor]
    if not lines:
        return t.get("plan.schedule.nothing_until", day=w.day(option.schedule[0].due, "medium"))
    if len(lines) > shown:
        rest = len(lines) - shown + 1
        last = w.day(option.schedule[-1].due, "medium")
        lines = [*lines[: shown - 1], t.get("plan.schedule.more", rest=rest, day=last)]
    return "\n".join(lines)


def _disposable(tracker: Tracker) -> tuple[Money, Money, Money] | None:
    """(income, outgoings, disposable) a month from the I&E slots, None when skipped or unknown."""
    income_raw = tracker.get_slot("monthly_income")
    outgoings = outgoings_from_slot(tracker.get_slot("monthly_outgoings"))
    if not isinstance(income_raw, dict) or outgoings is None:
        return None
    income = Money.of(income_raw["amount"], income_raw["currency"])
    return income, outgoings_total(outgoings, income.currency), disposable(income, outgoings)


def plan_request(tracker: Tracker, account: db.Account) -> PlanRequest:
    """The engine's input for this account and conversation (hardship, I&E, contract rate)."""
    figures = _disposable(tracker)
    return PlanRequest(
        balance=account.balance,
        days_past_due=int(account.days_past_due),
        jurisdiction=str(account.jurisdiction),
        today=today_in(str(account.time_zone)),
        hardship_type=tracker.get_slot("hardship_type"),
        hardship_duration=tracker.get_slot("hardship_duration"),
        disposable_monthly=figures[2] if figures else None,
        annual_rate=account.annual_rate,
    )


def plan_terms(tracker: Tracker, account: db.Account) -> tuple[OfferPolicy, str]:
    """The offer policy and tone of this debtor's plans: those of the account's strategy
    (``data/strategies``, by its segment now), the hardship policy once the debtor has told us
    of a financial hardship, a soft tone once they told us of any difficulty, and the UK policy in the UK (:func:`policy_for`)."""
    with db.session_scope() as session:
        row = session.get(db.Account, account.id)
        strategy = strategy_for(classify(facts_for(session, row, now()))) if row is not None else None
    hardship = financial_hardship(tracker.get_slot("hardship_type"))
    policy = policy_for(str(account.jurisdiction), strategy.offer_policy if strategy else None, hardship)
    # any difficulty told (a hardship of any kind, a vulnerability) rules out urging a decision
    told = hardship or tracker.get_slot("hardship_type") or tracker.get_slot("vulnerable")
    tone = "soft" if told or strategy is None else strategy.tone
    return policy, tone


class ValidateIeForm(FormValidationAction):
    """Monthly income and outgoings read from the current message only ("about 2k a month",
    "rent is 900"), skippable ("skip", "no"), and correctable: a later figure for the same
    category replaces the earlier one.

    Two answers are not figures. An offer to pay ("I can pay 200 on friday", "I can afford 100 a
    month") fills nothing, so the form steps aside and the dialogue answers the offer (rules in
    ``data/rules/plans.yml``). An income below the floor in ``data/income_expenditure.yml``
    ("2") is held in ``income_to_check`` and read back (:class:`ActionAskMonthlyIncome`): a yes,
    or the same figure again, makes it the income; no, or another figure, replaces it."""

    TURNS_KEPT = 64  # turns remembered, one per (conversation, user message, account id)

    def __init__(self) -> None:
        super().__init__()
        self._turns: OrderedDict[tuple[str, str, str], tuple[db.Account | None, Statement | None]] = OrderedDict()

    def name(self) -> str:
        return "validate_ie_form"

    def _turn(self, tracker: Tracker) -> tuple[db.Account | None, Statement | None]:
        """The debtor's account (detached) and what the latest message says about money, worked
        out once per user message: ``run`` and both ``extract_...`` methods of a form turn share
        them (one database read, one parse). Keyed on the conversation, the latest user message's
        ``message_id`` and the ``account_id`` slot; without a message id every call works them out."""
        message_id = next((e.get("message_id") for e in reversed(tracker.events) if e.get("event") == "user"), None)
        key = (tracker.sender_id, str(message_id), str(tracker.get_slot("account_id")))
        if message_id and key in self._turns:
            self._turns.move_to_end(key)
            return self._turns[key]
        account = load_account(tracker)
        text = tracker.latest_message.get("text") or ""
        statement = read_statement(text, str(account.currency), str(account.time_zone)) if account else None
        if message_id:
            self._turns[key] = (account, statement)
            while len(self._turns) > self.TURNS_KEPT:
                self._turns.popitem(last=False)
        return account, statement

    def _account(self, tracker: Tracker) -> db.Account | None:
        return self._turn(tracker)[0]

    def _statement(self, tracker: Tracker) -> Statement | None:
        return self._turn(tracker)[1]

    @staticmethod
    def _offers_instead(tracker: Tracker, statement: Statement) -> bool:
        """Whether the message offers a payment ("I can pay 200 on friday") and gives no figure:
        an offer phrase, or a dated promise (NLU's ``promise_to_pay`` with a date entity)."""
        if statement.income is not None or statement.outgoings:
            return False
        if statement.offers:
            return True
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        dated = any(e.get("entity") == "date" for e in tracker.latest_message.get("entities") or [])
        return intent == "promise_to_pay" and dated

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        asked = tracker.get_slot("requested_slot")
        statement = self._statement(tracker) if asked in IE_SLOTS else None
        said_nothing = statement is not None and not statement.amounts
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        pending = tracker.get_slot("income_to_check") if asked == "monthly_income" else None
        pending = pending if isinstance(pending, dict) else None
        if pending and said_nothing and intent == "affirm":
            return [SlotSet("monthly_income", pending), SlotSet("income_to_check", None)]
        if pending and said_nothing and intent == "deny":
            return [SlotSet("income_to_check", None)]  # the question is asked afresh
        account = self._account(tracker) if statement is not None else None
        if (
            statement is not None
            and account is not None
            and {m.currency for m in statement.amounts} - {str(account.currency)}
        ):
            # "£500" on a dollar account: nothing is taken, the question is asked again in its currency
            return [SlotSet("ie_reask", "other_currency")]
        events = self._check_income(await super().run(dispatcher, tracker, domain), pending)
        filled = any(e.get("event") == "slot" and e["name"] in (*IE_SLOTS, "income_to_check") for e in events)
        if said_nothing and not filled and intent in ie_rules().answer_intents:
            # an answer with no amount: asked again, with an example, in one message (the ask
            # actions); any other request rejects the form and the dialogue answers it
            events.append(SlotSet("ie_reask", "no_amount"))
        return events

    @staticmethod
    def _check_income(events: list[EventType], pending: dict[str, Any] | None) -> list[EventType]:
        """Hold back an income below the floor for a read-back, unless it repeats the figure
        already read back; any income set clears a read-back in progress."""
        sets_income = [e for e in events if e.get("event") == "slot" and e["name"] == "monthly_income"]
        if not sets_income:
            return events
        income = sets_income[-1]["value"]
        low = isinstance(income, dict) and income_needs_confirming(Money.of(income["amount"], income["currency"]))
        if low and income != pending:
            return [*(e for e in events if e not in sets_income), SlotSet("income_to_check", income)]
        return [*events, SlotSet("income_to_check", None)] if pending else events

    def _skipped(self, tracker: Tracker) -> bool:
        """A skip phrase, or a plain no ("no, 2000" gives a figure, it does not skip)."""
        text = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        asked = tracker.get_slot("requested_slot") in ("monthly_income", "monthly_outgoings")
        if not asked or is_skip(text):
            return asked
        statement = self._statement(tracker) if intent == "deny" else None
        return statement is not None and not statement.amounts

    async def extract_monthly_income(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if self._skipped(tracker):
            # a skip at the outgoings question leaves an income already given
            return {} if tracker.get_slot("monthly_income") is not None else {"monthly_income": SKIPPED}
        statement = self._statement(tracker)
        if statement is None or self._offers_instead(tracker, statement):
            return {}
        if statement.income is not None:
            return {"monthly_income": statement.income.as_entity()}
        if tracker.get_slot("requested_slot") == "monthly_income" and statement.unlabelled:
            return {"monthly_income": statement.unlabelled[0].as_entity()}
        return {}

    async def extract_monthly_outgoings(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if self._skipped(tracker):
            return {"monthly_outgoings": SKIPPED}
        statement = self._statement(tracker)
        account = self._account(tracker)
        if statement is None or account is None or self._offers_instead(tracker, statement):
            return {}
        items = dict(statement.outgoings)
        asked = tracker.get_slot("requested_slot") == "monthly_outgoings"
        if asked and statement.unlabelled:
            items["other"] = Money(sum(m.minor for m in statement.unlabelled), str(account.currency))
        if not items:
            return {}
        earlier = outgoings_from_slot(tracker.get_slot("monthly_outgoings")) or {}
        return {"monthly_outgoings": outgoings_slot({**earlier, **items}, str(account.currency))}


def _asked_again(dispatcher: CollectingDispatcher, tracker: Tracker, slot: str) -> list[EventType] | None:
    """After an answer that gave nothing to take (slot ``ie_reask``): the question again, with an
    example (``utter_<slot>_unreadable``) or in the account's currency (``utter_ie_other_currency``),
    and the slot cleared; None otherwise."""
    reason = tracker.get_slot("ie_reask")
    account = load_account(tracker) if reason == "other_currency" else None
    if reason == "other_currency" and account is not None:
        dispatcher.utter_message(response="utter_ie_other_currency", currency=str(account.currency))
    elif reason:
        dispatcher.utter_message(response=f"utter_{slot}_unreadable")
    else:
        return None
    return [SlotSet("ie_reask", None)]


class ActionAskMonthlyIncome(Action):
    """The I&E form's income question, the read-back of a low figure held in
    ``income_to_check`` ("Just to check: $2.00 a month?"), or the question again with an
    example after an answer with no amount."""

    def name(self) -> str:
        return "action_ask_monthly_income"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        again = _asked_again(dispatcher, tracker, "monthly_income")
        if again is not None:
            return again
        pending = tracker.get_slot("income_to_check")
        account = load_account(tracker) if isinstance(pending, dict) else None
        if isinstance(pending, dict) and account is not None:
            amount = wording(tracker, account).money(Money.of(pending["amount"], pending["currency"]))
            dispatcher.utter_message(response="utter_check_monthly_income", amount=amount)
        else:
            dispatcher.utter_message(response="utter_ask_monthly_income")
        return []


class ActionAskMonthlyOutgoings(Action):
    """The I&E form's outgoings question, or the question again with an example after an answer
    with no amount."""

    def name(self) -> str:
        return "action_ask_monthly_outgoings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        again = _asked_again(dispatcher, tracker, "monthly_outgoings")
        if again is not None:
            return again
        dispatcher.utter_message(response="utter_ask_monthly_outgoings")
        return []


class ActionOfferPlans(Action):
    """Up to three options from the plan engine, or the answer to the debtor's own offer
    (counter-offer), within the offer policy and the debtor's disposable income."""

    def name(self) -> str:
        return "action_offer_plans"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account = load_account(tracker) if is_verified(tracker) else None
        if account is None:
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        if (stopped := collection_stopped(dispatcher, tracker, domain)) is not None:
            return stopped + [SlotSet("plan_options", None), SlotSet("plan_stage", None)]
        if account.balance.minor <= 0:
            log_event(tracker, "plans_offered", detail="none: nothing owing")
            dispatcher.utter_message(response="utter_nothing_owed")
            return [SlotSet("plan_options", None), SlotSet("plan_stage", None), SlotSet("selected_plan", None)]
        events: list[EventType] = disclose(dispatcher, tracker, account)  # before any debt detail
        request = plan_request(tracker, account)
        policy, tone = plan_terms(tracker, account)
        preface = ""
        figures = _disposable(tracker)
        skipped = SKIPPED in (tracker.get_slot("monthly_income"), tracker.get_slot("monthly_outgoings"))
        w = wording(tracker, account)
        t = w.texts
        if skipped and tracker.latest_action_name == "ie_form":
            preface = t.get("plan.preface.ie_skipped")
        elif figures and tracker.latest_action_name == "ie_form":
            income, spent, left = figures
            preface = t.get(
                "plan.preface.ie_figures",
                left=w.money(left),
                income=w.money(income),
                spent=w.money(spent),
            )
        if tracker.latest_action_name == "ie_form":
            preface += sfs_question(tracker, account, w)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        offer = None
        if tracker.latest_action_name != "ie_form":
            offer = read_offer(text, account.balance, str(account.time_zone), settling=intent == "ask_settlement")
        counter: Counter | None = None
        if offer is not None and offer.amount.currency != account.balance.currency:
            preface += t.get("plan.preface.other_currency", currency=str(account.balance.currency))
        elif offer is not None:
            if offer.kind == "settlement":
                counter = counter_settlement(request, offer.amount, policy)
            else:
                counter = counter_instalments(
                    request, offer.amount, offer.frequency or "monthly", policy, first_due=offer.first_due
                )
        options = propose(request, policy)
        if counter is None and intent == "ask_settlement":
            # a settlement asked for without an amount: say so when this account has none
            counter = counter_settlement(request, account.balance, policy)
            counter = counter if counter.outcome == "settlement_unavailable" else None
        if counter is not None:
            preface += self._counter_preface(counter, offer.amount if offer else None, w, policy)
            if counter.needs_collector and counter.outcome.startswith("settlement"):
                # a lump sum above the debtor's known disposable income: a person checks it
                options = []
            elif counter.option is not None:
                options = [counter.option]  # the answer to the debtor's own offer, within policy
        offered = [o for o in options if not o.needs_collector]
        log_event(tracker, "plans_offered", detail="; ".join(o.reason for o in offered)[:500] or "none")
        if not offered:
            if figures and figures[2].minor <= 0 and counter is None:
                # nothing left after outgoings: no payment asked for; a person takes it from here
                preface += t.get("plan.preface.nothing_left")
            dispatcher.utter_message(response="utter_plan_none", preface=preface)
            return [*events, SlotSet("handoff_reason", "beyond_authority"), SlotSet("plan_stage", None)]
        lines = "\n".join(f"{i}. {describe(o, w)}" for i, o in enumerate(offered, 1))
        response = "utter_plan_single" if len(offered) == 1 else "utter_plan_options"
        preface += t.entries.get(f"plan.tone.{tone}", "") if counter is None else ""
        dispatcher.utter_message(response=response, preface=preface, options=lines)
        notes = sorted({n for o in offered for n in o.notes})
        if notes:
            dispatcher.utter_message(response="utter_plan_notes", notes=" ".join(notes))
        return [
            *events,
            SlotSet("plan_options", [option_to_dict(o) for o in offered]),
            SlotSet("plan_stage", "offered"),
            SlotSet("selected_plan", None),
        ]

    def _counter_preface(self, counter: Counter, offered: Money | None, w: Wording, policy: OfferPolicy) -> str:
        """What the bot says to the debtor's own offer, before the option it can agree."""
        return w.texts.get(
            f"plan.counter.{counter.outcome}",
            offered=w.money(offered) if offered else "",
            floor=w.money(counter.floor) if counter.floor else "",
            max_months=policy.max_term_months,
        )


def _options(tracker: Tracker) -> list[PlanOption]:
    raw = tracker.get_slot("plan_options")
    if not isinstance(raw, list):
        return []
    try:
        return [option_from_dict(o) for o in raw]
    except (KeyError, ValueError, TypeError):
        return []


class ActionSelectPlan(Action):
    """The debtor picks an option ("2", "the monthly one"): read it back for a yes, or hand an
    option beyond the bot's authority to a person. A yes to a single option, which the offer read
    out in full, sets the arrangement up at once (:class:`ActionRecordArrangement`)."""

    def name(self) -> str:
        return "action_select_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        account = load_account(tracker) if is_verified(tracker) else None
        if account is not None and (stopped := collection_stopped(dispatcher, tracker, domain)) is not None:
            return stopped + [SlotSet("plan_options", None), SlotSet("plan_stage", None)]
        options = _options(tracker)
        if account is None or not options:
            return await ActionOfferPlans().run(dispatcher, tracker, domain)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        if intent != "affirm" and is_counter_offer(text):
            return await ActionOfferPlans().run(dispatcher, tracker, domain)
        index = 0 if len(options) == 1 and intent == "affirm" else choose_option(text, options)
        if index is None:
            single = len(options) == 1  # "reply 1, 2 or 3" when one option is on the table confuses
            dispatcher.utter_message(response="utter_ask_plan_single" if single else "utter_ask_plan_choice")
            return []
        option = options[index]
        w = wording(tracker, account)
        if option.needs_collector:
            dispatcher.utter_message(response="utter_plan_beyond_authority")
            return [SlotSet("handoff_reason", "beyond_authority"), SlotSet("plan_stage", None)]
        chosen = option_to_dict(option)
        if len(options) == 1 and intent == "affirm" and tracker.get_slot("plan_stage") == "offered":
            # the one option was read out in full with "reply yes to set it up": that yes is the
            # consent, so asking "shall I set this up?" again would only repeat the question
            tracker.slots["selected_plan"] = chosen
            recorded = await ActionRecordArrangement().run(dispatcher, tracker, domain)
            return [SlotSet("selected_plan", chosen), *recorded]
        dispatcher.utter_message(response="utter_confirm_plan", summary=describe(option, w))
        return [SlotSet("selected_plan", chosen), SlotSet("plan_stage", "confirming")]


class ActionRecordArrangement(Action):
    """Stores the confirmed plan as an arrangement with its first payment as a promise to pay,
    and confirms it with the schedule."""

    def name(self) -> str:
        return "action_record_arrangement"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        raw = tracker.get_slot("selected_plan")
        account = load_account(tracker) if is_verified(tracker) else None
        if account is None or not isinstance(raw, dict):
            dispatcher.utter_message(response="utter_how_can_help")
            return [SlotSet("plan_stage", None)]
        # a hold reported meanwhile in another conversation or channel of the account: nothing recorded
        if (stopped := collection_stopped(dispatcher, tracker, domain)) is not None:
            return stopped + [SlotSet("plan_options", None), SlotSet("plan_stage", None)]
        if account.balance.minor <= 0:  # paid off since the plan was offered
            dispatcher.utter_message(response="utter_nothing_owed")
            return [SlotSet("plan_stage", None), SlotSet("selected_plan", None)]
        option = option_from_dict(raw)
        w = wording(tracker, account)
        with db.session_scope() as session:
            earlier = active_arrangement(session, str(account.id))
            replaced = earlier.id if earlier is not None else None
            row, promise = record_arrangement(
                session,
                account_id=str(account.id),
                option=option,
                channel=channel_of(tracker),
                conversation_id=tracker.sender_id,
            )
            reference = row.id
            first = (int(promise.id), promise.amount) if promise is not None else None
        dispatcher.utter_message(
            response="utter_arrangement_recorded",
            reference=reference,
            summary=describe(option, w)[:1].upper() + describe(option, w)[1:] + w.texts.get("sentence.end"),
            schedule=schedule_lines(option, w),
        )
        if replaced is not None:
            dispatcher.utter_message(response="utter_arrangement_replaced", reference=replaced)
        if option.notes:
            dispatcher.utter_message(response="utter_plan_notes", notes=" ".join(option.notes))
        links: list[EventType] = []
        if first is not None and first[1].minor > 0:  # the first instalment can be paid now
            links = await offer_payment_link(
                dispatcher,
                tracker,
                account,
                first[1],
                "instalment",
                first[0],
                "payment.link_first_instalment",
                transfer=False,
            )
        return [
            *links,
            SlotSet("arrangement_id", str(reference)),
            SlotSet("plan_stage", None),
            SlotSet("plan_options", None),
            SlotSet("selected_plan", None),
        ]


def announce_broken_promise(dispatcher: CollectingDispatcher, account: db.Account, w: Wording) -> bool:
    """After verification: promises that fell due unpaid since the last contact are marked
    broken (with their arrangement) and the latest is named, so the conversation turns to a new
    arrangement. Returns whether there was one (the caller then offers plans)."""
    with db.session_scope() as session:
        broken = mark_broken(session, str(account.id), today_in(str(account.time_zone)))
    if not broken:
        return False
    latest = broken[-1]
    dispatcher.utter_message(
        response="utter_broken_promise", amount=w.money(latest.amount), date=w.day(latest.due, "medium")
    )
    return True


def sfs_question(tracker: Tracker, account: db.Account, w: Wording) -> str:
    """For a UK debtor whose flexible spending (I&E slot ``monthly_outgoings``) is above the
    Standard Financial Statement trigger figure of a category: a question about it, never a
    rejection; the plan still rests on the figures given (CONC 7.3.4R, 7.3.7AG;
    data/sfs_triggers.yml). Empty otherwise."""
    outgoings = outgoings_from_slot(tracker.get_slot("monthly_outgoings"))
    if not outgoings or not str(account.jurisdiction).startswith("UK"):
        return ""
    above = above_triggers(outgoings)
    if not above:
        return ""
    first = above[0]
    log_event(tracker, "ie_above_sfs_trigger", detail=", ".join(f"{a.category} {a.amount}>{a.trigger}" for a in above))
    return (
        w.texts.get(
            "ie.above_trigger",
            category=w.texts.get(f"ie.category.{first.category}"),
            amount=w.money(first.amount),
            trigger=w.money(first.trigger),
        )
        + " "
    )
