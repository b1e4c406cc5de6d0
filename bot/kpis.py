"""Operational KPIs of the bot, computed from stored conversations (Rasa tracker events as plain
dicts) and the system of record (promises to pay).

A *conversation* is one Rasa session of one sender (split at ``action_session_start``) with at
least one message from the debtor (an ``EXTERNAL_`` intent, such as the outreach trigger, is the
bot's own doing: an outreach SMS nobody answered is not a conversation); its day is the UTC date of its first event, its channel the input channel
of its first user message, its segment the DPD bucket of the linked account (``bot.accounts.dpd_bucket``;
"unlinked" when no account was linked).

Definitions (numerator / denominator):

- right-party-contact rate: conversations where identity was verified / conversations;
- handoff rate: conversations that needed a person (slot ``handoff_reason`` set, or
  ``action_request_human``) / conversations;
- idle conversations: no handoff, and nothing understood or done: no debtor message was
  *understood* (a message is understood unless it was a fallback turn, below, or NLU read it as
  ``out_of_scope``) and there was no RPC, plan offer, arrangement, opt-out or CSAT answer (an
  emoji, a 3,000-character paste nobody could read, a run of punctuation, a probe of the channel);
- containment rate: conversations neither handed to a person nor idle / conversations (an idle
  conversation was not contained: the debtor got nothing, so it must not raise the rate);
- PTP rate: conversations with a promise to pay recorded / RPC conversations (a PTP needs RPC);
- kept-PTP rate: those promises now ``kept`` / those ``kept`` or ``broken`` (open ones are not due);
- arrangement acceptance: conversations with slot ``arrangement_id`` set / conversations where
  ``action_offer_plans`` ran;
- opt-out rate: conversations where ``action_opt_out`` ran / conversations;
- fallback rate: fallback turns / user messages. A fallback turn is a user message the bot
  did not understand: answered with its fallback (``utter_default`` or
  ``action_default_fallback``), or with a "did you mean …?" clarification question
  (``action_ask_clarification``, ``policies/clarification_policy.py``) asked because NLU
  classified it ``nlu_fallback``. A clarification that confirms an understood act before it is
  recorded ("Just to check: you want to dispute this debt?", ``data/clarification.yml``
  ``confirm_intents``) is not one; nor is a form filling a slot from a message NLU was unsure
  about (the review queue lists those too);
- average turns: user messages / conversations;
- CSAT: mean of the 1-5 answers (slot ``csat_score``) / conversations that answered.

No Rasa imports: trackers come in as the JSON Rasa stores (``{"events": [...]}``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from bot.accounts import dpd_bucket
from bot.logmask import carries_personal_data

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"  # understood as "nothing we can help with": not an understood request
EXTERNAL_PREFIX = "EXTERNAL_"  # Rasa's convention for intents the system triggers, not the user
SESSION_START = "action_session_start"
REQUEST_HUMAN_ACTION = "action_request_human"
OPT_OUT_ACTION = "action_opt_out"
OFFER_PLANS_ACTION = "action_offer_plans"
FALLBACK_ACTIONS = frozenset({"utter_default", "action_default_fallback"})
CLARIFY_ACTION = "action_ask_clarification"  # policies/clarification_policy.py ASK_ACTION


def is_fallback_turn(action: Any, intent: Any) -> bool:
    """Whether ``action``, run in answer to a message NLU read as ``intent``, says the message
    was not understood: the fallback, or a clarification question about an ``nlu_fallback``."""
    return action in FALLBACK_ACTIONS or (action == CLARIFY_ACTION and intent == FALLBACK_INTENT)


GROUPINGS = ("day", "channel", "segment")

# the answer to the CSAT question: one rating 1-5, typed ("5", "5/5", "4 stars") or spoken ("five")
_RATING_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_RATING = re.compile(
    r"^\s*(?P<n>[1-5]|one|two|three|four|five)\s*(?:/\s*5|out of (?:5|five)|stars?)?\s*[.!]*\s*$",
    re.IGNORECASE,
)


def parse_rating(text: str | None) -> int | None:
    """A CSAT rating 1-5 when ``text`` is only that rating ("4", "five", "5/5", "3 stars", "2."),
    else None: "6", "I'd say 5 maybe" or an amount are not answers to the question."""
    match = _RATING.match(text or "")
    if not match:
        return None
    raw = match.group("n").lower()
    return int(raw) if raw.isdigit() else _RATING_WORDS[raw]


@dataclass(frozen=True)
class UserMessage:
    """One debtor message with what NLU made of it (``confidence`` 0-1 of the top intent)."""

    sender_id: str
    at: datetime  # aware UTC
    text: str
    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...]
    channel: str
    count: int = field(default=1, compare=False)  # in the review queue: identical messages it stands for

    @property
    def key(self) -> str:
        """A stable id of this message: sender and the event timestamp in microseconds."""
        return f"{self.sender_id}@{int(self.at.timestamp() * 1_000_000)}"

    def best_guess(self) -> str | None:
        """The highest-ranked real intent (``nlu_fallback`` skipped), or None."""
        return next((name for name, _ in self.ranking if name != FALLBACK_INTENT), None)


@dataclass(frozen=True)
class Conversation:
    """One session of one sender, reduced to what the KPIs need."""

    sender_id: str
    started_at: datetime  # aware UTC
    ended_at: datetime  # aware UTC
    channel: str
    account_id: str | None
    messages: tuple[UserMessage, ...]
    rpc: bool
    handoff_reasons: tuple[str, ...]
    opted_out: bool
    plans_offered: bool
    arrangement_accepted: bool
    csat: int | None
    fallbacks: int = 0  # fallback turns (see the module docstring)
    understood: int = 0  # debtor messages understood (see the module docstring)
    events: tuple[dict[str, Any], ...] = field(repr=False, compare=False, default=())

    @property
    def day(self) -> date:
        """UTC date the conversation started."""
        return self.started_at.date()

    @property
    def idle(self) -> bool:
        """Nothing understood or done, and no handoff (see the module docstring)."""
        return is_idle(
            understood=self.understood,
            handoff=bool(self.handoff_reasons),
            did_something=self.rpc or self.plans_offered or self.arrangement_accepted or self.opted_out,
            csat=self.csat,
        )


def is_idle(*, understood: int, handoff: bool, did_something: bool, csat: int | None) -> bool:
    """The idle rule of the module docstring on a conversation's counts: no debtor message
    ``understood``, no handoff, nothing done, no CSAT answer."""
    return understood <= 0 and not handoff and not did_something and csat is None


def _at(event: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)


def split_sessions(events: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Events cut into sessions at each ``action_session_start`` (anything before the first one
    belongs to the first session)."""
    sessions: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for event in events:
        if (
            event.get("event") == "action"
            and event.get("name") == SESSION_START
            and any(e.get("event") == "user" for e in current)
        ):
            sessions.append(current)
            current = []
        current.append(event)
    if current:
        sessions.append(current)
    return sessions


def _user_message(sender_id: str, event: Mapping[str, Any]) -> UserMessage:
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    ranking = tuple(
        (str(r.get("name")), float(r.get("confidence") or 0.0)) for r in parse.get("intent_ranking") or [] if r
    )
    return UserMessage(
        sender_id=sender_id,
        at=_at(event),
        text=str(event.get("text") or ""),
        intent=str(intent.get("name") or FALLBACK_INTENT),
        confidence=float(intent.get("confidence") or 0.0),
        ranking=ranking,
        channel=str(event.get("input_channel") or "unknown"),
    )


def _from_debtor(event: Mapping[str, Any]) -> bool:
    """A user event the debtor sent, not one the bot triggered (``EXTERNAL_`` intents)."""
    if event.get("event") != "user":
        return False
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
    return not str(intent).startswith(EXTERNAL_PREFIX)


def conversation_from_events(sender_id: str, events: Sequence[dict[str, Any]]) -> Conversation | None:
    """The KPI view of one session's events, or None when the debtor never wrote in it."""
    messages = tuple(_user_message(sender_id, e) for e in events if _from_debtor(e))
    if not messages:
        return None
    slots: dict[str, list[Any]] = {}
    actions: set[str] = set()
    fell_back: set[int] = set()
    out_of_scope: set[int] = set()
    turn = -1
    intent: Any = None
    for event in events:
        if _from_debtor(event):
            turn += 1
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or FALLBACK_INTENT
            if intent == OUT_OF_SCOPE_INTENT:
                out_of_scope.add(turn)
        elif event.get("event") == "slot":
            slots.setdefault(str(event.get("name")), []).append(event.get("value"))
        elif event.get("event") == "action":
            actions.add(str(event.get("name")))
            if is_fallback_turn(event.get("name"), intent) and turn >= 0:
                fell_back.add(turn)
    reasons = [str(v) for v in slots.get("handoff_reason", []) if v]
    if REQUEST_HUMAN_ACTION in actions and "requested" not in reasons:
        reasons.append("requested")
    csat_values = [v for v in slots.get("csat_score", []) if v is not None]
    accounts = [v for v in slots.get("account_id", []) if v]
    return Conversation(
        sender_id=sender_id,
        started_at=_at(events[0]),
        ended_at=_at(events[-1]),
        channel=messages[0].channel,
        account_id=str(accounts[-1]) if accounts else None,
        messages=messages,
        rpc=any(v is True for v in slots.get("identity_verified", [])),
        handoff_reasons=tuple(dict.fromkeys(reasons)),
        opted_out=OPT_OUT_ACTION in actions,
        plans_offered=OFFER_PLANS_ACTION in actions,
        arrangement_accepted=any(v for v in slots.get("arrangement_id", [])),
        csat=int(csat_values[-1]) if csat_values else None,
        fallbacks=len(fell_back),
        understood=len(messages) - len(fell_back | out_of_scope),
        events=tuple(events),
    )


def conversations_from_tracker(sender_id: str, tracker: Mapping[str, Any]) -> list[Conversation]:
    """Every conversation (session with a user message) in one stored tracker ``{"events": [...]}``."""
    out = []
    for session in split_sessions(list(tracker.get("events") or [])):
        conversation = conversation_from_events(sender_id, session)
        if conversation is not None:
            out.append(conversation)
    return out


@dataclass(frozen=True)
class Promise:
    """A promise to pay as the KPIs see it (from ``bot.db.PromiseToPay``)."""

    conversation_id: str | None
    created_at: datetime  # aware UTC
    status: str  # open, kept, broken, cancelled


def promises_by_conversation(
    conversations: Sequence[Conversation], promises: Iterable[Promise]
) -> dict[int, list[Promise]]:
    """Promises matched to conversations (index into ``conversations``): same sender id, the latest
    session that started at or before the promise was made."""
    by_sender: dict[str, list[int]] = {}
    for i, c in enumerate(conversations):
        by_sender.setdefault(c.sender_id, []).append(i)
    out: dict[int, list[Promise]] = {}
    for p in promises:
        candidates = [
            i for i in by_sender.get(p.conversation_id or "", []) if conversations[i].started_at <= p.created_at
        ]
        if candidates:
            best = max(candidates, key=lambda i: conversations[i].started_at)
            out.setdefault(best, []).append(p)
    return out


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class KpiRow:
    """Counts for one group (a day, channel, segment or "total"); the rates are properties (None
    when the denominator is zero)."""

    group: str
    conversations: int = 0
    user_turns: int = 0
    rpc: int = 0
    handoffs: int = 0
    handoff_reasons: Counter[str] = field(default_factory=Counter)
    ptp: int = 0
    ptp_kept: int = 0
    ptp_broken: int = 0
    plans_offered: int = 0
    arrangements: int = 0
    opt_outs: int = 0
    fallbacks: int = 0
    idle: int = 0
    csat_responses: int = 0
    csat_total: int = 0

    def add(self, conversation: Conversation, promises: Sequence[Promise]) -> None:
        """Count one conversation and the promises made in it."""
        self.conversations += 1
        self.user_turns += len(conversation.messages)
        self.rpc += conversation.rpc
        if conversation.handoff_reasons:
            self.handoffs += 1
            self.handoff_reasons.update(conversation.handoff_reasons)
        self.idle += conversation.idle
        self.ptp += bool(promises)
        self.ptp_kept += sum(1 for p in promises if p.status == "kept")
        self.ptp_broken += sum(1 for p in promises if p.status == "broken")
        self.plans_offered += conversation.plans_offered
        self.arrangements += conversation.plans_offered and conversation.arrangement_accepted
        self.opt_outs += conversation.opted_out
        self.fallbacks += conversation.fallbacks
        if conversation.csat is not None:
            self.csat_responses += 1
            self.csat_total += conversation.csat

    @property
    def rpc_rate(self) -> float | None:
        """Right-party contacts per conversation."""
        return _rate(self.rpc, self.conversations)

    @property
    def containment_rate(self) -> float | None:
        """Conversations that ended without a person and were not idle, per conversation."""
        return _rate(self.conversations - self.handoffs - self.idle, self.conversations)

    @property
    def handoff_rate(self) -> float | None:
        """Conversations handed to a person per conversation."""
        return _rate(self.handoffs, self.conversations)

    @property
    def ptp_rate(self) -> float | None:
        """Conversations with a PTP per right-party contact."""
        return _rate(self.ptp, self.rpc)

    @property
    def kept_ptp_rate(self) -> float | None:
        """Kept promises per promise that fell due (kept or broken)."""
        return _rate(self.ptp_kept, self.ptp_kept + self.ptp_broken)

    @property
    def arrangement_acceptance(self) -> float | None:
        """Arrangements accepted per conversation where plans were offered."""
        return _rate(self.arrangements, self.plans_offered)

    @property
    def opt_out_rate(self) -> float | None:
        """Opt-outs per conversation."""
        return _rate(self.opt_outs, self.conversations)

    @property
    def fallback_rate(self) -> float | None:
        """Fallback turns (fallback or "did you mean" question) per user message."""
        return _rate(self.fallbacks, self.user_turns)

    @property
    def average_turns(self) -> float | None:
        """User messages per conversation."""
        return _rate(self.user_turns, self.conversations)

    @property
    def csat(self) -> float | None:
        """Mean CSAT answer (1-5)."""
        return _rate(self.csat_total, self.csat_responses)


# columns of the table/CSV output: (header, attribute, kind) with kind "int", "rate" or "mean"
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("conversations", "conversations", "int"),
    ("idle_conversations", "idle", "int"),
    ("rpc_rate", "rpc_rate", "rate"),
    ("containment_rate", "containment_rate", "rate"),
    ("handoff_rate", "handoff_rate", "rate"),
    ("ptp_rate", "ptp_rate", "rate"),
    ("kept_ptp_rate", "kept_ptp_rate", "rate"),
    ("arrangement_acceptance", "arrangement_acceptance", "rate"),
    ("opt_out_rate", "opt_out_rate", "rate"),
    ("fallback_rate", "fallback_rate", "rate"),
    ("average_turns", "average_turns", "mean"),
    ("csat", "csat", "mean"),
    ("csat_responses", "csat_responses", "int"),
)


def format_value(value: Any, kind: str) -> str:
    """A cell: rates as percentages with one decimal, means with two decimals, "-" for None."""
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "mean":
        return f"{value:.2f}"
    return str(value)


def group_key(conversation: Conversation, by: str, segments: Mapping[str, str]) -> str:
    """The group a conversation falls in for grouping ``by`` ("day", "channel" or "segment").

    Raises ValueError for any other grouping."""
    if by == "day":
        return conversation.day.isoformat()
    if by == "channel":
        return conversation.channel
    if by == "segment":
        return segments.get(conversation.account_id or "", "unlinked")
    raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPINGS)}")


def segment_for(days_past_due: int) -> str:
    """The segment of an account: its DPD bucket ("1-30", "31-60", "61-90", "90+"), "current" at 0 DPD."""
    return f"DPD {dpd_bucket(days_past_due)}" if days_past_due > 0 else "current"


def compute(
    conversations: Sequence[Conversation],
    promises: Iterable[Promise] = (),
    *,
    by: str | None = None,
    segments: Mapping[str, str] | None = None,
) -> list[KpiRow]:
    """KPI rows per group (sorted by group name) followed by a "total" row.

    ``segments`` maps account id → segment name (see :func:`segment_for`); ``by`` None gives the
    total row only. Raises ValueError for an unknown grouping."""
    segments = segments or {}
    matched = promises_by_conversation(conversations, promises)
    groups: dict[str, KpiRow] = {}
    total = KpiRow("total")
    for i, conversation in enumerate(conversations):
        made = matched.get(i, [])
        total.add(conversation, made)
        if by:
            key = group_key(conversation, by, segments)
            groups.setdefault(key, KpiRow(key)).add(conversation, made)
    return [groups[k] for k in sorted(groups)] + [total]


_SINCE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")


def parse_since(text: str, now: datetime) -> datetime:
    """A start instant from "7d", "12h", "2w" (before ``now``) or an ISO date/datetime (UTC when
    no offset is given). Raises ValueError with the accepted forms on anything else."""
    match = _SINCE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"d": "days", "h": "hours", "w": "weeks"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: use e.g. 7d, 12h, 2w or an ISO date like 2026-11-01") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def low_confidence_messages(
    conversations: Iterable[Conversation], threshold: float, exclude: Iterable[str] = ()
) -> list[UserMessage]:
    """Messages for the review queue: ``nlu_fallback`` or a top intent below ``threshold`` (0-1),
    without the keys in ``exclude`` (already reviewed), identical texts as one message (the newest,
    by time then key, with ``count`` of them), newest first. Left out: messages holding a full
    date, phone number or account reference (``bot.logmask``), and every message sent while an
    identity question of the verification form was open (``bot.nlu_review.IDENTITY_SLOTS``),
    whatever NLU made of it: ops need not read them, and a labelled one would put a debtor's date
    of birth or postcode into the NLU training data."""
    from bot.nlu_review import identity_answer_keys

    skip = set(exclude)
    groups: dict[str, list[UserMessage]] = {}
    for c in conversations:
        answers = identity_answer_keys(c.sender_id, c.events)
        for m in c.messages:
            if (
                (m.intent == FALLBACK_INTENT or m.confidence < threshold)
                and m.key not in skip
                and m.key not in answers
                and m.text.strip()
                and not carries_personal_data(m.text)
            ):
                groups.setdefault(m.text, []).append(m)
    newest = [replace(max(same, key=lambda m: (m.at, m.key)), count=len(same)) for same in groups.values()]
    return sorted(newest, key=lambda m: (m.at, m.key), reverse=True)
