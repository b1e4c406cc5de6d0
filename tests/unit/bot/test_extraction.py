from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.extraction import (
    find_amounts,
    find_dates,
    find_impossible_dates,
    find_recurrences,
    has_negative_amount,
    looking_back,
    parse_date_of_birth,
    today_in,
)

# Sunday 29 November 2026, 15:00 UTC = 10:00 in New York
NOW = datetime(2026, 11, 29, 15, 0, tzinfo=ZoneInfo("UTC"))


def amounts(text: str, currency: str = "USD") -> list[tuple[Decimal, str]]:
    return [(a.money.amount, a.money.currency) for a in find_amounts(text, currency, "America/New_York", NOW)]


def dates(text: str, order: str = "MDY", tz: str = "America/New_York") -> list[date]:
    return [d.value for d in find_dates(text, tz, NOW, order)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I can pay 200 on friday", [(Decimal("200.00"), "USD")]),
        ("can do $75.50 next week", [(Decimal("75.50"), "USD")]),
        ("fifty bucks next friday", [(Decimal("50.00"), "USD")]),
        ("i can pay 1,250.00 on the 15th", [(Decimal("1250.00"), "USD")]),
        ("2k by end of month", [(Decimal("2000.00"), "USD")]),
        ("gbp 40 on 3 december", [(Decimal("40.00"), "GBP")]),
        ("£40 on 12/04", [(Decimal("40.00"), "GBP")]),
        ("i'll pay something on friday", []),
        # a scale word after digits multiplies them (it was read as two amounts, 2 and 1000)
        ("about 2 thousand a month", [(Decimal("2000.00"), "USD")]),
        ("2 hundred on friday", [(Decimal("200.00"), "USD")]),
        ("I earn 1.5 million a year", [(Decimal("1500000.00"), "USD")]),
        ("two grand", [(Decimal("2000.00"), "USD")]),
        ("rent is 3 grand", [(Decimal("3000.00"), "USD")]),
        ("on 12/04/2026", []),
    ],
)
def test_amounts(text: str, expected: list[tuple[Decimal, str]]) -> None:
    assert amounts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I can pay 200 on friday", [date(2026, 12, 4)]),
        ("tomorrow", [date(2026, 11, 30)]),
        ("on the 5th", [date(2026, 12, 5)]),
        ("on the 30th", [date(2026, 11, 30)]),
        ("December 4", [date(2026, 12, 4)]),
        ("4th of december", [date(2026, 12, 4)]),
        ("in 3 days", [date(2026, 12, 2)]),
        ("end of the month", [date(2026, 11, 30)]),
        ("next week", [date(2026, 12, 6)]),
        ("2026-12-10", [date(2026, 12, 10)]),
        ("nothing to see here", []),
    ],
)
def test_dates(text: str, expected: list[date]) -> None:
    assert dates(text) == expected


def test_numeric_dates_follow_the_jurisdiction_order() -> None:
    assert dates("12/04", "MDY") == [date(2026, 12, 4)]
    assert dates("04/12", "DMY", "Europe/London") == [date(2026, 12, 4)]


def test_sunday_means_the_next_one_not_today() -> None:
    assert dates("sunday") == [date(2026, 12, 6)]


def test_today_depends_on_the_time_zone() -> None:
    late = datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo("UTC"))
    assert today_in("America/Los_Angeles", late) == date(2026, 11, 29)
    assert today_in("Asia/Shanghai", late) == date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("April 12 1985", "MDY", date(1985, 4, 12)),
        ("dob is 4-12-85", "MDY", date(1985, 4, 12)),
        ("12/04/1985", "DMY", date(1985, 4, 12)),
        ("born on the 12th of april 1985", "MDY", date(1985, 4, 12)),
        ("1993-05-16", "YMD", date(1993, 5, 16)),
        ("April 12", "MDY", None),
        ("02139", "MDY", None),
        ("next year", "MDY", None),
    ],
)
def test_date_of_birth(text: str, order: str, expected: date | None) -> None:
    assert parse_date_of_birth(text, order, today=date(2026, 11, 29)) == expected


def test_spoken_numbers_and_the_brief_example() -> None:
    assert amounts("fifty bucks next Friday") == [(Decimal("50.00"), "USD")]
    assert dates("fifty bucks next Friday") == [date(2026, 12, 4)]
    assert amounts("i can do one fifty on the first") == [(Decimal("150.00"), "USD")]
    assert dates("i can do one fifty on the first") == [date(2026, 12, 1)]
    assert amounts("a hundred and twenty dollars") == [(Decimal("120.00"), "USD")]
    assert amounts("two hundred on monday") == [(Decimal("200.00"), "USD")]
    assert amounts("fifty dollars on the fifth") == [(Decimal("50.00"), "USD")]
    assert dates("fifty dollars on the fifth") == [date(2026, 12, 5)]
    assert amounts("i can send 40€ at 11:30 tomorrow") == [(Decimal("40.00"), "EUR")]
    assert amounts("pay 3.4 dollars") == [(Decimal("3.40"), "USD")]


@pytest.mark.parametrize(
    ("text", "rrule", "first_three"),
    [
        (
            "every other friday",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR",
            [date(2026, 12, 4), date(2026, 12, 18), date(2027, 1, 1)],
        ),
        (
            "the 1st of each month",
            "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=1",
            [date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)],
        ),
        (
            "biweekly on fridays",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR",
            [date(2026, 12, 4), date(2026, 12, 18), date(2027, 1, 1)],
        ),
        ("40 a week", "FREQ=WEEKLY;INTERVAL=1", [date(2026, 12, 6), date(2026, 12, 13), date(2026, 12, 20)]),
        (
            "on the 31st of every month",
            "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=31",
            [date(2026, 11, 30), date(2026, 12, 31), date(2027, 1, 31)],
        ),
    ],
)
def test_recurrences(text: str, rrule: str, first_three: list[date]) -> None:
    (found,) = find_recurrences(text)
    assert found.rrule == rrule
    assert found.next_dates(date(2026, 11, 29)) == first_three


def test_nlupp_banking_extraction_accuracy() -> None:
    """Held-out real utterances (NLU++, CC BY 4.0): never trained on."""
    from scripts.eval_extraction import DATA, evaluate

    if not DATA.exists():
        pytest.skip(f"evaluation data not found at {DATA}")
    result = evaluate()
    print({k: (v["correct"], v["total"], v["accuracy"]) for k, v in result.items()})
    # measured 62/62 amounts and 95/99 dates; the misses prefer the future by design
    # (promises to pay) or read 9/3/2019 month-first
    assert result["amount"]["accuracy"] >= 0.95
    assert result["date"]["accuracy"] >= 0.90


def test_decimal_comma_before_a_scale_is_a_decimal_point() -> None:
    assert [a.money.minor for a in find_amounts("I can pay 1,5 thousand", "USD")] == [150000]
    assert [a.money.minor for a in find_amounts("2,5k next month", "USD")] == [250000]
    assert [a.money.minor for a in find_amounts("1,500 on friday", "USD")] == [150000]  # a thousands separator


def test_impossible_dates_are_no_date_and_are_reported() -> None:
    for text in ("the 31st of February", "february 31st", "feb 30", "2/31"):
        assert find_dates(text, "America/New_York", NOW) == [], text  # never another month's 31st
        (wrong,) = find_impossible_dates(text)
        assert wrong.month == 2 and wrong.day in (30, 31)
    assert find_amounts("feb 30", "USD") == []  # the 30 is a day, not $30
    assert find_impossible_dates("31/4", "DMY")[0].month == 4
    assert find_impossible_dates("march 31st") == []


def test_negative_amounts_are_noticed() -> None:
    assert has_negative_amount("-50") and has_negative_amount("minus 50") and has_negative_amount("-$20")
    assert not has_negative_amount("pay 100 - 50 friday") and not has_negative_amount("2026-12-04")


# Sunday 29 November 2026 in New York: next week runs Monday 30 November to Sunday 6 December
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("next week Friday", [date(2026, 12, 4)]),
        ("I'll pay friday next week", [date(2026, 12, 4)]),
        ("thursday in two weeks", [date(2026, 12, 10)]),
        ("in 230 days", [date(2027, 7, 17)]),
        ("in two weeks", [date(2026, 12, 13)]),
        ("in a month", [date(2026, 12, 29)]),
        ("by the end of this year", [date(2026, 12, 31)]),
        ("it went out last 13th", [date(2026, 11, 13)]),
        ("two days ago", [date(2026, 11, 27)]),
        ("a couple of weeks ago", [date(2026, 11, 15)]),
    ],
)
def test_relative_dates_as_people_say_them(text: str, expected: list[date]) -> None:
    assert dates(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I paid on friday", date(2026, 11, 27)),  # promised, friday is 4 December
        ("I paid it on the 2nd", date(2026, 11, 2)),
        ("paid on December 1st", date(2025, 12, 1)),
        ("paid yesterday", date(2026, 11, 28)),
        ("paid on December 1st 2026", date(2026, 12, 1)),  # a year written is kept
    ],
)
def test_a_payment_reported_as_made_looks_back(text: str, expected: date) -> None:
    [span] = find_dates(text, "America/New_York", NOW)
    assert looking_back(span, today_in("America/New_York", NOW)) == expected


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("would you take 4000 to close it out, i can get that from my 401k", ["4000.00"]),
        ("maybe 140 every 2 weeks starting the 15th", ["140.00"]),
        ("I have $2k in my 401(k) and a 403b", ["2000.00"]),
        ("can I pay 100 for 6 months", ["100.00"]),
        ("6 payments of 50", ["50.00"]),
        ("2 payments of $100", ["100.00"]),
        ("$50 payments", ["50.00"]),
    ],
)
def test_numbers_that_count_periods_or_name_a_plan_are_not_amounts(text: str, amounts: list[str]) -> None:
    # "401k" was read as $401,000 and "every 2 weeks" as $2
    assert [str(a.money.amount) for a in find_amounts(text, "USD", "America/New_York")] == amounts


@pytest.mark.parametrize("text", ["its 7/20/72", "it's 07/20/72", "7/20/72 is my birthday", "i was born july 20 72 ok"])
def test_a_date_of_birth_among_other_words(text: str) -> None:
    assert parse_date_of_birth(text, today=date(2026, 12, 5)) == date(1972, 7, 20)
