"""Outreach: which accounts to contact now, on which channel, with what opening, and why the
rest wait.

For each account: its segment and strategy (``bot/outreach/segments.py``, ``data/strategies/``); a PTP
reminder when an open promise falls due within the strategy's ``reminder_days`` (debtor's local
date), else a collection contact unless a promise is pending; a collector instead of the bot
for a first contact when the strategy says so; the strategy's cadence (days between attempts,
attempts per 7 days); then the compliance gate for each channel in the strategy's order (local
contact window, frequency caps, holds: 12 CFR 1006.6(b)(1), 1006.14(b)(2); 940 CMR 7.04(1)(f);
CONC 7.9.4R; NIFA 2018). Every attempt, sent or not, is a contact-log row.

A run reads the portfolio in batches (accounts by id, a few set-based queries per batch for the
payment history, promises and contact log), decides each account from what was read, with the
strategies and offer policies loaded once, and appends the gate's audit entries of a batch in one
statement; a dry run writes nothing else.

SMS conversations are opened in Rasa with ``POST /conversations/{phone}/trigger_intent``
(intent ``EXTERNAL_outreach``, entities ``account_ref`` and ``reason``) under the debtor's
E.164 number, the sender id of their SMS reply (channels/twilio_sms.py), so the reply continues
that conversation with the account linked. The SMS carries the bot's opening from that call:
the business name, a line in the strategy's tone, and the identity question; nothing about the
debt before right-party contact (15 U.S.C. 1692b; 12 CFR 1006.6(d)), the mini-Miranda only once
identity is confirmed (1006.18(e)); the opt-out footer on every message (1006.6(e)).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache, lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.compliance.gate import ContactEvent, ContactRequest, check, phone_time_zones
from bot.compliance.profiles import profile_for
from bot.compliance.service import lint_outgoing
from bot.mailer import EmailError, EmailSettings, send_email, usable_address
from bot.outreach.segments import (
    HARDSHIP_EVENTS,
    classify,
    facts_from_counts,
    history_counts,
    segment_key,
    segment_rules,
)
from bot.outreach.strategies import Strategy, strategy_for
from bot.responses import first_text
from bot.settings import contact_for, read_data_file
from bot.sms import split_for_sms
from bot.telephony import SendError
from bot.texts import texts_for

CONTACT_EVENTS = ("sms_sent", "call_attempt", "email_sent")  # what counts as an outreach attempt for cadence
BATCH = 1000  # accounts read and decided together


@dataclass(frozen=True)
class Attempt:
    """The decision for one account at one run. ``outcome`` is "send", "deferred" or "denied";
    ``reasons`` are codes such as ``outside_contact_window``, ``cap_ma_creditor_contacts_7d``,
    ``cadence_every_days``, ``collector_first_contact``, ``hold_dispute``; ``reason`` is
    ``collection``, ``follow_up`` or ``ptp_reminder``; ``defer_until`` is aware UTC or None."""

    account_id: str
    phone: str
    jurisdiction: str
    strategy: str
    segment: str
    tone: str
    reason: str
    outcome: str
    channel: str | None = None
    reasons: tuple[str, ...] = ()
    defer_until: datetime | None = None
    ptp_id: int | None = None
    language: str | None = None  # the debtor's language (ISO 639-1), else the jurisdiction's


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Contact:
    """One contact-log row of an account, as the gate and the cadence read it."""

    at: datetime  # aware UTC
    event: str
    channel: str
    direction: str
    detail: str | None
    address: str | None = None  # the phone number an SMS or call went to
    phone_kind: str | None = None  # mobile, home, work


@dataclass
class AccountView:
    """What a decision needs about one account, read in bulk: the account and debtor fields, the
    phone's time zones, payment history counts (``bot.outreach.segments.history_counts``), broken
    PTP count, open promises (id, due date) and the contact log (oldest first)."""

    id: str
    phone: str
    jurisdiction: str
    time_zone: str
    days_past_due: int
    balance_minor: int
    currency: str
    language: str | None = None  # debtors.language
    phone_zones: tuple[str, ...] = ()
    history: tuple[int, int, bool] = (0, 0, False)
    broken_ptps: int = 0
    open_promises: list[tuple[int, date]] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    open_ticket: bool = False  # a handoff ticket for the account or its phone is open


_ACCOUNT_COLUMNS = (
    db.Account.id,
    db.Debtor.phone_e164,
    db.Account.jurisdiction,
    db.Account.time_zone,
    db.Account.days_past_due,
    db.Account.balance_minor,
    db.Account.currency,
    db.Debtor.language,
)


def _views(session: Session, rows: Sequence[Any]) -> list[AccountView]:
    """Views of the accounts in ``rows`` (tuples of :data:`_ACCOUNT_COLUMNS`): a few queries for
    the whole batch."""
    views = {
        str(r[0]): AccountView(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5]), str(r[6]), r[7])
        for r in rows
    }
    ids = list(views)
    for account_id, counts in history_counts(session, ids).items():
        views[account_id].history = counts
    zones = known_phone_zones(session, [v.phone for v in views.values()])
    for view in views.values():
        view.phone_zones = zones[view.phone]
    promises = db.PromiseToPay
    for account_id, count in session.execute(
        select(promises.account_id, func.count())
        .where(promises.account_id.in_(ids), promises.status == "broken")
        .group_by(promises.account_id)
    ):
        views[str(account_id)].broken_ptps = int(count)
    for account_id, promise_id, due in session.execute(
        select(promises.account_id, promises.id, promises.due_date)
        .where(promises.account_id.in_(ids), promises.status == "open")
        .order_by(promises.due_date, promises.id)
    ):
        views[str(account_id)].open_promises.append((int(promise_id), due))
    log = db.ContactLog
    for row in session.execute(
        select(
            log.account_id,
            log.at,
            log.event,
            log.channel,
            log.direction,
            log.detail,
            log.conversation_id,
            log.phone_kind,
        )
        .where(log.account_id.in_(ids))
        .order_by(log.account_id, log.at, log.id)
    ):
        # on SMS and voice the conversation id is the phone number: caps per contact method count by it
        address = str(row.conversation_id) if row.channel in ("sms", "voice") and row.conversation_id else None
        views[str(row.account_id)].contacts.append(
            Contact(
                _aware(row.at),
                str(row.event),
                str(row.channel),
                str(row.direction),
                row.detail,
                address,
                row.phone_kind,
            )
        )
    by_phone = {v.phone: v for v in views.values()}
    tickets = db.HandoffTicket
    for account_id, conversation_id in session.execute(
        select(tickets.account_id, tickets.conversation_id).where(
            tickets.resolved_at.is_(None),
            tickets.account_id.in_(ids) | tickets.conversation_id.in_(list(by_phone)),
        )
    ):
        if account_id is not None and str(account_id) in views:
            views[str(account_id)].open_ticket = True
        if conversation_id in by_phone:
            by_phone[conversation_id].open_ticket = True
    return [views[i] for i in ids]


def known_phone_zones(session: Session, phones: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The time zones of each of ``phones`` (``bot.compliance.gate.phone_time_zones``), from
    table ``phone_time_zones``; numbers not there yet are worked out and added to it."""
    found: dict[str, tuple[str, ...]] = {}
    wanted = sorted(set(phones))
    for phone, zones in session.execute(
        select(db.PhoneZones.phone_e164, db.PhoneZones.zones).where(db.PhoneZones.phone_e164.in_(wanted))
    ):
        found[str(phone)] = tuple(z for z in str(zones).split(",") if z)
    missing = [p for p in wanted if p not in found]
    if missing:
        rows = []
        for phone in missing:
            found[phone] = phone_time_zones(phone)
            rows.append({"phone_e164": phone, "zones": ",".join(found[phone])})
        session.execute(insert(db.PhoneZones.__table__), rows)
    return found


def account_views(
    session: Session, account_ids: Iterable[str] | None = None, batch: int = BATCH
) -> Iterator[list[AccountView]]:
    """The portfolio (or ``account_ids``, any case) in batches of ``batch`` accounts by id."""
    base = select(*_ACCOUNT_COLUMNS).join(db.Debtor, db.Debtor.id == db.Account.debtor_id)
    if account_ids is not None:
        wanted = sorted({a.upper() for a in account_ids})
        for start in range(0, len(wanted), batch):
            chunk = wanted[start : start + batch]
            rows = session.execute(base.where(db.Account.id.in_(chunk)).order_by(db.Account.id)).all()
            if rows:
                yield _views(session, rows)
        return
    last: str | None = None
    while True:  # keyset pagination: each batch starts after the last id of the one before
        query = base.order_by(db.Account.id).limit(batch)
        rows = session.execute(query.where(db.Account.id > last) if last is not None else query).all()
        if not rows:
            return
        last = str(rows[-1][0])
        yield _views(session, rows)


def _cadence(strategy: Strategy, attempts: Sequence[datetime], now: datetime) -> tuple[list[str], datetime | None]:
    reasons, until = [], None
    earlier = [a for a in attempts if a <= now]
    if earlier and now - earlier[-1] < timedelta(days=strategy.every_days):
        reasons.append("cadence_every_days")
        until = earlier[-1] + timedelta(days=strategy.every_days)
    week = [a for a in earlier if now - a < timedelta(days=7)]
    if len(week) >= strategy.max_per_7_days:
        reasons.append("cadence_max_per_7_days")
        free = week[len(week) - strategy.max_per_7_days] + timedelta(days=7)
        until = max(until, free) if until else free
    return reasons, until


def decide_view(
    view: AccountView, now: datetime, actor: str = "outreach", strategies_cache: dict[str, Strategy] | None = None
) -> tuple[Attempt, list[audit.Entry]]:
    """The decision for one account at ``now`` (aware), and the audit entries of the gate checks
    it made (12 CFR 1006.14(b)(2), 1006.6(b)(1); 940 CMR 7.04(1)(f); CONC 7.9.4R; NIFA 2018);
    nothing is read or written here. ``strategies_cache`` maps a segment key to its strategy
    across a run."""
    rules = segment_rules()
    since = now - timedelta(days=rules.hardship_days)
    reported = any(c.event in HARDSHIP_EVENTS and c.at >= since for c in view.contacts)
    facts = facts_from_counts(
        view.id, view.days_past_due, view.balance_minor, view.currency, view.history, view.broken_ptps, reported
    )
    segment = classify(facts, rules)
    key = segment_key(segment)
    strategy = strategies_cache.get(key) if strategies_cache is not None else None
    if strategy is None:
        strategy = strategy_for(segment)
        if strategies_cache is not None:
            strategies_cache[key] = strategy
    local_today = now.astimezone(ZoneInfo(view.time_zone)).date()
    promises = [(pid, due) for pid, due in view.open_promises if due >= local_today]
    outreach = [c for c in view.contacts if c.direction == "outbound" and c.event in CONTACT_EVENTS]
    attempts = sorted(c.at for c in outreach)
    base: dict[str, Any] = {
        "account_id": view.id,
        "phone": view.phone,
        "jurisdiction": view.jurisdiction,
        "strategy": strategy.name,
        "segment": key,
        "tone": strategy.tone,
        "language": view.language or contact_for(view.jurisdiction).language,
    }
    reminded = {c.detail for c in view.contacts if c.event in CONTACT_EVENTS and c.detail}

    def was_reminded(ptp_id: int) -> bool:
        prefix = f"outreach ptp_reminder PTP-{ptp_id} "
        return any(d.startswith(prefix) for d in reminded)

    held = held_back(view, now)
    if held:
        return Attempt(**base, reason="collection", outcome="deferred", reasons=held), []
    due = next(
        (
            pid
            for pid, due_date in promises
            if due_date <= local_today + timedelta(days=strategy.reminder_days) and not was_reminded(pid)
        ),
        None,
    )
    if due is not None:
        reason, ptp_id = "ptp_reminder", due
    else:
        reason, ptp_id = ("follow_up" if attempts else "collection"), None
        if promises:
            return Attempt(**base, reason=reason, outcome="deferred", reasons=("ptp_pending",)), []
        if strategy.first_contact == "collector" and not attempts:
            return Attempt(**base, reason=reason, outcome="deferred", reasons=("collector_first_contact",)), []
        cadence, until = _cadence(strategy, attempts, now)
        if cadence:
            return Attempt(**base, reason=reason, outcome="deferred", reasons=tuple(cadence), defer_until=until), []
    history = [ContactEvent(c.at, c.event, c.channel, c.detail, c.address, c.phone_kind) for c in view.contacts]
    entries: list[audit.Entry] = []
    first: Any = None
    for channel in strategy.channels:
        request = ContactRequest(
            view.id, view.jurisdiction, channel, view.time_zone, view.phone, phone_zones=view.phone_zones
        )
        decision = check(request, history, now)
        entries.append(
            audit.Entry(
                actor=actor,
                action=f"outbound_{channel}",
                outcome=decision.outcome,
                reasons=tuple(r.code for r in decision.reasons),
                account_id=view.id,
                detail={
                    "defer_until": decision.defer_until.isoformat() if decision.defer_until else None,
                    "citations": [r.citation for r in decision.reasons],
                },
            )
        )
        if decision.allowed:
            return Attempt(**base, reason=reason, outcome="send", channel=channel, ptp_id=ptp_id), entries
        first = first or decision
    attempt = Attempt(
        **base,
        reason=reason,
        outcome="denied" if first.outcome == "deny" else "deferred",
        reasons=tuple(r.code for r in first.reasons),
        defer_until=first.defer_until,
        ptp_id=ptp_id,
    )
    return attempt, entries


def decide(session: Session, account: db.Account, now: datetime, actor: str = "outreach") -> Attempt:
    """The decision for one account at ``now`` (aware); asks the compliance gate (audited)."""
    [views] = list(account_views(session, [str(account.id)]))
    attempt, entries = decide_view(views[0], now, actor)
    audit.record_many(session, entries)
    session.flush()
    return attempt


def opening_texts(reason: str, tone: str, language: str | None = None, jurisdiction: str | None = None) -> list[str]:
    """The bot's opening for an outreach, as the rules in data/rules/outreach.yml produce it from
    the responses in ``language`` (``bot/responses.py``): the business name of ``jurisdiction``
    (data/company.yml; before right-party contact nothing more, 12 CFR 1006.6(d)), the line for
    the tone (or the PTP reminder line), why identity comes first, and the date-of-birth question.
    Used for dry runs and ``--no-open``."""
    line = "utter_outreach_ptp_reminder" if reason == "ptp_reminder" else f"utter_outreach_open_{tone}"
    greeting = first_text("utter_greeting", language).format(
        business_name=contact_for(jurisdiction).business_name_in(language)
    )
    return [greeting] + [first_text(name, language) for name in (line, "utter_verify_first", "utter_ask_date_of_birth")]


def account_language(session: Session, account_id: str) -> str:
    """The language an account's debtor is written to in: theirs, else their jurisdiction's."""
    account = session.get(db.Account, account_id)
    if account is None:
        return contact_for(None).language
    return str(account.debtor.language or contact_for(str(account.jurisdiction)).language)


def sms_bodies(texts: list[str], jurisdiction: str, language: str | None = None) -> list[str]:
    """The opening as SMS bodies with the jurisdiction's opt-out footer in ``language`` (12 CFR
    1006.6(e)). Raises ValueError naming the rule when the content lint blocks a body. The same
    texts in the same jurisdiction and language give the same bodies: a run splits and lints each
    opening once."""
    return list(_sms_bodies(tuple(texts), jurisdiction, language))


@lru_cache(maxsize=1024)
def _sms_bodies(texts: tuple[str, ...], jurisdiction: str, language: str | None) -> tuple[str, ...]:
    profile = profile_for(jurisdiction)
    bodies = split_for_sms(
        list(texts), profile.sms_footer(language), profile.sms_max_segments, profile.sms_footer_per_reply
    )
    for body in bodies:
        result = lint_outgoing(body, jurisdiction, "sms")
        if not result.ok:
            rules = [v.rule for v in result.violations] or ["footer_or_length"]
            raise ValueError(f"content lint blocked the opening: {', '.join(rules)}")
    return tuple(bodies)


class Sender(Protocol):
    """Sends outbound SMS and starts calls; returns the provider's id or raises
    :class:`bot.telephony.SendError` (:class:`bot.telephony.TwilioSender` is the real one)."""

    def sms(self, to: str, body: str) -> str: ...

    def call(self, to: str) -> str: ...


class Opener(Protocol):
    """Opens a conversation in Rasa; returns the bot's texts or raises OutreachError."""

    def open(self, phone: str, account_ref: str, reason: str) -> list[str]: ...


class OutreachError(RuntimeError):
    """A send or a conversation opening failed; the message says why."""


class RasaOpener:
    """Rasa's HTTP API (the server runs with ``--enable-api --auth-token``)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _post(self, path: str, body: Any) -> Any:
        url = f"{self.base_url}{path}?" + urllib.parse.urlencode({"token": self.token})
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise OutreachError(f"Rasa answered {exc.code}: {exc.read()[:200]!r}") from exc
        except (OSError, ValueError) as exc:
            raise OutreachError(f"Rasa not reachable at {self.base_url}: {exc}") from exc

    def open(self, phone: str, account_ref: str, reason: str) -> list[str]:
        """Start a new session in the conversation ``phone`` (an outreach message is a new
        communication) and trigger EXTERNAL_outreach in it; returns the bot's texts.

        The session is started by appending its events: Rasa 3.6 runs ``action_session_start``
        for trigger_intent with no output channel, and a session start that speaks (ours gives the
        mini-Miranda) then fails and loses its events. The outreach action links the account."""
        conversation = f"/conversations/{urllib.parse.quote(phone, safe='+')}"  # the sender id as is
        session_start = [
            {"event": "action", "name": "action_session_start"},
            {"event": "session_started"},
            {"event": "action", "name": "action_listen"},
        ]
        self._post(f"{conversation}/tracker/events", session_start)
        body = {"name": "EXTERNAL_outreach", "entities": {"account_ref": account_ref, "reason": reason}}
        answer = self._post(f"{conversation}/trigger_intent", body)
        texts = [str(m["text"]) for m in answer.get("messages") or [] if m.get("text")]
        if not texts:
            raise OutreachError("Rasa opened the conversation but gave no opening message")
        return texts


@dataclass
class RunResult:
    """What one run did: attempts in account order, and counts."""

    attempts: list[Attempt] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)  # by channel
    deferred: Counter[str] = field(default_factory=Counter)  # by reason code
    messages: dict[str, list[str]] = field(default_factory=dict)  # account -> SMS bodies


def _log(session: Session, attempt: Attempt, now: datetime, event: str, channel: str, detail: str) -> None:
    row = db.log_contact(
        session,
        account_id=attempt.account_id,
        channel=channel,
        direction="outbound",
        event=event,
        conversation_id=attempt.phone,
        detail=detail[:1000],
    )
    row.at = now  # the run's clock, so a run at a fixed clock sees the attempts before it


@cache
def _quiet_after_hardship_days() -> int:
    return int(read_data_file("segments.yml").get("quiet_after_hardship_days", 14))


def held_back(view: AccountView, now: datetime) -> tuple[str, ...]:
    """Why outreach leaves an account alone now, whatever its strategy says: ``open_ticket`` while a
    handoff ticket for the account or its phone's conversation is open (a collector holds it, so
    the bot never writes into that conversation), ``recent_hardship`` within
    ``quiet_after_hardship_days`` (data/segments.yml) of a hardship the debtor told us about."""
    reasons = []
    if view.open_ticket:
        reasons.append("open_ticket")
    since = now - timedelta(days=_quiet_after_hardship_days())
    if any(c.event == "hardship_disclosed" and c.at >= since for c in view.contacts):
        reasons.append("recent_hardship")
    return tuple(reasons)


EMAIL_REFUSALS = ("no_email_address", "no_safe_harbour_procedure", "work_email_address")


def send_email_contact(session: Session, attempt: Attempt, now: datetime, settings: EmailSettings | None) -> str:
    """An outreach e-mail (a PTP reminder, or a request to get in touch) to the debtor's address,
    which must rest on a 12 CFR 1006.6(d)(4) safe-harbour procedure and is never an employer's
    (1006.22(f)(3)); with the profile's first disclosure (1006.18(e)) and the opt-out link
    (1006.6(e)). Returns the Message-ID ("(dry run)" when ``settings`` is None). Raises
    OutreachError when the address may not be used or the SMTP server refuses."""
    account = session.get(db.Account, attempt.account_id)
    assert account is not None
    debtor = account.debtor
    refused = usable_address(debtor.email, debtor.email_source)
    if refused:
        raise OutreachError(refused)
    t = texts_for(None, attempt.jurisdiction)
    contact = contact_for(attempt.jurisdiction)
    common = {
        "name": str(debtor.full_name),
        "disclosure": profile_for(attempt.jurisdiction).disclosures.first.text_for(t.language),
        "phone": contact.phone,
        "business_name": contact.business_name,
    }
    promise = session.get(db.PromiseToPay, attempt.ptp_id) if attempt.ptp_id else None
    if promise is not None:
        body = t.get(
            "email.reminder.body",
            amount=promise.amount.format(contact.locale),
            date=promise.due_date.strftime("%B %-d, %Y"),
            reference=promise.id,
            **common,
        )
    else:
        body = t.get("email.contact.body", **common)
    if settings is None:
        return "(dry run)"
    try:
        return send_email(
            settings,
            to=str(debtor.email),
            subject=t.get("email.reminder.subject", business_name=contact.business_name),
            body=body,
            account_id=attempt.account_id,
            footer=t.get("email.footer"),
        )
    except EmailError as exc:
        raise OutreachError(str(exc)) from exc


def _label(attempt: Attempt) -> str:
    ptp = f" PTP-{attempt.ptp_id}" if attempt.ptp_id else ""
    return f"outreach {attempt.reason}{ptp} {attempt.strategy}"


def execute(
    session: Session, attempt: Attempt, now: datetime, sender: Sender | None, opener: Opener | None, result: RunResult
) -> Attempt:
    """Carry out one decision: log a deferral, or open the conversation (``opener``; None sends the
    opening composed from the domain without opening one) and send. ``sender`` None is a dry run
    (nothing sent or logged). Returns the attempt, deferred with reason ``send_failed``,
    ``conversation_not_opened`` or ``lint_blocked`` when that step failed."""
    if attempt.outcome != "send":
        for code in attempt.reasons:
            result.deferred[code] += 1
        if sender is not None:
            until = f" until {attempt.defer_until.isoformat()}" if attempt.defer_until else ""
            detail = f"{_label(attempt)} {attempt.outcome} {','.join(attempt.reasons)}{until}"
            _log(session, attempt, now, "outreach_deferred", attempt.channel or "sms", detail)
        return attempt
    failed: str | None = None
    try:
        if attempt.channel == "email":
            try:
                message_id = send_email_contact(session, attempt, now, EmailSettings.from_env() if sender else None)
            except OutreachError as exc:
                # the address may not be used (its reason code), or the SMTP server refused
                failed = str(exc) if str(exc) in EMAIL_REFUSALS else "send_failed"
                raise
            if sender is not None:
                _log(session, attempt, now, "email_sent", "email", f"{_label(attempt)} {message_id}")
            result.messages[attempt.account_id] = ["(e-mail)"]
        elif attempt.channel == "voice":
            if sender is not None:
                sid = sender.call(attempt.phone)
                _log(session, attempt, now, "call_attempt", "voice", f"{_label(attempt)} {sid}")
            result.messages[attempt.account_id] = ["(call)"]
        else:
            # read with the batch; one query per account only for an attempt made elsewhere
            language = attempt.language or account_language(session, attempt.account_id)
            texts = (
                opener.open(attempt.phone, attempt.account_id, attempt.reason)
                if opener is not None and sender is not None
                else opening_texts(attempt.reason, attempt.tone, language, attempt.jurisdiction)
            )
            try:
                bodies = sms_bodies(texts, attempt.jurisdiction, language)
            except ValueError as exc:
                failed = "lint_blocked"
                raise OutreachError(str(exc)) from exc
            result.messages[attempt.account_id] = bodies
            if sender is not None:
                sids = [sender.sms(attempt.phone, body) for body in bodies]
                _log(session, attempt, now, "sms_sent", "sms", f"{_label(attempt)} {' '.join(sids)}")
    except (OutreachError, SendError) as exc:
        failed = failed or ("conversation_not_opened" if isinstance(exc, OutreachError) else "send_failed")
        result.deferred[failed] += 1
        _log(session, attempt, now, "outreach_failed", attempt.channel or "sms", f"{_label(attempt)} {failed}: {exc}")
        return Attempt(**{**attempt.__dict__, "outcome": "deferred", "reasons": (failed,)})
    result.sent[attempt.channel or "sms"] += 1
    return attempt


def run(
    session: Session,
    now: datetime,
    sender: Sender | None,
    opener: Opener | None,
    account_ids: Iterable[str] | None = None,
    progress: bool = True,
    batch: int = BATCH,
) -> RunResult:
    """One outreach run over the portfolio (or ``account_ids``) at ``now`` (aware), ``batch``
    accounts at a time: read, decide, audit in one statement, commit. Then each send of the batch,
    committed one by one, so no write transaction is open during an HTTP call (Twilio, Rasa) and a
    long run that stops keeps what it did. ``sender`` None is a dry run."""
    from tqdm import tqdm

    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    total_query = select(func.count()).select_from(db.Account)
    wanted = None if account_ids is None else sorted({a.upper() for a in account_ids})
    if wanted is not None:
        total_query = total_query.where(db.Account.id.in_(wanted))
    total = int(session.execute(total_query).scalar_one()) if progress else None
    result = RunResult()
    actor = "outreach" if sender is not None else "outreach-dry-run"
    chosen: dict[str, Strategy] = {}
    with tqdm(total=total, desc="outreach", unit="account", disable=not progress) as bar:
        for views in account_views(session, wanted, batch):
            decided = [decide_view(view, now, actor, chosen) for view in views]
            audit.record_many(session, [entry for _, entries in decided for entry in entries])
            # The gate's audit rows are committed before the HTTP calls of execute(): a write
            # transaction held open across them kept SQLite locked while the Rasa server waited to
            # write (the delivery status of the SMS just sent, the action's contact-log rows), and
            # every such wait cost the busy timeout and lost that write ("database is locked").
            session.commit()
            for attempt, _ in decided:
                result.attempts.append(execute(session, attempt, now, sender, opener, result))
                if sender is not None:
                    session.commit()
            session.commit()
            bar.update(len(views))
    return result
