"""The outbound contact gate: may we contact this debtor, on this channel, now?

Every sender (outreach, reminders, collectors) asks :func:`check` before an outbound SMS, call
or e-mail. It answers allow, deny (a hold such as a dispute or a cease request) or defer until
a given instant (outside the local contact window, a stated inconvenient time, or a frequency
cap), each with reason codes and the rule's citation. Replies inside a conversation the debtor
started are not outbound contacts and do not pass through here.
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

from bot.compliance.profiles import Profile, profile_for

UTC = timezone.utc


@dataclass(frozen=True)
class ContactEvent:
    """One contact-log fact: ``event`` (e.g. call_attempt, sms_sent, opt_out, dispute) on
    ``channel`` at ``at`` (aware); ``detail`` carries e.g. a stated inconvenient time."""

    at: datetime
    event: str
    channel: str
    detail: str | None = None


@dataclass(frozen=True)
class ContactRequest:
    """A contact we want to make. ``initiated_by`` "debtor" means the debtor asked for it (a
    requested call-back is not counted against caps, 12 CFR 1006.14(b)(3)(i))."""

    account_id: str
    jurisdiction: str
    channel: str
    address_time_zone: str
    phone_e164: str | None = None
    initiated_by: str = "creditor"
    phone_zones: tuple[str, ...] | None = None  # phone_time_zones(phone_e164), when already known


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


def stated_window(history: Sequence[ContactEvent]) -> tuple[time | None, time | None]:
    """The debtor's latest stated convenient hours (from ``inconvenient_time`` events)."""
    for event in sorted(history, key=lambda e: e.at, reverse=True):
        if event.event == "inconvenient_time" and event.detail:
            found = dict(_PREF.findall(event.detail))
            return (
                time.fromisoformat(found["earliest"]) if "earliest" in found else None,
                time.fromisoformat(found["latest"]) if "latest" in found else None,
            )
    return None, None


def _in_window(moment: datetime, zones: Iterable[str], start: time, end: time) -> bool:
    for zone in zones:
        local = moment.astimezone(ZoneInfo(zone)).time()
        if not (start <= local < end):
            return False
    return True


def _next_window_open(moment: datetime, zones: list[str], start: time, end: time) -> datetime | None:
    """The first instant at or after ``moment`` inside [start, end) in every zone (None within 8 days)."""
    if _in_window(moment, zones, start, end):
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
        if _in_window(candidate, zones, start, end):
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
        starts = [e for e in ordered if e.event == hold.event and (hold.scope == "all" or e.channel == request.channel)]
        if not starts:
            continue
        began = starts[-1].at
        lifted_by = {hold.until_event} if hold.until_event else set()
        if hold.event == "opt_out":
            lifted_by.add("opt_in")
        lifted = any(
            e.at > began and e.event in lifted_by and (hold.scope == "all" or e.channel == request.channel)
            for e in ordered
        )
        expired = hold.days is not None and now >= began + timedelta(days=hold.days)
        if not lifted and not expired:
            reasons.append(Reason(f"hold_{hold.id}", hold.citation, f"since {began.isoformat()}"))
    return reasons


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
        window = timedelta(days=cap.window_days)
        counted = sorted(e.at for e in history if e.event in cap.counts and at - window < e.at <= at)
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
    if holds:
        return Decision("deny", tuple(holds))

    zones = contact_time_zones(request)
    earliest, latest = stated_window(history)
    start = max(profile.contact_window.start, earliest) if earliest else profile.contact_window.start
    end = min(profile.contact_window.end, latest) if latest else profile.contact_window.end
    reasons: list[Reason] = []
    if not _in_window(now, zones, profile.contact_window.start, profile.contact_window.end):
        reasons.append(Reason("outside_contact_window", profile.contact_window.citation, f"zones {', '.join(zones)}"))
    elif not _in_window(now, zones, start, end):
        reasons.append(Reason("inconvenient_time", "12 CFR 1006.6(b)(1)(i) (time the consumer said is inconvenient)"))
    _, cap_reasons = _cap_release(profile, request, history, now)
    reasons += cap_reasons
    if not reasons:
        return Decision("allow")

    moment = now
    for _ in range(20):  # caps and windows push each other forward; this settles within a few rounds
        released, _ = _cap_release(profile, request, history, moment)
        opened = _next_window_open(released, zones, start, end)
        if opened is None:
            return Decision("deny", tuple(reasons + [Reason("no_window", profile.contact_window.citation)]))
        if opened == moment:
            break
        moment = opened
    return Decision("defer", tuple(reasons), defer_until=moment)
