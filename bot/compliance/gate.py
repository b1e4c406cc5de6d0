"""The outbound contact gate: may we contact this debtor, on this channel, now?

Every sender (outreach, reminders, collectors) asks :func:`check` before an outbound SMS, call
or e-mail. It answers allow, deny (a hold such as a dispute or a cease request) or defer until
a given instant (outside the local contact window, a stated inconvenient time, or a frequency
cap), each with reason codes and the rule's citation. Replies inside a conversation the debtor
started are not outbound contacts and do not pass through here.

Calls are counted from the contact log: ``call_attempt`` for every call placed, then
``call_unanswered`` or ``telephone_conversation`` once its outcome is known (the US and UK caps
count attempts; China counts unanswered attempts per phone number and effective conversations
apart). A contact who is not the debtor (``party`` "contact") is reached only under the
profile's third-party rule (China: GB/T 45251—2025).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone

from bot.compliance.profiles import FrequencyCap, Profile, profile_for

UTC = timezone.utc


@dataclass(frozen=True)
class ContactEvent:
    """One contact-log fact: ``event`` (e.g. call_attempt, call_unanswered, sms_sent, opt_out,
    dispute) on ``channel`` at ``at`` (aware); ``detail`` carries e.g. a stated inconvenient time;
    ``address`` the phone number or address it went to, when known."""

    at: datetime
    event: str
    channel: str
    detail: str | None = None
    address: str | None = None
    phone_kind: str | None = None  # mobile, home, work: the kind of number a call or SMS went to


@dataclass(frozen=True)
class ContactRequest:
    """A contact we want to make. ``initiated_by`` "debtor" means the debtor asked for it (a
    requested call-back is not counted against caps, 12 CFR 1006.14(b)(3)(i)). ``party`` is
    "debtor", or "contact" for someone else about the debtor (``phone_e164`` is then theirs)."""

    account_id: str
    jurisdiction: str
    channel: str
    address_time_zone: str
    phone_e164: str | None = None
    initiated_by: str = "creditor"
    phone_zones: tuple[str, ...] | None = None  # phone_time_zones(phone_e164), when already known
    party: str = "debtor"
    phone_kind: str | None = None  # mobile, home or work (None: the debtor's primary, personal number)


@dataclass(frozen=True)
class Reason:
    """Why a contact is not allowed now: a code such as ``hold_dispute``, ``outside_contact_window``,
    ``cap_call_attempts_7d``, and the citation of the rule."""

    code: str
    citation: str
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    """``outcome`` is "allow", "deny" or "defer"; ``defer_until`` (aware UTC) when deferred."""

    outcome: str
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    defer_until: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"


def contact_time_zones(request: ContactRequest) -> list[str]:
    """The address zone plus, for phone channels, the zones of the number's area code. When the
    two disagree, contact must fit the window in all of them (12 CFR 1006.6(b)(1)(i) commentary)."""
    zones = [request.address_time_zone]
    if request.phone_e164 and request.channel in ("sms", "voice"):
        known = request.phone_zones if request.phone_zones is not None else phone_time_zones(request.phone_e164)
        zones += [zone for zone in known if zone not in zones]
    return zones


@lru_cache(maxsize=65536)
def phone_time_zones(phone_e164: str) -> tuple[str, ...]:
    """The time zones of a phone number's area code (libphonenumber's geocoding); none when
    unknown or unparsable. Cached: an outreach run asks for every debtor's number."""
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(zone for zone in phone_timezone.time_zones_for_number(number) if zone != "Etc/Unknown")


_PREF = re.compile(r"(earliest|latest)=(\d{2}:\d{2})")
_DAYS = re.compile(r"days=([a-z,]+)")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as bot.compliance.preferences.DAYS


def stated_window(history: Sequence[ContactEvent]) -> tuple[time | None, time | None]:
    """The debtor's latest stated convenient hours (from ``inconvenient_time`` events)."""
    earliest, latest, _ = stated_preference(history)
    return earliest, latest


def stated_preference(history: Sequence[ContactEvent]) -> tuple[time | None, time | None, frozenset[int] | None]:
    """The debtor's latest stated convenient hours and days (weekdays, Monday = 0), from the
    ``inconvenient_time`` events ("earliest=18:00;latest=21:00;days=sat,sun")."""
    for event in sorted(history, key=lambda e: e.at, reverse=True):
        if event.event == "inconvenient_time" and event.detail:
            found = dict(_PREF.findall(event.detail))
            days = _DAYS.search(event.detail)
            allowed = frozenset(WEEKDAYS.index(d) for d in days.group(1).split(",") if d in WEEKDAYS) if days else None
            return (
                time.fromisoformat(found["earliest"]) if "earliest" in found else None,
                time.fromisoformat(found["latest"]) if "latest" in found else None,
                allowed or None,
            )
    return None, None, None


def _in_window(
    moment: datetime, zones: Iterable[str], start: time, end: time, days: frozenset[int] | None = None
) -> bool:
    for zone in zones:
        local = moment.astimezone(ZoneInfo(zone))
        if not (start <= local.time() < end) or (days is not None and local.weekday() not in days):
            return False
    return True


def _next_window_open(
    moment: datetime, zones: list[str], start: time, end: time, days: frozenset[int] | None = None
) -> datetime | None:
    """The first instant at or after ``moment`` inside [start, end) on an allowed day in every
    zone (None within 8 days)."""
    if _in_window(moment, zones, start, end, days):
        return moment
    candidates = []
    for zone in zones:
        local_day = moment.astimezone(ZoneInfo(zone)).date()
        for offset in range(9):
            day = local_day + timedelta(days=offset)
            opening = datetime.combine(day, start, tzinfo=ZoneInfo(zone)).astimezone(UTC)
            if opening >= moment:
                candidates.append(opening)
    for candidate in sorted(candidates):
        if _in_window(candidate, zones, start, end, days):
            return candidate
    return None


def active_holds(
    profile: Profile, request: ContactRequest, history: Sequence[ContactEvent], now: datetime
) -> list[Reason]:
    """The holds in force for ``request`` (reason codes ``hold_<id>``). Also used inside a
    conversation: a hold with scope "all" stops collection talk there too."""
    reasons = []
    ordered = sorted(history, key=lambda e: e.at)
    for hold in profile.holds:
        if hold.phone_kinds is not None and (request.phone_kind or "mobile") not in hold.phone_kinds:
            continue  # e.g. the employer's ban on calls at work does not stop calls to a mobile
        starts = [e for e in ordered if e.event == hold.event and (hold.scope == "all" or e.channel == request.channel)]
        if not starts:
            continue
        began = starts[-1].at
        lifted_by = {hold.until_event} if hold.until_event else set()
        if hold.event == "opt_out":
            lifted_by.add("opt_in")
        lifts = [
            e.at
            for e in ordered
            if e.at > began and e.event in lifted_by and (hold.scope == "all" or e.channel == request.channel)
        ]
        # a grace period runs on after the lifting event (Breathing Space: treatment end + 30 days)
        lifted = bool(lifts) and (hold.grace_days is None or now >= lifts[0] + timedelta(days=hold.grace_days))
        expired = hold.days is not None and now >= began + timedelta(days=hold.days)
        if not lifted and not expired:
            reasons.append(Reason(f"hold_{hold.id}", hold.citation, f"since {began.isoformat()}"))
    return reasons


def _counts_toward(cap: FrequencyCap, event: ContactEvent, request: ContactRequest) -> bool:
    """Whether ``event`` counts toward ``cap`` for ``request``. A cap per contact method counts
    the events to the request's phone number, and those whose number is not known."""
    if event.event not in cap.counts:
        return False
    if cap.per != "contact_method" or event.address is None:
        return True
    return event.address == request.phone_e164


def third_party_reasons(profile: Profile, request: ContactRequest, history: Sequence[ContactEvent]) -> list[Reason]:
    """Why a contact who is not the debtor may not be reached (empty when they may): the profile
    has no third-party rule, none of the rule's conditions is in the log (the debtor unreachable,
    deceased, lacking capacity), or this contact refused (``refusal_event`` to their number)."""
    rule = profile.third_parties
    if rule is None:
        return [Reason("third_party_not_allowed", "no third-party contact rule for this jurisdiction")]
    if not any(e.event in rule.allowed_after for e in history):
        return [Reason("third_party_not_allowed", rule.citation, f"needs one of {', '.join(rule.allowed_after)}")]
    if any(e.event == rule.refusal_event and e.address == request.phone_e164 for e in history):
        return [Reason("third_party_refused", rule.citation)]
    return []


def _cap_release(
    profile: Profile, request: ContactRequest, history: Sequence[ContactEvent], at: datetime
) -> tuple[datetime, list[Reason]]:
    """The earliest instant >= ``at`` when every cap allows one more contact, and the caps binding at ``at``."""
    if request.initiated_by == "debtor":
        return at, []
    release, reasons = at, []
    for cap in profile.frequency_caps:
        if request.channel not in cap.channels:
            continue
        if cap.phone_kinds is not None and (request.phone_kind or "mobile") not in cap.phone_kinds:
            continue
        window = timedelta(days=cap.window_days)
        counted = sorted(
            e.at
            for e in history
            if _counts_toward(cap, e, request)
            and at - window < e.at <= at
            and (cap.phone_kinds is None or (e.phone_kind or "mobile") in cap.phone_kinds)
        )
        if counted and len(counted) >= max(cap.max, 1):
            # one more is allowed once the count drops to max - 1 (to zero when max is 0)
            free_at = counted[len(counted) - max(cap.max, 1)] + window
            release = max(release, free_at)
            reasons.append(Reason(f"cap_{cap.id}", cap.citation, f"{len(counted)} in {cap.window_days} day(s)"))
    return release, reasons


def check(
    request: ContactRequest, history: Sequence[ContactEvent], now: datetime, profile: Profile | None = None
) -> Decision:
    """Decide on one outbound contact at ``now`` (aware). ``history`` is the account's contact log."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    profile = profile or profile_for(request.jurisdiction)
    holds = active_holds(profile, request, history, now)
    if request.party != "debtor":
        if refused := third_party_reasons(profile, request, history):
            return Decision("deny", tuple(refused))
        # the debtor's death or incapacity is why the contact may be reached, not a bar to it
        allowed_after = set(profile.third_parties.allowed_after) if profile.third_parties else set()
        reasons_by_hold = {f"hold_{h.id}": h.event for h in profile.holds}
        holds = [r for r in holds if reasons_by_hold.get(r.code) not in allowed_after and r.code != "hold_opt_out"]
    if holds:
        return Decision("deny", tuple(holds))

    if request.channel not in profile.contact_window.channels:
        # no contact window for this channel (an e-mail is sent, not taken at a time); caps apply
        release, cap_reasons = _cap_release(profile, request, history, now)
        if not cap_reasons:
            return Decision("allow")
        return Decision("defer", tuple(cap_reasons), defer_until=release)
    zones = contact_time_zones(request)
    earliest, latest, days = stated_preference(history)
    start = max(profile.contact_window.start, earliest) if earliest else profile.contact_window.start
    end = min(profile.contact_window.end, latest) if latest else profile.contact_window.end
    reasons: list[Reason] = []
    if not _in_window(now, zones, profile.contact_window.start, profile.contact_window.end):
        reasons.append(Reason("outside_contact_window", profile.contact_window.citation, f"zones {', '.join(zones)}"))
    elif not _in_window(now, zones, start, end, days):
        reasons.append(Reason("inconvenient_time", "12 CFR 1006.6(b)(1)(i) (time the consumer said is inconvenient)"))
    _, cap_reasons = _cap_release(profile, request, history, now)
    reasons += cap_reasons
    if not reasons:
        return Decision("allow")

    moment = now
    for _ in range(20):  # caps and windows push each other forward; this settles within a few rounds
        released, _ = _cap_release(profile, request, history, moment)
        opened = _next_window_open(released, zones, start, end, days)
        if opened is None:
            return Decision("deny", tuple(reasons + [Reason("no_window", profile.contact_window.citation)]))
        if opened == moment:
            break
        moment = opened
    return Decision("defer", tuple(reasons), defer_until=moment)
