"""Human handoff (DESIGN §3 item 8): rules from ``data/handoff.yml``, the ticket queue in Redis
(mirrored in the ``handoff_tickets`` table), the live transcript of a paused conversation, the
ticket summary and the reply-time notice.

Redis keys (prefix ``collections:handoff:``):

- ``ticket:<id>``: hash with the ticket's fields (times as ISO 8601 UTC, ``summary`` as JSON);
- ``queue``: sorted set of waiting ticket ids, score = priority * 1e10 + opened epoch seconds, so
  ZRANGE gives crisis first and, within a priority, the longest wait first;
- ``active``: set of claimed ticket ids (the supervisor view);
- ``conversation:<conversation id>``: the open ticket id; while it exists the bot is paused;
- ``transcript:<conversation id>``: list of JSON messages exchanged while paused.

Claiming and closing run as Lua scripts, so two collectors can never own the same ticket.
"""

from __future__ import annotations

import json
import logging
import time as time_mod
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
from babel.dates import format_date, format_time

from bot import db
from bot.compliance import audit
from bot.settings import DataFileError, read_data_file
from bot.texts import texts_for

logger = logging.getLogger(__name__)
PREFIX = "collections:handoff:"
QUEUE_KEY = PREFIX + "queue"
ACTIVE_KEY = PREFIX + "active"
TRANSCRIPT_MAX = 500  # messages kept per paused conversation
TRANSCRIPT_TTL = 30 * 24 * 3600  # seconds
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Reason:
    """A handoff reason code with its queue ``priority`` (1 = most urgent) and a label."""

    code: str
    priority: int
    label: str


@dataclass(frozen=True)
class TeamHours:
    """When one team of collectors works: ``hours`` maps a weekday (0 = Monday) to (open, close)
    in the IANA zone ``time_zone``; a day that is not there is closed."""

    time_zone: str
    typical_reply_minutes: int
    hours: dict[int, tuple[time, time]]


@dataclass(frozen=True)
class HandoffRules:
    """Parsed ``data/handoff.yml``. ``time_zone``, ``typical_reply_minutes`` and ``hours`` are
    the default team's (see :class:`TeamHours`); ``teams`` the teams by jurisdiction prefix. What
    the debtor reads is in each language's texts (``handoff.*``, :mod:`bot.texts`)."""

    reasons: dict[str, Reason]
    aliases: dict[str, str]
    time_zone: str
    typical_reply_minutes: int
    hours: dict[int, tuple[time, time]]
    holding_minutes: int  # the full holding reply at most once per this many minutes
    outcomes: dict[str, str]
    handback_slots: tuple[str, ...]
    reply_despite_holds: frozenset[str]
    live_conversation_minutes: int
    summary_messages: int
    teams: dict[str, TeamHours] = field(default_factory=dict)

    def team(self, jurisdiction: str | None = None) -> TeamHours:
        """The team serving ``jurisdiction`` ("US-MA", "UK", "CN"; by its prefix), else the
        default team."""
        region = (jurisdiction or "").split("-")[0]
        return self.teams.get(region) or TeamHours(self.time_zone, self.typical_reply_minutes, self.hours)

    outcome_holds: dict[str, str] = field(default_factory=dict)  # outcome code -> hold event it records

    def reason(self, code: str) -> Reason:
        """The reason for ``code`` (aliases resolved). An unknown code gets the priority of
        "requested" so a new action's reason still reaches a person, never an error."""
        code = self.aliases.get(code, code)
        if code in self.reasons:
            return self.reasons[code]
        return Reason(code, self.reasons["requested"].priority, code.replace("_", " ").capitalize())


def _clock(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise DataFileError(f"data/handoff.yml: '{where}' must be HH:MM") from exc


@cache
def handoff_rules() -> HandoffRules:
    """Parsed ``data/handoff.yml``. Raises :class:`bot.settings.DataFileError` naming the field."""
    raw = read_data_file("handoff.yml")
    file = "data/handoff.yml"

    def need(key: str) -> Any:
        if key not in raw:
            raise DataFileError(f"{file}: missing field '{key}'")
        return raw[key]

    reasons: dict[str, Reason] = {}
    for code, spec in dict(need("reasons")).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("priority"), int) or spec["priority"] < 1:
            raise DataFileError(f"{file}: 'reasons.{code}.priority' must be a positive integer")
        reasons[str(code)] = Reason(str(code), int(spec["priority"]), str(spec.get("label", code)))
    if "requested" not in reasons:
        raise DataFileError(f"{file}: 'reasons.requested' is required (the default for unknown codes)")
    aliases = {str(k): str(v) for k, v in dict(raw.get("aliases") or {}).items()}
    for alias, target in aliases.items():
        if target not in reasons:
            raise DataFileError(f"{file}: 'aliases.{alias}' points to unknown reason '{target}'")
    bh = dict(need("business_hours"))
    default = _team(bh, "business_hours", int(bh.get("typical_reply_minutes", 15)))
    teams = {}
    for code, spec in dict(bh.get("teams") or {}).items():
        if not isinstance(spec, dict):
            raise DataFileError(f"{file}: 'business_hours.teams.{code}' must be a mapping")
        teams[str(code)] = _team(
            spec, f"business_hours.teams.{code}", int(spec.get("typical_reply_minutes", default.typical_reply_minutes))
        )
    outcomes = {str(k): str(v) for k, v in dict(need("outcomes")).items()}
    outcome_holds = {str(k): str(v) for k, v in dict(raw.get("outcome_holds") or {}).items()}
    for code in outcome_holds:
        if code not in outcomes:
            raise DataFileError(f"{file}: 'outcome_holds.{code}' is not an outcome code")
    return HandoffRules(
        reasons=reasons,
        aliases=aliases,
        time_zone=default.time_zone,
        typical_reply_minutes=default.typical_reply_minutes,
        hours=default.hours,
        holding_minutes=int(raw.get("holding_minutes", 15)),
        outcomes=outcomes,
        handback_slots=tuple(str(s) for s in need("handback_slots")),
        reply_despite_holds=frozenset(str(s) for s in raw.get("reply_despite_holds") or []),
        live_conversation_minutes=int(raw.get("live_conversation_minutes", 60)),
        summary_messages=int(raw.get("summary_messages", 10)),
        teams=teams,
        outcome_holds=outcome_holds,
    )


def _team(spec: dict[str, Any], where: str, typical_reply_minutes: int) -> TeamHours:
    """One team's hours from ``spec`` (``time_zone``, ``days``); DataFileError names ``where``."""
    file = "data/handoff.yml"
    try:
        ZoneInfo(str(spec.get("time_zone")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DataFileError(f"{file}: '{where}.time_zone' is not an IANA zone") from exc
    hours: dict[int, tuple[time, time]] = {}
    for day, span in dict(spec.get("days") or {}).items():
        if day not in WEEKDAYS or not isinstance(span, list) or len(span) != 2:
            raise DataFileError(f"{file}: '{where}.days.{day}' must be a weekday with [open, close]")
        start, end = _clock(span[0], f"{where}.days.{day}"), _clock(span[1], f"{where}.days.{day}")
        if end <= start:
            raise DataFileError(f"{file}: '{where}.days.{day}' closes before it opens")
        hours[WEEKDAYS.index(day)] = (start, end)
    if not hours:
        raise DataFileError(f"{file}: '{where}.days' has no open day")
    return TeamHours(str(spec["time_zone"]), typical_reply_minutes, hours)


def next_opening(now: datetime, rules: HandoffRules | None = None, jurisdiction: str | None = None) -> datetime | None:
    """None when the team serving ``jurisdiction`` (the default team when None) is at work at
    ``now`` (aware), else its next opening time (aware, in the team's zone). Looks at most 14
    days ahead."""
    team = (rules or handoff_rules()).team(jurisdiction)
    zone = ZoneInfo(team.time_zone)
    local = now.astimezone(zone)
    span = team.hours.get(local.weekday())
    if span and span[0] <= local.time() < span[1]:
        return None
    for ahead in range(15):
        day: date = local.date() + timedelta(days=ahead)
        span = team.hours.get(day.weekday())
        if not span:
            continue
        opening = datetime.combine(day, span[0], zone)
        if opening > local:
            return opening
    return None


def reply_eta(
    now: datetime,
    debtor_time_zone: str | None,
    locale: str = "en_US",
    rules: HandoffRules | None = None,
    jurisdiction: str | None = None,
    language: str | None = None,
) -> str:
    """When a person will reply, in words, in the debtor's zone: "within about 15 minutes" during
    the business hours of the team serving ``jurisdiction`` (the sender context's; the default
    team when None), else "after we open at 8:00 AM on Monday (your time)". Said in ``language``
    (ISO 639-1; the language of ``locale`` when None) with ``handoff.eta_*`` of its texts."""
    rules = rules or handoff_rules()
    texts = texts_for(language or locale.split("_")[0], jurisdiction)
    team = rules.team(jurisdiction)
    opening = next_opening(now, rules, jurisdiction)
    if opening is None:
        return texts.get("handoff.eta_open", minutes=team.typical_reply_minutes)
    try:
        zone = ZoneInfo(debtor_time_zone or team.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(team.time_zone)
    there = opening.astimezone(zone)
    text = texts.get(
        "handoff.eta_closed",
        time=format_time(there, format="short", locale=locale),
        day=format_date(there.date(), format="EEEE", locale=locale),
    )
    return _plain(text)


def _plain(text: str) -> str:
    # CLDR puts narrow no-break spaces in times; one such character makes an SMS UCS-2 (70 a segment)
    return text.replace("\u202f", " ").replace("\xa0", " ")


def opening_hours(
    now: datetime,
    debtor_time_zone: str | None,
    locale: str = "en_US",
    rules: HandoffRules | None = None,
    jurisdiction: str | None = None,
    language: str | None = None,
) -> str:
    """The opening hours this week of the team serving ``jurisdiction`` (the default team when
    None) said in the debtor's zone, days with the same hours grouped: "Monday to Friday 8:00 AM
    to 8:00 PM, Saturday 9:00 AM to 1:00 PM" for New York, "Monday 9:00 PM to 9:00 AM the next
    day, ..." for a debtor in Shanghai served by the New York team (``handoff.hours.*`` of the
    texts of ``language``, the language of ``locale`` when None). The week of ``now`` (aware) is
    used, so daylight saving time is right."""
    rules = rules or handoff_rules()
    hours = rules.team(jurisdiction)
    team = ZoneInfo(hours.time_zone)
    try:
        zone = ZoneInfo(debtor_time_zone or hours.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = team
    monday = now.astimezone(team).date() - timedelta(days=now.astimezone(team).weekday())
    spans: list[tuple[date, str, str, bool]] = []
    for weekday in sorted(hours.hours):
        start, end = hours.hours[weekday]
        day = monday + timedelta(days=weekday)
        opens = datetime.combine(day, start, team).astimezone(zone)
        closes = datetime.combine(day, end, team).astimezone(zone)
        spans.append(
            (
                opens.date(),
                _plain(format_time(opens, format="short", locale=locale)),
                _plain(format_time(closes, format="short", locale=locale)),
                closes.date() != opens.date(),
            )
        )
    texts = texts_for(language or locale.split("_")[0], jurisdiction)
    groups: list[list[tuple[date, str, str, bool]]] = []
    for span in sorted(spans):
        last = groups[-1][-1] if groups else None
        if last is not None and span[1:] == last[1:] and span[0] == last[0] + timedelta(days=1):
            groups[-1].append(span)
        else:
            groups.append([span])
    said = []
    for group in groups:
        first = str(format_date(group[0][0], format="EEEE", locale=locale))
        last_day = str(format_date(group[-1][0], format="EEEE", locale=locale))
        days = first if len(group) == 1 else texts.get("handoff.hours.days", first=first, last=last_day)
        key = "handoff.hours.span_overnight" if group[0][3] else "handoff.hours.span"
        said.append(texts.get(key, days=days, open=group[0][1], close=group[0][2]))
    return texts.get("handoff.hours.join").join(said)


FALLBACK_ACTIONS = ("utter_default", "action_default_fallback")
CLARIFICATION_ACTION = "action_ask_clarification"


def fallback_streak(events: list[dict[str, Any]]) -> int:
    """How many of the latest user turns in a row the bot answered with its "didn't understand"
    fallback (``utter_default`` / ``action_default_fallback``), or with a clarification question
    about a message it did not understand (``action_ask_clarification`` after ``nlu_fallback``; the
    same question confirming an act it did understand is no misunderstanding). ``events`` as Rasa
    serialises them."""
    turns: list[bool] = []
    intent: str | None = None
    for event in events:
        if event.get("event") == "user":
            turns.append(False)
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        elif event.get("event") == "action" and turns and event.get("name") in FALLBACK_ACTIONS:
            turns[-1] = True
        elif event.get("event") == "action" and turns and event.get("name") == CLARIFICATION_ACTION:
            turns[-1] = intent == "nlu_fallback"
        elif event.get("event") in ("session_started", "restart"):
            turns = []
    streak = 0
    for fell_back in reversed(turns):
        if not fell_back:
            break
        streak += 1
    return streak


def reason_set_in_last_turn(events: list[dict[str, Any]]) -> str | None:
    """The last non-empty ``handoff_reason`` slot value set since the latest user message."""
    reason = None
    for event in reversed(events):
        if event.get("event") == "user":
            break
        if event.get("event") == "slot" and event.get("name") == "handoff_reason" and event.get("value"):
            reason = reason or str(event["value"])
    return reason


def last_messages(events: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` debtor and bot texts: ``{"from": "debtor"|"bot", "text", "at"}`` (ISO UTC)."""
    out = []
    for event in events:
        kind = event.get("event")
        if kind in ("user", "bot") and event.get("text"):
            at = datetime.fromtimestamp(float(event.get("timestamp") or 0), timezone.utc).isoformat()
            out.append({"from": "debtor" if kind == "user" else "bot", "text": str(event["text"]), "at": at})
    return out[-limit:]


def offer_line(raw: Any) -> str:
    """One line for a collector about an offer in the ``plan_options`` slot, e.g.
    "instalments (monthly): 3 payments, total $3,812.76, first due 2026-12-04"; anything that is
    not an offer dict is shown as text."""
    from bot.repayment.arrangements import option_from_dict  # plans pull in the offer data only when needed

    try:
        option = option_from_dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError):
        return str(raw)
    locale = "en_GB" if option.total.currency == "GBP" else "en_US"
    kind = option.kind + (f" ({option.frequency})" if option.frequency else "")
    count = len(option.schedule)
    first = f", first due {option.schedule[0].due.isoformat()}" if option.schedule else ""
    extra = f", {option.discount.format(locale)} off" if option.discount.minor else ""
    return f"{kind}: {count} payment{'s' if count != 1 else ''}, total {option.total.format(locale)}{extra}{first}"


def _this_session(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events from the last ``action_session_start`` on (all of them when there is none)."""
    starts = [i for i, e in enumerate(events) if e.get("event") == "action" and e.get("name") == "action_session_start"]
    return events[starts[-1] :] if starts else events


def offers_made(events: list[dict[str, Any]], slots: dict[str, Any]) -> list[Any]:
    """Every distinct offer put to the debtor in ``events`` (each ``plan_options`` value in turn:
    the options, then the answer to a counter-offer), then any in the current ``slots`` not seen
    there. The slot alone is not enough: it is cleared once an arrangement is recorded."""
    seen: list[Any] = []
    values = [e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == "plan_options"]
    for value in [*values, slots.get("plan_options")]:
        for offer in value if isinstance(value, list) else [value] if value else []:
            if offer not in seen:
                seen.append(offer)
    return seen


def debtor_offers(events: list[dict[str, Any]], limit: int = 3) -> list[str]:
    """The debtor's own offers ("I can only do 40 a month"), newest ``limit``, as they wrote them:
    messages that read as a counter-offer (``bot.repayment.negotiation.is_counter_offer``)
    and that the bot answered with its plans."""
    from bot.repayment.negotiation import is_counter_offer  # plan rules load only when needed

    out: list[str] = []
    text: str | None = None
    for event in events:
        if event.get("event") == "user":
            text = str(event.get("text") or "")
        elif event.get("event") == "action" and event.get("name") in ("action_offer_plans", "action_select_plan"):
            if text and is_counter_offer(text) and text not in out:
                out.append(text[:200])
            text = None
    return out[-limit:]


def _arrangement(events: list[dict[str, Any]], slots: dict[str, Any]) -> str | None:
    """The arrangement agreed in ``events`` (the last ``arrangement_id`` set there; the slot
    itself only when there are no events: it outlives the session that set it)."""
    values = [e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == "arrangement_id"]
    found = [v for v in (values if events else [slots.get("arrangement_id")]) if v]
    return str(found[-1]) if found else None


def build_summary(
    events: list[dict[str, Any]], slots: dict[str, Any], promises: list[str], limit: int | None = None
) -> dict[str, Any]:
    """What a collector needs at a glance: verification state, hardship, the offers made and the
    debtor's own offers in this session, the arrangement agreed in it (``arrangement_id``), PTP
    (the slots being filled and the open promises in ``promises``), and the last messages."""
    session = _this_session(events)
    if slots.get("identity_verified"):
        verification = "verified"
    elif slots.get("verification_locked"):
        verification = "locked after failed attempts"
    else:
        verification = "not verified"
    ptp_in_progress = None
    if isinstance(slots.get("ptp_amount"), dict) or slots.get("ptp_date"):
        amount = slots.get("ptp_amount") or {}
        ptp_in_progress = f"{amount.get('amount', '?')} {amount.get('currency', '')} on {slots.get('ptp_date') or '?'}"
    return {
        "verification": verification,
        "hardship": slots.get("hardship_type"),
        "vulnerable": bool(slots.get("vulnerable")),
        "collection_hold": slots.get("collection_hold"),
        "offers": [offer_line(o) for o in offers_made(session, slots)],
        "debtor_offers": debtor_offers(session),
        "arrangement_id": _arrangement(session, slots),
        "ptp_in_progress": ptp_in_progress,
        "promises": promises,
        "last_messages": last_messages(events, limit or handoff_rules().summary_messages),
    }


@dataclass
class Ticket:
    """A ticket as the queue holds it. Times are aware UTC; ``status`` is queued, claimed or closed."""

    id: int
    conversation_id: str
    account_id: str | None
    channel: str
    reason: str
    priority: int
    opened_at: datetime
    status: str
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def waited(self, now: datetime) -> timedelta:
        """How long the ticket has waited (until claimed, or until ``now``)."""
        return (self.claimed_at or now) - self.opened_at

    def as_json(self, now: datetime) -> dict[str, Any]:
        """A JSON-ready dict, with ``wait_seconds`` and the reason's label."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "account_id": self.account_id,
            "channel": self.channel,
            "reason": self.reason,
            "reason_label": handoff_rules().reason(self.reason).label,
            "priority": self.priority,
            "opened_at": self.opened_at.isoformat(),
            "status": self.status,
            "claimed_by": self.claimed_by,
            "claimed_at": self.claimed_at.isoformat() if self.claimed_at else None,
            "wait_seconds": int(self.waited(now).total_seconds()),
            "summary": self.summary,
        }


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# KEYS: ticket hash, queue, active. ARGV: collector, claimed_at ISO, ticket id.
_CLAIM = """
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'claimed', 'claimed_by', ARGV[1], 'claimed_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""
# KEYS: ticket hash, queue, active, conversation key. ARGV: collector, force ("1": a supervisor), ticket id.
# Returns 1 closed, 0 not open, -1 owned by someone else.
_CLOSE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'claimed' then return 0 end
if ARGV[2] ~= '1' and redis.call('HGET', KEYS[1], 'claimed_by') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'status', 'closed')
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('SREM', KEYS[3], ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('DEL', KEYS[4]) end
return 1
"""


class HandoffError(RuntimeError):
    """A queue operation was refused: ``code`` is not_found, not_open, not_owner or bad_outcome."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class HandoffQueue:
    """The handoff queue over a Redis connection and the system of record at ``database_url``
    (default ``DATABASE_URL``). Safe to use from several processes at once."""

    def __init__(self, red: redis.Redis, database_url: str | None = None) -> None:
        self.red = red
        self.database_url = database_url
        self._claim = red.register_script(_CLAIM)
        self._close = red.register_script(_CLOSE)

    # -- reading -------------------------------------------------------------------------------
    def get(self, ticket_id: int) -> Ticket | None:
        """The ticket with ``ticket_id`` as Redis holds it, or None."""
        raw = self.red.hgetall(f"{PREFIX}ticket:{int(ticket_id)}")
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        opened = _time(data["opened_at"])
        assert opened is not None
        return Ticket(
            id=int(data["id"]),
            conversation_id=data["conversation_id"],
            account_id=data.get("account_id") or None,
            channel=data["channel"],
            reason=data["reason"],
            priority=int(data["priority"]),
            opened_at=opened,
            status=data["status"],
            claimed_by=data.get("claimed_by") or None,
            claimed_at=_time(data.get("claimed_at")),
            summary=json.loads(data.get("summary") or "{}"),
        )

    def open_ticket_id(self, conversation_id: str) -> int | None:
        """The id of the conversation's open ticket (the bot is paused), else None."""
        value = self.red.get(f"{PREFIX}conversation:{conversation_id}")
        return int(value) if value and _text(value).isdigit() else None

    def is_paused(self, conversation_id: str) -> bool:
        """Whether the bot must stay silent in this conversation (a ticket is open)."""
        return bool(self.red.exists(f"{PREFIX}conversation:{conversation_id}"))

    def waiting(self) -> list[Ticket]:
        """Unclaimed tickets, most urgent first, then longest waiting."""
        ids = self.red.zrange(QUEUE_KEY, 0, -1)
        return [t for t in (self.get(int(i)) for i in ids) if t is not None]

    def active(self) -> list[Ticket]:
        """Claimed, open tickets (conversations a collector owns), longest owned first."""
        tickets = [t for t in (self.get(int(i)) for i in self.red.smembers(ACTIVE_KEY)) if t is not None]
        return sorted(tickets, key=lambda t: (t.claimed_at or t.opened_at, t.id))

    # -- changing ------------------------------------------------------------------------------
    def open(
        self,
        *,
        conversation_id: str,
        channel: str,
        reason: str,
        account_id: str | None,
        summary: dict[str, Any],
        now: datetime | None = None,
    ) -> tuple[Ticket, bool]:
        """Open a ticket and pause the conversation; returns (ticket, created). When the
        conversation already has an open ticket that one is returned, raised to the new reason's
        priority if that is more urgent (a crisis while waiting on a dispute)."""
        now = now or db.utcnow()
        rules = handoff_rules()
        reason_ = rules.reason(reason)
        key = f"{PREFIX}conversation:{conversation_id}"
        if not self.red.set(key, "opening", nx=True):
            existing = self._wait_for_open(conversation_id)
            if existing is not None and reason_.priority < existing.priority:
                self._reprioritise(existing, reason_)
                existing = self.get(existing.id) or existing
            if existing is None:
                raise HandoffError("not_found", f"conversation {conversation_id} is paused but its ticket is missing")
            return existing, False
        try:
            with db.session_scope(self.database_url) as session:
                row = db.HandoffTicket(
                    conversation_id=conversation_id,
                    account_id=account_id,
                    channel=channel,
                    reason=reason_.code,
                    priority=reason_.priority,
                    opened_at=now,
                    summary=json.dumps(summary, default=str),
                )
                session.add(row)
                session.flush()
                ticket_id = int(row.id)
                db.log_contact(
                    session,
                    account_id=account_id,
                    channel=channel,
                    direction="inbound",
                    event="handoff_opened",
                    conversation_id=conversation_id,
                    detail=f"ticket {ticket_id} reason={reason_.code} priority={reason_.priority}",
                )
        except Exception:
            self.red.delete(key)
            raise
        fields = {
            "id": ticket_id,
            "conversation_id": conversation_id,
            "account_id": account_id or "",
            "channel": channel,
            "reason": reason_.code,
            "priority": reason_.priority,
            "opened_at": now.isoformat(),
            "status": "queued",
            "summary": json.dumps(summary, default=str),
        }
        pipe = self.red.pipeline()
        pipe.hset(f"{PREFIX}ticket:{ticket_id}", mapping=fields)
        pipe.zadd(QUEUE_KEY, {str(ticket_id): self._score(reason_.priority, now)})
        pipe.set(key, str(ticket_id))
        # the notice just given counts as the first "we have your message"
        pipe.set(f"{PREFIX}holding:{conversation_id}", 1, ex=max(60, rules.holding_minutes * 60))
        pipe.execute()
        self.add_message(conversation_id, "system", f"Handed to a person: {reason_.label}.", now=now)
        ticket = self.get(ticket_id)
        assert ticket is not None
        return ticket, True

    def _wait_for_open(self, conversation_id: str) -> Ticket | None:
        # another process may be between SET NX and writing the ticket: give it a moment
        for _ in range(50):
            ticket_id = self.open_ticket_id(conversation_id)
            if ticket_id is not None:
                return self.get(ticket_id)
            time_mod.sleep(0.02)
        return None

    @staticmethod
    def _score(priority: int, opened: datetime) -> float:
        return priority * 1e10 + opened.timestamp()

    def _reprioritise(self, ticket: Ticket, reason: Reason) -> None:
        self.red.hset(f"{PREFIX}ticket:{ticket.id}", mapping={"priority": reason.priority, "reason": reason.code})
        self.red.zadd(QUEUE_KEY, {str(ticket.id): self._score(reason.priority, ticket.opened_at)}, xx=True)
        with db.session_scope(self.database_url) as session:
            row = session.get(db.HandoffTicket, ticket.id)
            if row is not None:
                row.priority, row.reason = reason.priority, reason.code
        self.add_message(ticket.conversation_id, "system", f"Escalated: {reason.label}.")

    def claim(self, ticket_id: int, collector: str, now: datetime | None = None) -> bool:
        """Give the ticket to ``collector`` if nobody has it; True for exactly one caller."""
        now = now or db.utcnow()
        won = bool(
            self._claim(
                keys=[f"{PREFIX}ticket:{int(ticket_id)}", QUEUE_KEY, ACTIVE_KEY],
                args=[collector, now.isoformat(), str(int(ticket_id))],
            )
        )
        if won:
            ticket = self.get(ticket_id)
            with db.session_scope(self.database_url) as session:
                row = session.get(db.HandoffTicket, int(ticket_id))
                if row is not None:
                    row.claimed_by, row.claimed_at = collector, now
            if ticket is not None:
                self.add_message(ticket.conversation_id, "system", f"{collector} joined the conversation.", now=now)
        return won

    def close(
        self,
        ticket_id: int,
        collector: str,
        outcome: str,
        notes: str = "",
        supervisor: bool = False,
        now: datetime | None = None,
    ) -> Ticket:
        """Resolve (``outcome`` from data/handoff.yml) or hand back (``outcome`` "handed_back"):
        the ticket leaves the queue and the conversation is no longer paused. Only the collector
        who claimed it may close it, or a supervisor. Raises :class:`HandoffError`."""
        now = now or db.utcnow()
        if outcome != "handed_back" and outcome not in handoff_rules().outcomes:
            raise HandoffError("bad_outcome", f"unknown outcome {outcome!r}")
        ticket = self.get(ticket_id)
        if ticket is None:
            raise HandoffError("not_found", f"no ticket {ticket_id}")
        result = int(
            self._close(
                keys=[
                    f"{PREFIX}ticket:{ticket.id}",
                    QUEUE_KEY,
                    ACTIVE_KEY,
                    f"{PREFIX}conversation:{ticket.conversation_id}",
                ],
                args=[collector, "1" if supervisor else "0", str(ticket.id)],
            )
        )
        if result == 0:
            raise HandoffError("not_open", f"ticket {ticket.id} is already closed")
        if result < 0:
            raise HandoffError("not_owner", f"ticket {ticket.id} belongs to {ticket.claimed_by or 'nobody yet'}")
        with db.session_scope(self.database_url) as session:
            row = session.get(db.HandoffTicket, ticket.id)
            if row is not None:
                row.resolved_at, row.outcome, row.notes = now, outcome, (notes or "")[:4000]
                if row.claimed_by is None:
                    row.claimed_by = collector
            db.log_contact(
                session,
                account_id=ticket.account_id,
                channel=ticket.channel,
                direction="outbound",
                event="handoff_closed",
                conversation_id=ticket.conversation_id,
                detail=f"ticket {ticket.id} outcome={outcome} by {collector}",
            )
            record_outcome_hold(session, ticket, outcome, collector)
        label = "Handed back to the bot" if outcome == "handed_back" else f"Resolved: {outcome}"
        self.add_message(ticket.conversation_id, "system", f"{label} by {collector}.", now=now)
        ticket.status = "closed"
        return ticket

    # -- transcript ----------------------------------------------------------------------------
    def add_message(
        self, conversation_id: str, sender: str, text: str, by: str | None = None, now: datetime | None = None
    ) -> None:
        """Append a message to the conversation's live transcript. ``sender`` is debtor, bot,
        collector or system; ``by`` names the collector."""
        entry = {"from": sender, "text": text, "at": (now or db.utcnow()).isoformat(), "by": by}
        key = f"{PREFIX}transcript:{conversation_id}"
        pipe = self.red.pipeline()
        pipe.rpush(key, json.dumps(entry))
        pipe.ltrim(key, -TRANSCRIPT_MAX, -1)
        pipe.expire(key, TRANSCRIPT_TTL)
        pipe.execute()

    def transcript(self, conversation_id: str, start: int = 0) -> list[dict[str, Any]]:
        """Messages from index ``start`` on (for polling: pass the count already shown)."""
        raw = self.red.lrange(f"{PREFIX}transcript:{conversation_id}", max(0, int(start)), -1)
        return [json.loads(_text(r)) for r in raw]

    def link_account(self, ticket_id: int, account_id: str, now: datetime | None = None) -> None:
        """Link an open ticket to ``account_id`` (an account reference the debtor gave while
        waiting), in Redis and in ``handoff_tickets``, with a note in the transcript; the
        collector still verifies identity before discussing the account."""
        ticket = self.get(ticket_id)
        if ticket is None or ticket.status == "closed" or ticket.account_id == account_id:
            return
        self.red.hset(f"{PREFIX}ticket:{int(ticket_id)}", "account_id", account_id)
        with db.session_scope(self.database_url) as session:
            row = session.get(db.HandoffTicket, int(ticket_id))
            if row is not None:
                row.account_id = account_id
            db.log_contact(
                session,
                account_id=account_id,
                channel=ticket.channel,
                direction="inbound",
                event="handoff_account_linked",
                conversation_id=ticket.conversation_id,
                detail=f"ticket {ticket_id}: account given while waiting (not verified)",
            )
        self.add_message(
            ticket.conversation_id, "system", f"Account {account_id} given by the debtor (not verified).", now=now
        )

    def holding_reply_due(self, conversation_id: str) -> bool:
        """True at most once per ``holding_minutes`` per conversation (the "we have your message" answer)."""
        ttl = max(60, handoff_rules().holding_minutes * 60)
        return bool(self.red.set(f"{PREFIX}holding:{conversation_id}", 1, nx=True, ex=ttl))


# how kept collector replies reached a debtor who could not be pushed to: (contact-log detail,
# live-transcript note) by channel
_DELIVERED = {
    "rest": (
        "{replies} reply(ies) handed to the REST client when it called",
        "The debtor's REST client called and was given {replies} reply(ies).",
    ),
    "webchat": (
        "{replies} reply(ies) shown when the debtor returned to the chat",
        "The debtor reopened the chat and saw {replies} reply(ies).",
    ),
}


def note_delivered_replies(red: redis.Redis | None, conversation_id: str, channel: str, replies: int) -> None:
    """Collector replies kept for a debtor who could not be pushed to (``channel`` "webchat": a
    closed chat reopened; "rest": the client called again) reached them: a
    ``collector_reply_delivered`` row in the contact log (under the open ticket's account, if any)
    and a note in the live transcript. Raises KeyError for another channel."""
    detail, note = _DELIVERED[channel]
    queue = HandoffQueue(red) if red is not None else None
    ticket = queue.get(queue.open_ticket_id(conversation_id) or 0) if queue is not None else None
    with db.session_scope() as session:
        db.log_contact(
            session,
            account_id=ticket.account_id if ticket else None,
            channel=channel,
            direction="outbound",
            event="collector_reply_delivered",
            conversation_id=conversation_id,
            detail=detail.format(replies=replies),
        )
    if queue is not None:
        queue.add_message(conversation_id, "system", note.format(replies=replies))


def record_outcome_hold(session: Any, ticket: Ticket, outcome: str, collector: str) -> str | None:
    """A ticket resolved with an outcome that implies a hold ("dispute_logged" → dispute;
    ``outcome_holds`` in data/handoff.yml) records that hold's event for the account, in the
    contact log and the audit log, so it applies at once in every conversation and channel and
    to the outreach gate. Returns the event recorded, or None."""
    event = handoff_rules().outcome_holds.get(outcome)
    if event is None or not ticket.account_id:
        return None
    db.log_contact(
        session,
        account_id=ticket.account_id,
        channel=ticket.channel,
        direction="inbound",
        event=event,
        conversation_id=ticket.conversation_id,
        detail=f"recorded by {collector} resolving ticket {ticket.id} ({outcome})",
    )
    audit.record(
        session,
        actor=f"collector:{collector}",
        action=event,
        outcome="recorded",
        account_id=ticket.account_id,
        detail={"ticket": ticket.id, "outcome": outcome},
    )
    return event


def redis_from_env(env: dict[str, str]) -> redis.Redis:
    """A Redis connection from REDIS_HOST, REDIS_PORT, REDIS_DB and REDIS_PASSWORD in ``env``."""
    return redis.Redis(
        host=env.get("REDIS_HOST", "127.0.0.1"),
        port=int(env.get("REDIS_PORT", "6390")),
        db=int(env.get("REDIS_DB", "0")),
        password=env.get("REDIS_PASSWORD") or None,
        socket_timeout=5,
    )
