"""The validation period of a validation notice (12 CFR 1006.34(b)(5)): the consumer may be
assumed to receive the notice five days after it is sent, not counting Saturdays, Sundays and
the legal public holidays of 5 U.S.C. 6103(a), and may dispute within 30 days of receipt.

Holidays come from the ``holidays`` package (US federal holidays with their observed days: a
holiday on a weekend moves to the Friday or Monday, which is then not counted either, the
reading that gives the debtor the later date). A notice sent on a weekend or holiday counts
from the next business day.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays
import numpy as np

RECEIPT_BUSINESS_DAYS = 5
DISPUTE_DAYS = 30
CITATION = "12 CFR 1006.34(b)(5); 5 U.S.C. 6103(a)"


@cache
def federal_holidays(year: int) -> tuple[date, ...]:
    """The US federal holidays (and observed days) of ``year`` and the next."""
    return tuple(sorted(holidays.country_holidays("US", years=[year, year + 1], observed=True).keys()))


def assumed_receipt(sent: date) -> date:
    """The day the debtor is assumed to receive a notice sent on ``sent`` (debtor's local date)."""
    received = np.busday_offset(
        np.datetime64(sent.isoformat()),
        RECEIPT_BUSINESS_DAYS,
        roll="forward",
        holidays=[np.datetime64(d.isoformat()) for d in federal_holidays(sent.year)],
    )
    return date.fromisoformat(str(received))


def validation_period_end(sent: date) -> date:
    """The last day to dispute for a notice sent on ``sent`` (debtor's local date)."""
    return assumed_receipt(sent) + timedelta(days=DISPUTE_DAYS)
