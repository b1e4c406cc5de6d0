"""I&E reading, option choice, counter-offers and arrangements in the system of record."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot import db
from bot.money import Money
from bot.outreach.portfolio import generate, load_into
from bot.repayment.affordability import disposable, income_needs_confirming, is_skip, parse_rules, read_statement
from bot.repayment.arrangements import (
    NextPayment,
    mark_broken,
    next_payment,
    option_from_dict,
    option_to_dict,
    record_arrangement,
    record_payment,
    upcoming_payments,
)
from bot.repayment.negotiation import Offer, choose_option, is_counter_offer, read_offer
from bot.repayment.plans import PlanRequest, counter_instalments, counter_settlement, propose
from bot.settings import DataFileError

TODAY = date(2026, 11, 30)


def usd(x: str) -> Money:
    return Money.of(x, "USD")


def test_income_and_outgoings_are_read_as_monthly_figures() -> None:
    s = read_statement("I earn about 2k a month, rent is 900, food 300 and 50 a week on petrol", "USD")
    assert s.income == usd("2000")
    assert s.outgoings == {
        "home_and_contents": usd("900"),
        "food_and_housekeeping": usd("300"),
        "transport_and_travel": usd("216.67"),  # 50 x 52 / 12, half up
    }
    assert disposable(s.income, s.outgoings) == usd("583.33")
    assert read_statement("900 on rent", "USD").outgoings == {"home_and_contents": usd("900")}
    assert read_statement("about 1800", "USD").unlabelled == (usd("1800"),)
    assert disposable(usd("100"), {"other": usd("400")}) == usd("0")
    assert is_skip("i'd rather not say") and is_skip("skip") and not is_skip("rent is 900")


def test_an_amount_offered_is_neither_income_nor_outgoings() -> None:
    offered = read_statement("I can pay 200 on friday", "USD")
    assert (offered.income, offered.outgoings, offered.unlabelled, offered.offers) == (None, {}, (), (usd("200"),))
    both = read_statement("i earn 2000 a month and could afford 100 a week", "USD")
    assert both.income == usd("2000") and both.offers == (usd("100"),)  # as said, not made monthly
    assert read_statement("I can pay my rent, it's 900", "USD").outgoings == {"home_and_contents": usd("900")}
    assert read_statement("my take home pay is 2000", "USD").income == usd("2000")
    # an offer phrase makes an offer on its own, kept with its period
    assert read_offer("i could pay 50 a week", usd("3800")) == Offer("instalments", usd("50"), "weekly")
    assert read_offer("I can pay 1000 to settle", usd("3800")) == Offer("settlement", usd("1000"))


def test_a_low_income_is_read_back_by_currency_floor() -> None:
    assert income_needs_confirming(usd("2")) and income_needs_confirming(usd("99.99"))
    assert not income_needs_confirming(usd("100")) and not income_needs_confirming(Money.of("2", "EUR"))
    assert income_needs_confirming(Money.of("400", "CNY")) and not income_needs_confirming(Money.of("400", "GBP"))


def test_a_bad_ie_file_names_the_field() -> None:
    raw = yaml.safe_load(Path("data/income_expenditure.yml").read_text())
    del raw["periods"]["monthly"]
    with pytest.raises(DataFileError, match="periods"):
        parse_rules(raw, "data/income_expenditure.yml")
    raw = yaml.safe_load(Path("data/income_expenditure.yml").read_text())
    raw["periods"]["weekly"]["per_year"] = "52"
    with pytest.raises(DataFileError, match=r"periods\.weekly\.per_year"):
        parse_rules(raw, "x")
    raw = yaml.safe_load(Path("data/income_expenditure.yml").read_text())
    raw["confirm_income_below"]["USD"] = "lots"
    with pytest.raises(DataFileError, match=r"confirm_income_below\.USD"):
        parse_rules(raw, "x")


@pytest.mark.parametrize(
    ("text", "currency", "offered"),
    [
        # a new-user trial: the amount said to be unaffordable was taken as the offer
        ("12期不行吗 6期每个月四千多我真的还不起 每个月两千三可以", "CNY", "2300.00"),
        ("不是 我是说四千太多了 每个月两千三行不行", "CNY", "2300.00"),
        ("每个月两千三可以 再多还不起", "CNY", "2300.00"),  # accepted before the refusal
        ("100 is too much, i can do 60 a month", "USD", "60.00"),
        ("i can't do 100, maybe 60 a month", "USD", "60.00"),
        ("i cant afford much, maybe 50 a month", "USD", "50.00"),  # the refusal is not next to it
    ],
)
def test_an_amount_the_debtor_refuses_is_not_their_offer(text: str, currency: str, offered: str) -> None:
    offer = read_offer(text, Money(2_400_000, currency), "Asia/Shanghai")
    assert offer is not None and str(offer.amount.amount) == offered, offer


def test_choices_by_number_words_and_amount() -> None:
    options = propose(PlanRequest(usd("3800"), 95, "US-CA", TODAY))
    kinds = [(o.kind, o.frequency) for o in options]
    assert kinds[0] == ("settlement", None)
    assert choose_option("2", options) == 1 and choose_option("option three", options) == 2
    assert choose_option("the last one", options) == len(options) - 1
    assert choose_option("i'll settle", options) == 0
    monthly = next(i for i, o in enumerate(options) if o.frequency == "monthly")
    assert choose_option("the monthly one", options) == monthly
    amount = options[monthly].schedule[0].amount.amount
    assert choose_option(f"the one that's {amount} a month", options) == monthly
    assert choose_option("what is this", options) is None
    assert choose_option("a week is fine", [o for o in options if o.kind != "settlement"]) is None


def test_offers_are_told_from_choices_and_statements() -> None:
    balance = usd("3800")
    assert read_offer("I can only do 40 a month", balance) == read_offer("40 per month", balance)
    assert read_offer("20 every other week", balance).frequency == "fortnightly"  # type: ignore[union-attr]
    assert read_offer("would you take 30%?", balance).amount == usd("1140")  # type: ignore[union-attr]
    assert read_offer("30% off", balance).amount == usd("2660")  # type: ignore[union-attr]
    assert read_offer("can i settle for 1000", balance).kind == "settlement"  # type: ignore[union-attr]
    assert read_offer("rent is 900", balance) is None and read_offer("my income is 2000", balance) is None
    assert is_counter_offer("i can only do 40") and not is_counter_offer("the one that's 50 a month")


def test_counter_offers() -> None:
    late = PlanRequest(usd("3800"), 95, "US-CA", TODAY, annual_rate=Decimal("0.1999"))
    countered = counter_settlement(late, usd("1140"))
    assert countered.outcome == "settlement_countered" and countered.option is not None
    assert countered.option.total == usd("2280") and countered.option.discount == usd("1520")
    assert counter_settlement(late, usd("3000")).outcome == "settlement_accepted"
    early = PlanRequest(usd("560"), 12, "US-WA", TODAY)
    assert counter_settlement(early, usd("300")).outcome == "settlement_unavailable"
    assert counter_instalments(late, usd("5"), "monthly").outcome == "below_minimum"
    beyond = counter_instalments(late, usd("40"), "monthly")
    assert beyond.outcome == "beyond_term" and beyond.option is not None and len(beyond.option.schedule) == 24
    accepted = counter_instalments(late, usd("300"), "monthly")
    assert accepted.outcome == "accepted" and accepted.option is not None
    assert accepted.option.interest.minor > 0 and accepted.option.schedule[0].amount == usd("300")
    tight = PlanRequest(usd("1000"), 40, "US-NY", TODAY, disposable_monthly=usd("60"))
    assert counter_instalments(tight, usd("100"), "monthly").outcome == "above_disposable"
    uk = PlanRequest(Money.of("2150", "GBP"), 60, "UK", TODAY)
    token = counter_instalments(uk, Money.of("5", "GBP"), "monthly")
    assert token.outcome == "token_arrangement" and token.option is not None
    assert "MoneyHelper" in " ".join(token.option.notes)


def test_each_kept_instalment_promises_the_next_and_the_last_keeps_the_arrangement(tmp_path: Path) -> None:
    # only the first instalment used to be a promise: later ones got no reminder and were never
    # found missed
    url = f"sqlite:///{tmp_path / 'sor.db'}"
    with db.session_scope(url) as session:
        load_into(session, generate())
    option = next(o for o in propose(PlanRequest(usd("1240.50"), 45, "US-MA", TODAY)) if len(o.schedule) >= 3)
    with db.session_scope(url) as session:
        row, _ = record_arrangement(session, account_id="A-1001", option=option, channel="sms", conversation_id="c9")
        arrangement_id = row.id
    for paid, following in zip(option.schedule, [*option.schedule[1:], None], strict=True):
        with db.session_scope(url) as session:
            assert len(record_payment(session, account_id="A-1001", amount=paid.amount, paid_on=paid.due)) == 1
            open_ = (
                session.execute(
                    select(db.PromiseToPay).where(
                        db.PromiseToPay.account_id == "A-1001", db.PromiseToPay.status == "open"
                    )
                )
                .scalars()
                .all()
            )
            status = session.get(db.Arrangement, arrangement_id).status
            if following is None:
                assert open_ == [] and status == "kept"
            else:
                assert [(p.due_date, p.amount) for p in open_] == [following] and status == "active"
                assert open_[0].conversation_id == "c9" and open_[0].channel == "sms"


def test_a_missed_later_instalment_breaks_the_arrangement(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sor.db'}"
    with db.session_scope(url) as session:
        load_into(session, generate())
    option = next(o for o in propose(PlanRequest(usd("1240.50"), 45, "US-MA", TODAY)) if len(o.schedule) >= 3)
    first, second = option.schedule[0], option.schedule[1]
    with db.session_scope(url) as session:
        row, _ = record_arrangement(session, account_id="A-1001", option=option, channel="sms", conversation_id="c9")
        record_payment(session, account_id="A-1001", amount=first.amount, paid_on=first.due)
        broken = mark_broken(session, "A-1001", second.due + timedelta(days=1))
        assert [(b.due, b.amount) for b in broken] == [second] and row.status == "broken"


def test_arrangements_promises_broken_and_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sor.db'}"
    with db.session_scope(url) as session:
        load_into(session, generate())
    option = propose(PlanRequest(usd("1240.50"), 45, "US-MA", TODAY))[-1]
    assert option_from_dict(json.loads(json.dumps(option_to_dict(option)))) == option
    with db.session_scope(url) as session:
        row, promise = record_arrangement(
            session, account_id="A-1001", option=option, channel="sms", conversation_id="c1"
        )
        assert promise is not None and promise.due_date == option.schedule[0].due
        assert sum(p["amount_minor"] for p in json.loads(row.schedule)) == option.total.minor
        again, again_promise = record_arrangement(
            session, account_id="A-1001", option=option, channel="sms", conversation_id="c1"
        )
        # one arrangement at a time, and the replaced one's first payment is no longer promised
        assert row.status == "cancelled" and again.status == "active"
        assert promise.status == "cancelled" and again_promise is not None and again_promise.status == "open"
        upcoming = next_payment(session, "A-1001", TODAY)
        assert upcoming == NextPayment(option.schedule[0].amount, option.schedule[0].due, arrangement_id=again.id)
        second = option.schedule[1]
        assert next_payment(session, "A-1001", option.schedule[0].due + timedelta(days=1)) == NextPayment(
            second.amount, second.due, arrangement_id=again.id
        )
        # a promise made outside the arrangement, due sooner, is the next payment
        extra = db.record_promise(
            session, account_id="A-1001", amount=usd("20"), due_date=TODAY, channel="rest", conversation_id="c2"
        )
        session.flush()
        assert next_payment(session, "A-1001", TODAY) == NextPayment(usd("20"), TODAY, promise_id=extra.id)
        # both are listed; the arrangement's own first-payment promise is not listed twice
        assert upcoming_payments(session, "A-1001", TODAY) == [
            NextPayment(usd("20"), TODAY, promise_id=extra.id),
            NextPayment(option.schedule[0].amount, option.schedule[0].due, arrangement_id=again.id),
        ]
        extra.status = "cancelled"
    with db.session_scope(url) as session:
        assert mark_broken(session, "A-1001", option.schedule[0].due) == []  # due today: not yet broken
        broken = mark_broken(session, "A-1001", option.schedule[0].due + timedelta(days=1))
        assert [b.amount for b in broken] == [option.schedule[0].amount]
        assert next_payment(session, "A-1001", option.schedule[0].due + timedelta(days=1)) is None
        assert mark_broken(session, "A-1001", option.schedule[0].due + timedelta(days=2)) == []
        kept = record_payment(session, account_id="A-1001", amount=option.schedule[0].amount, paid_on=TODAY)
        assert len(kept) == 1
        with pytest.raises(ValueError):
            record_payment(session, account_id="A-1001", amount=Money.of("1", "GBP"), paid_on=TODAY)
    with db.session_scope(url) as session:
        account = session.get(db.Account, "A-1001")
        assert account.balance.minor == 124050 - option.schedule[0].amount.minor
        assert account.annual_rate == Decimal("0.1999")


def test_a_payment_holiday_is_an_arrangement_with_no_promise_and_a_replacement_is_on_the_record(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'sor.db'}"
    with db.session_scope(url) as session:
        load_into(session, generate())
    request = PlanRequest(usd("1240.50"), 45, "US-MA", TODAY, hardship_type="job_loss", hardship_duration="temporary")
    holiday = next(o for o in propose(request) if o.kind == "deferral")
    with db.session_scope(url) as session:
        row, promise = record_arrangement(
            session, account_id="A-1001", option=holiday, channel="sms", conversation_id="c1"
        )
        first = row.id
        assert promise is None and row.status == "active" and row.total_minor == 0
    plan = next(o for o in propose(PlanRequest(usd("1240.50"), 45, "US-MA", TODAY)) if o.kind == "instalments")
    with db.session_scope(url) as session:
        second, _ = record_arrangement(session, account_id="A-1001", option=plan, channel="sms", conversation_id="c1")
        assert session.get(db.Arrangement, first).status == "cancelled"
        log = session.execute(select(db.ContactLog).where(db.ContactLog.event == "arrangement_replaced")).scalars()
        assert [r.detail for r in log] == [f"ARR-{first} replaced by ARR-{second.id}"]
        audit = session.execute(select(db.AuditEntry).where(db.AuditEntry.action == "arrangement_replaced")).scalars()
        assert len(list(audit)) == 1
