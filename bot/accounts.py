"""Facts about an account that the rest of the core classifies on: the days-past-due bucket."""

from __future__ import annotations

DPD_BUCKETS = ("1-30", "31-60", "61-90", "90+")


def dpd_bucket(days_past_due: int) -> str:
    """The DPD bucket of an account ``days_past_due`` days in arrears: "1-30", "31-60", "61-90"
    or "90+" (a current account, 0 days, falls in "1-30")."""
    return (
        "1-30" if days_past_due <= 30 else "31-60" if days_past_due <= 60 else "61-90" if days_past_due <= 90 else "90+"
    )
