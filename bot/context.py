"""Who a message comes from: the sender context, resolved once per inbound message.

The channel guard resolves it before Rasa sees the message and carries it in the message's
metadata (``SENDER_KEY``), so the policies, the actions, the SMS and voice output and the console
read the same answer. One rule places every sender, known or not (``data/company.yml``): the
account's own jurisdiction and time zone when the sender's phone number is on file; otherwise the
jurisdiction of the phone number's country and the time zone of its area; otherwise the default
jurisdiction. Its language is the debtor's (else the jurisdiction's), unless the message is written
in another the bot speaks (:meth:`SenderContext.speaking`, ``bot/language.py``). A conversation
linked to an account later (by a typed reference, after verification) is re-placed with
:meth:`SenderContext.for_account`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_time_zones
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance.limitations import status as limitation_status
from bot.compliance.profiles import contact_channel
from bot.language import SUPPORTED
from bot.settings import company, contact_for
from bot.verification import sender_phone

SENDER_KEY = "sender"  # the context's key in a message's metadata

__all__ = ["SENDER_KEY", "SenderContext", "contact_channel", "from_metadata", "place_phone", "resolve", "resolve_now"]


@dataclass(frozen=True)
class SenderContext:
    """Where one inbound message comes from and how to speak to its sender.

    ``sender_id`` is the conversation id; ``channel`` the contact channel (sms, voice, webchat,
    rest); ``phone`` the sender's E.164 number when the sender id is one; ``account_id`` the
    account on file for that phone (None when unknown); ``jurisdiction`` a profile code such as
    "US-MA", "UK" or "CN"; ``time_zone`` an IANA zone; ``locale`` the Babel locale of money and
    dates; ``language`` the ISO 639-1 language of responses; ``opted_out`` the contact channels
    this address opted out of (12 CFR 1006.6(e), 1006.14(h)); ``resolved_at`` when it was read
    (aware UTC); ``time_barred`` whether the account's debt is past its statute of limitations
    (no suit talk to this sender, 12 CFR 1006.26(b); data/limitations.yml).
    """

    sender_id: str
    channel: str
    phone: str | None
    account_id: str | None
    jurisdiction: str
    time_zone: str
    locale: str
    language: str
    opted_out: frozenset[str]
    resolved_at: datetime
    time_barred: bool = False

    @property
    def company_phone(self) -> str:
        """Our phone number for this sender's jurisdiction (``data/company.yml``)."""
        return contact_for(self.jurisdiction).phone

    def opted_out_of(self, channel: str | None = None) -> bool:
        """Whether the sender opted out of ``channel`` (default: the message's own channel)."""
        return (channel or self.channel) in self.opted_out

    def for_account(self, account: db.Account | None) -> SenderContext:
        """This context placed by ``account`` (a conversation linked by a typed reference), or
        unchanged when ``account`` is None or already the context's. The language stays the
        conversation's."""
        if account is None or account.id == self.account_id:
            return self
        contact = contact_for(str(account.jurisdiction))
        return replace(
            self,
            account_id=str(account.id),
            jurisdiction=str(account.jurisdiction),
            time_zone=str(account.time_zone),
            locale=contact.locale_for(self.language),
            time_barred=time_barred(account),
        )

    def speaking(self, language: str | None) -> SenderContext:
        """This context in ``language`` (the language a message was written in), or unchanged
        when it is None or not one the bot speaks."""
        if language is None or language == self.language or language not in SUPPORTED:
            return self
        return replace(self, language=language, locale=contact_for(self.jurisdiction).locale_for(language))

    def as_metadata(self) -> dict[str, Any]:
        """JSON-ready form for a message's metadata (:func:`from_metadata` reads it back)."""
        out = asdict(self)
        out["opted_out"] = sorted(self.opted_out)
        out["resolved_at"] = self.resolved_at.isoformat()
        return out


def from_metadata(metadata: Any) -> SenderContext | None:
    """The context carried in a message's metadata, or None when it has none or a malformed one."""
    raw = metadata.get(SENDER_KEY) if isinstance(metadata, dict) else None
    if not isinstance(raw, dict):
        return None
    try:
        return SenderContext(
            sender_id=str(raw["sender_id"]),
            channel=str(raw["channel"]),
            phone=raw.get("phone"),
            account_id=raw.get("account_id"),
            jurisdiction=str(raw["jurisdiction"]),
            time_zone=str(raw["time_zone"]),
            locale=str(raw["locale"]),
            language=str(raw["language"]),
            opted_out=frozenset(str(c) for c in raw.get("opted_out") or ()),
            resolved_at=datetime.fromisoformat(str(raw["resolved_at"])),
            time_barred=bool(raw.get("time_barred", False)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def place_phone(phone: str | None) -> tuple[str, str | None]:
    """(jurisdiction, time zone or None) for a phone number with no account: the jurisdiction of
    its country (``phone_countries``), else the default; the zone of its area when
    libphonenumber knows one."""
    settings = company()
    if not phone:
        return settings.default, None
    number = phonenumbers.parse(phone, None)
    region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    jurisdiction = settings.phone_countries.get(region, settings.default)
    zones = [z for z in phone_time_zones.time_zones_for_number(number) if "/" in z and not z.startswith("Etc/")]
    return jurisdiction, zones[0] if len(zones) == 1 else None


def resolve(session: Session, sender_id: str, channel: str, now: datetime | None = None) -> SenderContext:
    """The context of a message from ``sender_id`` on contact ``channel`` (see the module's rule):
    one query for the account of the sender's phone, one for the address's opt-outs."""
    phone = sender_phone(sender_id)
    account = db.find_account(session, phone_e164=phone) if phone else None
    address = phone or sender_id
    opted_out = frozenset(
        str(c) for c in session.execute(select(db.OptOut.channel).where(db.OptOut.address == address)).scalars()
    )
    language = None
    if account is not None:
        jurisdiction, time_zone = str(account.jurisdiction), str(account.time_zone)
        language = account.debtor.language
    else:
        jurisdiction, zone = place_phone(phone)
        time_zone = zone or contact_for(jurisdiction).time_zone
    contact = contact_for(jurisdiction)
    language = str(language or contact.language)
    return SenderContext(
        sender_id=sender_id,
        channel=channel,
        phone=phone,
        account_id=str(account.id) if account is not None else None,
        jurisdiction=jurisdiction,
        time_zone=time_zone,
        locale=contact.locale_for(language),
        language=language,
        opted_out=opted_out,
        resolved_at=now or db.utcnow(),
        time_barred=time_barred(account) if account is not None else False,
    )


def time_barred(account: db.Account) -> bool:
    """Whether ``account``'s debt is time-barred today in its own time zone (read from the
    account row already loaded: no query)."""
    today = datetime.now(ZoneInfo(str(account.time_zone))).date()
    return limitation_status(account, today).time_barred


def resolve_now(sender_id: str, channel: str) -> SenderContext:
    """:func:`resolve` in a transaction of its own."""
    with db.session_scope() as session:
        return resolve(session, sender_id, channel)
