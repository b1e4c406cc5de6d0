"""The validation period of a validation notice (12 CFR 1006.34(b)(5)): the consumer is assumed to
receive the notice five business days after it is sent (weekends excluded; public holidays are
not in this calculation), and may dispute within 30 days of receipt."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

RECEIPT_BUSINESS_DAYS = 5
DISPUTE_DAYS = 30


def validation_period_end(sent: date) -> date:
    """The last day to dispute for a notice sent on ``sent`` (debtor's local date)."""
    received = np.busday_offset(np.datetime64(sent.isoformat()), RECEIPT_BUSINESS_DAYS, roll="forward")
    return date.fromisoformat(str(received)) + timedelta(days=DISPUTE_DAYS)
