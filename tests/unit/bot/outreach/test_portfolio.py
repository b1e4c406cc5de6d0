from collections import Counter
from datetime import date

from bot import db
from bot.money import Money
from bot.outreach.portfolio import count_accounts, generate, load_into


def test_portfolio_is_deterministic_and_spread() -> None:
    accounts = generate()
    assert accounts == generate()
    assert len(accounts) >= 200
    assert len({a.id for a in accounts}) == len(accounts)
    assert len({a.phone for a in accounts}) == len(accounts)
    buckets = Counter(
        "1-30"
        if a.days_past_due <= 30
        else "31-60"
        if a.days_past_due <= 60
        else "61-90"
        if a.days_past_due <= 90
        else "90+"
        for a in accounts
    )
    assert all(buckets[b] >= 20 for b in ("1-30", "31-60", "61-90", "90+")), buckets
    jurisdictions = {a.jurisdiction for a in accounts}
    assert {"US-MA", "UK", "CN"} <= jurisdictions and len([j for j in jurisdictions if j.startswith("US-")]) >= 4
    assert len({a.time_zone for a in accounts}) >= 5


def test_fixture_accounts_are_exact() -> None:
    by_id = {a.id: a for a in generate()}
    a = by_id["A-1001"]
    assert (
        a.phone,
        a.date_of_birth,
        a.postcode,
        a.last_four,
        a.balance,
        a.days_past_due,
        a.jurisdiction,
        a.time_zone,
    ) == (
        "+16175550101",
        date(1985, 4, 12),
        "02139",
        "4821",
        Money.of("1240.50", "USD"),
        45,
        "US-MA",
        "America/New_York",
    )
    assert (by_id["A-1003"].phone, by_id["A-1003"].postcode, by_id["A-1003"].time_zone) == (
        "+12125550103",
        "98101",
        "America/Los_Angeles",
    )
    assert by_id["A-2001"].balance == Money.of("2150.00", "GBP") and by_id["A-2001"].postcode == "SW1A 1AA"
    assert by_id["A-3001"].balance == Money.of("8600.00", "CNY") and by_id["A-3001"].time_zone == "Asia/Shanghai"
    assert by_id["A-1002"].days_past_due == 95


def test_load_is_idempotent_and_promises_are_recorded(database: str) -> None:
    url = database
    with db.session_scope(url) as session:
        assert load_into(session, generate()) >= 200
    with db.session_scope(url) as session:
        assert load_into(session, generate()) == 0
        total = count_accounts(session)
        account = db.find_account(session, phone_e164="+16175550101")
        assert account is not None and account.id == "A-1001" and account.balance == Money.of("1240.50", "USD")
        row = db.record_promise(
            session,
            account_id="A-1001",
            amount=Money.of("200", "USD"),
            due_date=date(2026, 12, 4),
            channel="rest",
            conversation_id="c1",
        )
    with db.session_scope(url) as session:
        assert count_accounts(session) == total
        stored = session.get(db.PromiseToPay, row.id)
        assert stored.amount == Money.of("200.00", "USD") and stored.due_date == date(2026, 12, 4)
        assert [c.event for c in session.query(db.ContactLog).filter_by(account_id="A-1001")] == ["ptp_recorded"]
        # loaded in bulk with explicit debtor ids: a debtor added afterwards still gets a new id
        session.add(db.Debtor(full_name="New", date_of_birth=date(1990, 1, 1), phone_e164="+16175550177", postcode="1"))
        session.flush()


def test_any_size_from_fictional_ranges() -> None:
    """The demo generator makes portfolios of any size: the default one is a prefix of a larger
    one, phone numbers are unique and possible, and 555 numbers come from the 555 exchange."""
    import phonenumbers

    from bot.outreach.portfolio import iter_generate

    default = generate()
    large = list(iter_generate(count=12_000))
    assert large[: len(default)] == default and len(large) == len(default) - 240 + 12_000
    phones = [a.phone for a in large]
    assert len(set(phones)) == len(phones)
    assert all(phonenumbers.is_possible_number(phonenumbers.parse(p)) for p in phones[::97])
    assert all(p[5:8] == "555" for p in phones if p.startswith("+1"))
    assert {a.jurisdiction for a in large} >= {"US-MA", "UK", "CN"}
