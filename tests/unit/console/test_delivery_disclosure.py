"""A collector's SMS to the right party that starts a new communication says it is from a debt
collector (12 CFR 1006.18(e)(2)); inside a live conversation, or to a party never verified, it
does not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bot.compliance.profiles import profile_for
from console.delivery import with_later_disclosure


def _ticket(verification: str) -> Any:
    return SimpleNamespace(summary={"verification": verification})


def test_a_later_reply_to_the_verified_debtor_opens_with_the_disclosure() -> None:
    us = profile_for("US-NY")
    text = "Hi, it's Ava: your plan is set up."
    said = with_later_disclosure(text, _ticket("verified"), us, "en", live=False)
    assert said == "This message is from a debt collector. " + text
    assert with_later_disclosure(said, _ticket("verified"), us, "en", live=False) == said  # said once
    chinese = with_later_disclosure("您好，我是小王。", _ticket("verified"), profile_for("CN"), "zh", live=False)
    assert chinese.startswith(profile_for("CN").disclosures.later.text_for("zh"))


def test_no_disclosure_inside_the_live_conversation_or_to_an_unverified_party() -> None:
    us = profile_for("US-NY")
    text = "Hi, it's Ava from Example Lending."
    assert with_later_disclosure(text, _ticket("verified"), us, "en", live=True) == text
    assert with_later_disclosure(text, _ticket("not verified"), us, "en", live=False) == text
