"""Synthetic demo portfolio: the fixture accounts of ``data/portfolio/fixtures.yml`` plus a
deterministic generated spread over DPD buckets, jurisdictions and time zones
(``data/portfolio/generator.yml``) of any size, loaded in bulk. No real person's data.

Phone numbers come from the fictional ranges in the spec, region by region: first the ranges
reserved for fiction (NANP 555-0100 to 555-0199, Ofcom's drama numbers), then, for portfolios
larger than those hold, the rest of the NANP 555 exchange, which is not assigned to subscribers.
A region whose ranges are used up is drawn no more, so a very large portfolio leans towards the
regions with more numbers; every number is a possible one (libphonenumber).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.money import Money
from bot.settings import DATA as DATA_DIR

DATA = DATA_DIR / "portfolio"


@dataclass(frozen=True)
class PortfolioAccount:
    """One account with its debtor, as loaded into the system of record."""

    id: str
    full_name: str
    phone: str  # E.164
    date_of_birth: date
    postcode: str
    last_four: str
    balance: Money
    days_past_due: int
    jurisdiction: str
    time_zone: str
    annual_rate: Decimal = Decimal("0.1999")  # contract interest rate, a yearly fraction
    sms_consent: bool = True  # consent to texts at this number is on file (table debtors)
    # mail, e-mail (with its 12 CFR 1006.6(d)(4) source and E-SIGN consent) and other typed numbers
    mailing_address: str | None = None
    email: str | None = None
    email_source: str | None = None
    esign_consent: date | None = None
    phones: tuple[tuple[str, str], ...] = ()  # (E.164, kind) besides the primary mobile number
    # the statute of limitations runs from the later of these (data/limitations.yml)
    default_date: date | None = None
    last_payment_date: date | None = None
    creditor: str | None = None


def _check_phone(phone: str, where: str) -> str:
    parsed = phonenumbers.parse(phone, None)
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{where}: phone {phone!r} is not a possible number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def load_fixtures(path: Path = DATA / "fixtures.yml") -> list[PortfolioAccount]:
    """The fixture accounts. Raises ValueError naming the account and field on bad data."""
    raw = yaml.safe_load(path.read_text())["accounts"]
    out = []
    for item in raw:
        where = f"{path.name}: account {item.get('id', '?')}"
        try:
            out.append(
                PortfolioAccount(
                    id=item["id"],
                    full_name=item["full_name"],
                    phone=_check_phone(str(item["phone"]), where),
                    date_of_birth=item["date_of_birth"],
                    postcode=str(item["postcode"]),
                    last_four=str(item["last_four"]),
                    balance=Money.of(str(item["balance"]), item["currency"]),
                    days_past_due=int(item["days_past_due"]),
                    jurisdiction=item["jurisdiction"],
                    time_zone=item["time_zone"],
                    annual_rate=Decimal(str(item.get("annual_rate", "0.1999"))),
                    sms_consent=bool(item.get("sms_consent", True)),
                    mailing_address=item.get("mailing_address"),
                    email=item.get("email"),
                    email_source=item.get("email_source"),
                    esign_consent=item.get("esign_consent"),
                    phones=tuple(
                        (_check_phone(str(p["number"]), where), str(p["kind"])) for p in item.get("phones") or []
                    ),
                    default_date=item.get("default_date"),
                    last_payment_date=item.get("last_payment_date"),
                    creditor=item.get("creditor"),
                )
            )
        except KeyError as exc:
            raise ValueError(f"{where}: missing field {exc.args[0]}") from exc
    return out


@lru_cache(maxsize=8)
def _spec(path: Path, mtime: float) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    return spec


def load_spec(path: Path = DATA / "generator.yml") -> dict[str, Any]:
    """The generator spec (read once while the file is unchanged)."""
    return _spec(path, path.stat().st_mtime)


_BLOCK = re.compile(r"^(?P<pattern>\S+)\s+(?P<first>\d+)\.\.(?P<last>\d+)$")
_WIDTH = re.compile(r"\{n:0(\d+)d\}")


def phone_blocks(region: dict[str, Any], spec: dict[str, Any]) -> Iterator[str]:
    """The region's phone numbers in order: its ``phone`` pattern (``{n}`` from 10 up to the
    pattern's width), then each of ``phones`` ("PATTERN FIRST..LAST"), then the spec's
    ``area_blocks`` for each of the region's ``areas`` (``{area}`` in the pattern).
    Raises ValueError naming the region for a block that is not "PATTERN FIRST..LAST"."""
    width = _WIDTH.search(region["phone"])
    last = 10 ** int(width.group(1)) - 1 if width else 99
    yield from (region["phone"].format(n=n) for n in range(10, last + 1))
    blocks = list(region.get("phones") or [])
    blocks += [b.replace("{area}", str(a)) for b in spec.get("area_blocks") or [] for a in region.get("areas") or []]
    for block in blocks:
        match = _BLOCK.match(str(block))
        if not match:
            raise ValueError(
                f"generator.yml: region {region['jurisdiction']}: phone block {block!r} is not 'PATTERN FIRST..LAST'"
            )
        pattern = match.group("pattern")
        yield from (pattern.format(n=n) for n in range(int(match.group("first")), int(match.group("last")) + 1))


def iter_generate(path: Path = DATA / "generator.yml", count: int | None = None) -> Iterator[PortfolioAccount]:
    """Fixtures, then ``count`` generated accounts (default the spec's ``count``), one at a time;
    the same file and count always yield the same portfolio, and a larger count the same
    accounts first. Raises ValueError when the regions' phone ranges cannot hold ``count``."""
    spec = load_spec(path)
    rng = random.Random(spec["seed"])
    fixtures = load_fixtures()
    yield from fixtures
    used_phones = {a.phone for a in fixtures}
    regions = list(spec["regions"])
    numbers = {r["jurisdiction"]: phone_blocks(r, spec) for r in regions}
    buckets = spec["dpd_buckets"]
    for i in range(spec["count"] if count is None else count):
        while True:
            if not regions:
                raise ValueError(f"generator.yml: the phone ranges hold {i} accounts, not {count}")
            region = rng.choices(regions, weights=[r["weight"] for r in regions])[0]
            phone = next((p for p in numbers[region["jurisdiction"]] if p not in used_phones), None)
            if phone is not None:
                break
            regions.remove(region)  # its fictional numbers are used up: draw among the others
        used_phones.add(phone)
        low, high, _ = rng.choices(buckets, weights=[b[2] for b in buckets])[0]
        lo, hi = spec["balance_bands"][region["currency"]]
        balance = Decimal(rng.randrange(lo * 100, hi * 100)) / 100
        yield PortfolioAccount(
            id=f"A-{5000 + i}",
            full_name=f"{rng.choice(spec['first_names'])} {rng.choice(spec['last_names'])}",
            phone=phone,
            date_of_birth=date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
            postcode=rng.choice(region["postcodes"]),
            last_four=f"{rng.randint(0, 9999):04d}",
            balance=Money.of(balance, region["currency"]),
            days_past_due=rng.randint(low, high),
            jurisdiction=region["jurisdiction"],
            time_zone=region["time_zone"],
        )


def generate(path: Path = DATA / "generator.yml", count: int | None = None) -> list[PortfolioAccount]:
    """Fixtures plus ``count`` generated accounts (default the spec's ``count``) as a list; see
    :func:`iter_generate`."""
    return list(iter_generate(path, count))


@dataclass(frozen=True)
class HistoryMonth:
    """One month of synthetic payment history; amounts in minor units; ``promise`` is "",
    "kept" or "broken"; ``month`` is the first day of the month."""

    month: date
    due_minor: int
    paid_minor: int
    promise: str
    hardship: bool


@dataclass(frozen=True)
class CohortRecord:
    """A past account snapshot and what happened next: ``rolled`` is True when the account moved
    to the next DPD bucket within 30 days. ``balance_position`` is where the balance sits in the
    currency's band (0 = bottom, 1 = top of ``balance_bands``)."""

    days_past_due: int
    balance_position: float
    history: tuple[HistoryMonth, ...]
    rolled: bool


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def simulate_history(
    rng: random.Random, days_past_due: int, due_minor: int, as_of: date, months: int
) -> tuple[tuple[HistoryMonth, ...], float]:
    """``months`` months of history before ``as_of`` (oldest first) consistent with the account
    being ``days_past_due`` behind, and the account's roll log-odds (hidden from the model).

    Behaviour comes from two latent traits, willingness and capacity to pay; a low capacity
    shows as a reported hardship. The months the account is in arrears for are unpaid or partly
    paid, with any promise for them broken."""
    willingness, capacity = rng.gauss(0, 1), rng.gauss(0, 1)
    hardship_months = rng.randint(1, 3) if capacity < -0.8 and rng.random() < 0.7 else 0
    in_arrears = min(months, math.ceil(days_past_due / 30))
    out = []
    for i in range(months):
        month = as_of - relativedelta(months=months - i)
        arrears = i >= months - in_arrears
        if arrears:
            paid = int(due_minor * rng.uniform(0.2, 0.6)) if rng.random() < _sigmoid(willingness - 0.5) * 0.6 else 0
        else:
            roll = rng.random()
            p_full = _sigmoid(1.2 * willingness + 0.8 * capacity + 0.8)
            paid = due_minor if roll < p_full else int(due_minor * rng.uniform(0.2, 0.8)) if roll < 0.9 else 0
        promise = ""
        if paid < due_minor and rng.random() < (0.2 if arrears else 0.4):
            promise = "broken" if arrears or rng.random() > _sigmoid(1.5 * willingness + 0.3) else "kept"
        out.append(HistoryMonth(month, due_minor, paid, promise, i >= months - hardship_months))
    bucket = 0 if days_past_due <= 30 else 1 if days_past_due <= 60 else 2 if days_past_due <= 90 else 3
    log_odds = -0.3 - 1.3 * willingness - 0.9 * capacity + 0.25 * bucket + 0.015 * (days_past_due % 30)
    return tuple(out), log_odds


def _monthly_due(balance_minor: int) -> int:
    # the contractual instalment of a personal loan of this size: about a twelfth, at least 25.00
    return max(2500, balance_minor // 12)


def history_for(account: PortfolioAccount, path: Path = DATA / "generator.yml") -> tuple[HistoryMonth, ...]:
    """The account's synthetic history; the same account always gets the same history (its own
    random stream, seeded by the spec's seed and the account id, so :func:`generate` is unchanged)."""
    spec = load_spec(path)
    rng = random.Random(f"{spec['seed']}:{account.id}")
    hist = spec["history"]
    history, _ = simulate_history(
        rng, account.days_past_due, _monthly_due(account.balance.minor), hist["as_of"], hist["months"]
    )
    return history


def generate_cohort(path: Path = DATA / "generator.yml") -> list[CohortRecord]:
    """Past account snapshots with their outcome, drawn like the portfolio (same DPD buckets and
    balance bands), to train and test the roll-rate model. Deterministic for a given spec."""
    spec = load_spec(path)
    hist = spec["history"]
    rng = random.Random(hist["cohort_seed"])
    buckets = spec["dpd_buckets"]
    lo, hi = spec["balance_bands"]["USD"]
    out = []
    for _ in range(hist["cohort_size"]):
        low, high, _w = rng.choices(buckets, weights=[b[2] for b in buckets])[0]
        dpd = rng.randint(low, high)
        balance_minor = rng.randrange(lo * 100, hi * 100)
        position = (balance_minor - lo * 100) / ((hi - lo) * 100)
        history, log_odds = simulate_history(rng, dpd, _monthly_due(balance_minor), hist["as_of"], hist["months"])
        rolled = rng.random() < _sigmoid(log_odds + 0.4 * position)
        out.append(CohortRecord(dpd, position, history, rolled))
    return out


def balance_position(balance: Money, path: Path = DATA / "generator.yml") -> float:
    """Where ``balance`` sits in its currency's band of the generator spec, clipped to 0..1."""
    spec = load_spec(path)
    lo, hi = spec["balance_bands"].get(balance.currency, spec["balance_bands"]["USD"])
    return min(1.0, max(0.0, float(balance.minor - lo * 100) / float((hi - lo) * 100)))


def itemization_for(a: PortfolioAccount, history: tuple[HistoryMonth, ...]) -> tuple[date, int, int, int]:
    """(itemization date, balance then, interest since, payments since) in minor units for the
    validation notice (12 CFR 1006.34(c)(2)(vi)): itemized at the last statement before the
    account fell behind (the history's as-of date less the days past due), with the contract
    interest and the payments of the history since then, so the itemization adds up to the
    balance."""
    as_of = date.fromisoformat(str(load_spec(DATA / "generator.yml")["history"]["as_of"]))
    item_date = as_of - relativedelta(days=a.days_past_due)
    paid = sum(m.paid_minor for m in history if m.month >= item_date.replace(day=1))
    interest = int(a.balance.minor * a.annual_rate * a.days_past_due / 365)
    return item_date, a.balance.minor - interest + paid, interest, paid


def load_into(session: Session, accounts: Iterable[PortfolioAccount], batch: int = 2000, progress: bool = False) -> int:
    """Insert the accounts that are not there yet (by account id), each with its debtor, typed
    phone numbers, validation-notice itemization and synthetic payment history (table
    ``payment_history``), in bulk: a few statements per ``batch`` accounts, in the caller's
    transaction. Returns how many accounts were added."""
    from datetime import datetime, timezone

    from sqlalchemy import insert
    from tqdm import tqdm

    from bot.db import Account, Debtor, PaymentMonth, PhoneNumber, utcnow

    existing = set(session.execute(select(Account.id)).scalars())
    next_debtor = int(session.execute(select(func.max(Debtor.id))).scalar() or 0) + 1
    added = 0
    stream = iter(accounts)
    with tqdm(desc="accounts", unit="account", disable=not progress) as bar:
        while chunk := list(itertools.islice(stream, batch)):
            new = [a for a in chunk if a.id not in existing]
            bar.update(len(chunk))
            if not new:
                continue
            debtors, rows, months, phones = [], [], [], []
            for offset, a in enumerate(new):
                debtor_id = next_debtor + offset
                consent = (
                    datetime.combine(a.esign_consent, datetime.min.time(), tzinfo=timezone.utc)
                    if a.esign_consent
                    else None
                )
                debtors.append(
                    {
                        "id": debtor_id,
                        "full_name": a.full_name,
                        "date_of_birth": a.date_of_birth,
                        "phone_e164": a.phone,
                        "postcode": a.postcode,
                        "mailing_address": a.mailing_address or f"{a.full_name}, {a.postcode}",
                        "email": a.email,
                        "email_source": a.email_source,
                        "esign_consent_at": consent,
                        # consent to texts at this number (for a collector's reply or a payment link)
                        "sms_consent_at": utcnow() if a.sms_consent else None,
                    }
                )
                history = history_for(a)
                item_date, item_balance, interest, paid = itemization_for(a, history)
                rows.append(
                    {
                        "id": a.id,
                        "debtor_id": debtor_id,
                        "product": "personal_loan",
                        "balance_minor": a.balance.minor,
                        "currency": a.balance.currency,
                        "days_past_due": a.days_past_due,
                        "jurisdiction": a.jurisdiction,
                        "time_zone": a.time_zone,
                        "last_four": a.last_four,
                        "apr_bps": int(a.annual_rate * 10000),
                        "creditor": a.creditor,
                        "itemization_date": item_date,
                        "itemization_balance_minor": item_balance,
                        "interest_since_minor": interest,
                        "credits_since_minor": paid,
                        "default_date": a.default_date or item_date,
                        "last_payment_date": a.last_payment_date,
                    }
                )
                phones.append({"debtor_id": debtor_id, "e164": a.phone, "kind": "mobile"})
                phones += [{"debtor_id": debtor_id, "e164": number, "kind": kind} for number, kind in a.phones]
                months += [
                    {
                        "account_id": a.id,
                        "month": m.month,
                        "due_minor": m.due_minor,
                        "paid_minor": m.paid_minor,
                        "currency": a.balance.currency,
                        "promise": m.promise,
                        "hardship": m.hardship,
                    }
                    for m in history
                ]
            session.execute(insert(Debtor.__table__), debtors)
            session.execute(insert(PhoneNumber.__table__), phones)
            session.execute(insert(Account.__table__), rows)
            session.execute(insert(PaymentMonth.__table__), months)
            next_debtor += len(new)
            existing.update(a.id for a in new)
            added += len(new)
    bind = session.get_bind()
    if added and bind.dialect.name == "postgresql":  # the ids were given: move the sequence past them
        session.execute(text("SELECT setval(pg_get_serial_sequence('debtors', 'id'), (SELECT max(id) FROM debtors))"))
    return added


def count_accounts(session: Session) -> int:
    """How many accounts the system of record holds."""
    from bot.db import Account

    return int(session.execute(select(func.count()).select_from(Account)).scalar_one())
