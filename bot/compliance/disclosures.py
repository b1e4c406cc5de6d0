"""Disclosure timing: who we say we are, and when (``disclosures`` in each jurisdiction profile).

Before right-party contact only the business name (``data/company.yml``) and the identity
questions: nothing that tells a third party the message is about a debt (15 U.S.C. 1692b,
1692c(b); 12 CFR 1006.6(d)). Once identity is confirmed, before any debt detail: the first
disclosure (the mini-Miranda, 12 CFR 1006.18(e)(1)) in the first conversation with the right
party, the later one ("from a debt collector", 1006.18(e)(2)) in every later conversation.

A *later conversation* is a conversation (a Rasa session, on any channel) in which the right
party is verified after an earlier one in which the first disclosure was given: the contact log
holds a ``disclosure_first`` event for the account. The first disclosure is logged as
``disclosure_first`` and a later one as ``disclosure_later``, each under the conversation id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance.profiles import Profile, all_profiles, profile_for
from bot.settings import company, contact_for

FIRST_EVENT = "disclosure_first"
LATER_EVENT = "disclosure_later"


@dataclass(frozen=True)
class DueDisclosure:
    """The disclosure to give now: ``kind`` "first" or "later", its ``text`` in the debtor's
    language, the ``event`` to log and the rule's ``citation``."""

    kind: str
    text: str
    event: str
    citation: str


def disclosure_due(session: Session, account_id: str, jurisdiction: str, language: str | None) -> DueDisclosure:
    """The disclosure owed to the right party of ``account_id`` when identity is confirmed: the
    first one unless the contact log shows it was given in an earlier conversation."""
    given = session.execute(
        select(db.ContactLog.id)
        .where(db.ContactLog.account_id == account_id, db.ContactLog.event == FIRST_EVENT)
        .limit(1)
    ).first()
    rules = profile_for(jurisdiction).disclosures
    if given is None:
        return DueDisclosure("first", rules.first.text_for(language), FIRST_EVENT, rules.first.citation)
    return DueDisclosure("later", rules.later.text_for(language), LATER_EVENT, rules.later.citation)


def business_name(jurisdiction: str | None, language: str | None = None) -> str:
    """The business name said before right-party contact for ``jurisdiction`` in ``language``
    (data/company.yml)."""
    return contact_for(jurisdiction).business_name_in(language)


def business_name_problems(profiles: list[Profile] | None = None) -> list[str]:
    """Business names of data/company.yml that suggest debt collection under a profile's
    ``business_name_must_not_match`` (12 CFR 1006.2(j)(1)(i); 15 U.S.C. 1692b(1)); empty when
    every name is fit to say to a third party."""
    problems = []
    for profile in profiles or all_profiles():
        contact = contact_for(profile.jurisdiction)
        for name in (contact.business_name, *contact.business_names.values()):
            if profile.disclosures.business_name_must_not_match.search(name):
                problems.append(f"{profile.jurisdiction}: business name {name!r} suggests debt collection")
    for prefix, contact in company().contacts.items():
        if not contact.business_name.strip():
            problems.append(f"{prefix}: no business name")
    return problems
