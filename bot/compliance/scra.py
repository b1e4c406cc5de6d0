"""Servicemembers Civil Relief Act (SCRA): a debt taken on before military service bears at most
6% a year while the debtor serves (50 U.S.C. 3937(a)); the creditor applies it once the
servicemember gives written notice and a copy of the military orders (50 U.S.C. 3937(b)(1)).

A servicemember hardship in conversation gets the cap explained and the request for the orders
or a written notice; the account is flagged (contact-log event ``scra_requested``) until the
documents arrive (``scra_documents_received``, recorded from the CLI or the console). The plan
engine already applies the 6% cap to a servicemember's plans (bot/repayment/plans.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.compliance.gate import ContactEvent

REQUESTED = "scra_requested"
RECEIVED = "scra_documents_received"
SCRA_RATE = "0.06"  # a yearly fraction (50 U.S.C. 3937(a)(1))
CITATION = "50 U.S.C. 3937(a), (b)"


@dataclass(frozen=True)
class ScraStatus:
    """``requested_at`` when the cap was explained and documents asked for, ``received_at`` when
    they arrived; ``awaiting_documents`` while the account is flagged."""

    requested_at: datetime | None
    received_at: datetime | None

    @property
    def awaiting_documents(self) -> bool:
        """Flagged: documents asked for and not yet received."""
        return self.requested_at is not None and (self.received_at is None or self.received_at < self.requested_at)


def scra_status(history: Sequence[ContactEvent]) -> ScraStatus:
    """The account's SCRA standing from its contact log (oldest first or in any order)."""
    requested = [e.at for e in history if e.event == REQUESTED]
    received = [e.at for e in history if e.event == RECEIVED]
    return ScraStatus(max(requested) if requested else None, max(received) if received else None)
