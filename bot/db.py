"""System of record (SQLAlchemy): debtors, accounts, contact log, promises to pay, payment history,
audit log, and the event log of every conversation (``events``, written by Rasa's event broker).

SQLite file by default (``var/collections.db``); PostgreSQL or any SQLAlchemy URL through the
``DATABASE_URL`` environment variable. Money columns hold integer minor units. The schema is
versioned (Alembic, ``bot/migrations``) and upgraded when a process first opens the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, contains_eager, declarative_base, relationship, sessionmaker

from bot.money import Money

ROOT = Path(__file__).resolve().parent.parent
Base: Any = declarative_base()
# 64-bit keys on PostgreSQL for tables that grow with every turn; SQLite's rowid is 64-bit already
BigKey = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class Debtor(Base):
    """A person who owes money. ``phone_e164`` is unique and is the SMS/voice sender id."""

    __tablename__ = "debtors"
    id = Column(Integer, primary_key=True)
    full_name = Column(String(120), nullable=False)
    date_of_birth = Column(Date, nullable=False)
    phone_e164 = Column(String(20), nullable=False, unique=True, index=True)
    postcode = Column(String(12), nullable=False)
    # when the debtor gave consent to texts at this number (TCPA prior express consent; E-SIGN),
    # e.g. for a collector's web chat reply or a payment link; None when none is on file
    sms_consent_at = Column(DateTime(timezone=True), nullable=True)
    language = Column(String(8), nullable=True)  # ISO 639-1 the debtor prefers; None: the jurisdiction's
    # mail and e-mail: the validation notice goes by e-mail only with E-SIGN consent (15 U.S.C.
    # 7001(c); 12 CFR 1006.42), else by mail; ``email_source`` says how we got the address, the
    # safe-harbour procedure of 12 CFR 1006.6(d)(4) it rests on (data/compliance/email.yml)
    mailing_address = Column(Text, nullable=True)
    email = Column(String(254), nullable=True)
    email_source = Column(String(32), nullable=True)
    esign_consent_at = Column(DateTime(timezone=True), nullable=True)
    accounts = relationship("Account", back_populates="debtor")
    phones = relationship("PhoneNumber", back_populates="debtor", order_by="PhoneNumber.id")


class Account(Base):
    """A delinquent loan account. ``balance_minor`` is in minor units of ``currency``."""

    __tablename__ = "accounts"
    id = Column(String(16), primary_key=True)  # account reference, e.g. "A-1001"
    debtor_id = Column(Integer, ForeignKey("debtors.id"), nullable=False, index=True)
    product = Column(String(32), nullable=False, default="personal_loan")
    balance_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    days_past_due = Column(Integer, nullable=False)
    jurisdiction = Column(String(8), nullable=False)  # "US-MA", "UK", "CN"
    time_zone = Column(String(64), nullable=False)  # IANA zone
    last_four = Column(String(4), nullable=False)
    apr_bps = Column(Integer, nullable=False, default=0, server_default="0")  # contract rate, basis points a year
    # the validation notice's itemization (12 CFR 1006.34(c)(2)): the itemization date, what was
    # owed then, and interest, fees, payments and credits since (minor units)
    creditor = Column(String(120), nullable=True)  # current creditor; None: the business itself
    itemization_date = Column(Date, nullable=True)
    itemization_balance_minor = Column(Integer, nullable=True)
    interest_since_minor = Column(Integer, nullable=False, default=0, server_default="0")
    fees_since_minor = Column(Integer, nullable=False, default=0, server_default="0")
    credits_since_minor = Column(Integer, nullable=False, default=0, server_default="0")
    # the statute of limitations runs from the later of these (data/limitations.yml)
    default_date = Column(Date, nullable=True)
    last_payment_date = Column(Date, nullable=True)
    debtor = relationship("Debtor", back_populates="accounts")

    @property
    def balance(self) -> Money:
        """The outstanding balance as :class:`Money`."""
        return Money(int(self.balance_minor), str(self.currency))

    @property
    def annual_rate(self) -> Decimal:
        """The contract interest rate as a yearly fraction (``Decimal("0.1999")``)."""
        return Decimal(int(self.apr_bps or 0)) / 10000


class PhoneNumber(Base):
    """One of a debtor's phone numbers with its ``kind``: mobile, home or work. Mobile and home
    are the debtor's personal numbers (940 CMR 7.04(1)(f)); a work number is at the place of
    employment (12 CFR 1006.6(b)(3)). ``Debtor.phone_e164`` is the primary (mobile) number."""

    __tablename__ = "phone_numbers"
    id = Column(Integer, primary_key=True)
    debtor_id = Column(Integer, ForeignKey("debtors.id"), nullable=False, index=True)
    e164 = Column(String(20), nullable=False, index=True)
    kind = Column(String(8), nullable=False)  # mobile, home, work
    debtor = relationship("Debtor", back_populates="phones")

    @property
    def personal(self) -> bool:
        """Mobile and home numbers are the debtor's personal numbers; a work number is not."""
        return bool(self.kind != "work")


class ContactLog(Base):
    """One inbound or outbound contact or conversation event (append-only)."""

    __tablename__ = "contact_log"
    id = Column(Integer, primary_key=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=True, index=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    channel = Column(String(16), nullable=False)  # sms, voice, webchat, rest
    direction = Column(String(8), nullable=False)  # inbound, outbound
    conversation_id = Column(String(128), nullable=True, index=True)
    event = Column(String(32), nullable=False)  # e.g. rpc_verified, verification_failed, ptp_recorded
    detail = Column(Text, nullable=True)
    phone_kind = Column(String(8), nullable=True)  # mobile, home or work for a call or SMS to a typed number


class PromiseToPay(Base):
    """A PTP: the debtor's promise of ``amount_minor`` in ``currency`` on ``due_date`` (debtor's zone)."""

    __tablename__ = "promises_to_pay"
    id = Column(Integer, primary_key=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    amount_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    due_date = Column(Date, nullable=False)
    status = Column(String(12), nullable=False, default="open")  # open, kept, broken, cancelled
    channel = Column(String(16), nullable=False)
    conversation_id = Column(String(128), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    @property
    def amount(self) -> Money:
        """The promised amount as :class:`Money`."""
        return Money(int(self.amount_minor), str(self.currency))


class Arrangement(Base):
    """A repayment arrangement the debtor accepted: its kind, totals in minor units and its
    schedule (JSON list of ``{"due": "YYYY-MM-DD", "amount_minor": int}``, debtor's local dates).
    ``status``: active, kept, broken, cancelled."""

    __tablename__ = "arrangements"
    id = Column(Integer, primary_key=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    kind = Column(String(20), nullable=False)  # pay_in_full, settlement, instalments, reduced_payments, deferral
    frequency = Column(String(12), nullable=True)
    total_minor = Column(Integer, nullable=False)
    discount_minor = Column(Integer, nullable=False, default=0)
    interest_minor = Column(Integer, nullable=False, default=0)
    rate_bps = Column(Integer, nullable=False, default=0)
    currency = Column(String(3), nullable=False)
    schedule = Column(Text, nullable=False)
    status = Column(String(12), nullable=False, default="active")
    channel = Column(String(16), nullable=False)
    conversation_id = Column(String(128), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class OptOut(Base):
    """A channel the debtor asked us to stop using (TCPA; 12 CFR 1006.6(e), 1006.14(h)).

    ``address`` is the phone number in E.164 or the chat sender id; ``channel`` is sms, voice,
    webchat or rest.
    """

    __tablename__ = "opt_outs"
    id = Column(Integer, primary_key=True)
    address = Column(String(128), nullable=False, index=True)
    channel = Column(String(16), nullable=False)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    wording = Column(Text, nullable=True)


class PaymentMonth(Base):
    """One month of an account's payment history: ``due_minor`` and ``paid_minor`` in minor units
    of ``currency``; ``promise`` is "", "kept" or "broken" (a PTP made for that month);
    ``hardship`` marks a hardship reported that month. ``month`` is the first day of the month."""

    __tablename__ = "payment_history"
    id = Column(Integer, primary_key=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    month = Column(Date, nullable=False)
    due_minor = Column(Integer, nullable=False)
    paid_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    promise = Column(String(8), nullable=False, default="")
    hardship = Column(Boolean, nullable=False, default=False)


class HandoffTicket(Base):
    """A conversation handed to a person (DESIGN §3 item 8). ``priority`` 1 is most urgent
    (crisis); ``reason`` is a code from data/handoff.yml; ``outcome`` one of its outcome codes
    once resolved (or "handed_back"). Times are aware UTC. Mirrors the live queue in Redis."""

    __tablename__ = "handoff_tickets"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=True, index=True)
    channel = Column(String(16), nullable=False)  # sms, voice, webchat, rest
    reason = Column(String(32), nullable=False)
    priority = Column(Integer, nullable=False)
    opened_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    claimed_by = Column(String(64), nullable=True)
    claimed_at = Column(DateTime(timezone=True), nullable=True)
    resolved_at = Column(DateTime(timezone=True), nullable=True)
    outcome = Column(String(32), nullable=True)
    notes = Column(Text, nullable=True)
    summary = Column(Text, nullable=True)  # JSON: verification, hardship, offers, PTP, last messages


class PaymentLink(Base):
    """A payment page at the payment provider (a Stripe Checkout Session) for one amount: a
    one-off payment, a promise to pay (``promise_id``) or an arrangement's instalment (its
    promise). ``status`` is open, paid or expired; card details are only ever entered on the
    provider's page, never here."""

    __tablename__ = "payment_links"
    id = Column(Integer, primary_key=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    provider = Column(String(16), nullable=False, default="stripe")
    provider_session_id = Column(String(255), nullable=False, unique=True, index=True)
    url = Column(Text, nullable=False)
    amount_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    purpose = Column(String(16), nullable=False)  # one_off, promise, instalment
    promise_id = Column(Integer, ForeignKey("promises_to_pay.id"), nullable=True)
    status = Column(String(12), nullable=False, default="open")
    channel = Column(String(16), nullable=False)
    conversation_id = Column(String(128), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    paid_at = Column(DateTime(timezone=True), nullable=True)

    @property
    def amount(self) -> Money:
        """The amount the link asks for."""
        return Money(int(self.amount_minor), str(self.currency))


class PaymentEvent(Base):
    """A payment provider's webhook event, stored once by its id: a replayed or redelivered event
    finds its row and is not processed again. ``outcome`` says what processing did."""

    __tablename__ = "payment_events"
    id = Column(String(255), primary_key=True)  # the provider's event id (evt_...)
    provider = Column(String(16), nullable=False, default="stripe")
    type = Column(String(64), nullable=False)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    outcome = Column(String(32), nullable=False)


class ValidationNotice(Base):
    """A validation notice (12 CFR 1006.34) generated for an account: the PDF, its dates, and how
    it goes out: ``method`` "email" (with E-SIGN consent) or "mail"; ``status`` "queued" (waiting
    for the post room), "sent" (e-mailed or posted, ``sent_at``) or "failed" (``error``).
    ``period_end`` is the last day to dispute (debtor's local date)."""

    __tablename__ = "validation_notices"
    id = Column(Integer, primary_key=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_on = Column(Date, nullable=False)  # the date the notice is provided (debtor's local date)
    period_end = Column(Date, nullable=False)
    itemization_date = Column(Date, nullable=False)
    method = Column(String(8), nullable=False)  # email, mail
    status = Column(String(8), nullable=False, default="queued")  # queued, sent, failed
    to_address = Column(Text, nullable=False)  # e-mail address or mailing address
    sent_at = Column(DateTime(timezone=True), nullable=True)
    error = Column(Text, nullable=True)
    pdf = Column(LargeBinary, nullable=False)


class AuditEntry(Base):
    """One compliance decision in the append-only, hash-chained audit log: who (``actor``) did or
    asked what (``action``), the ``outcome`` and reason codes. Written only through
    :func:`bot.compliance.audit.record`."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    actor = Column(String(64), nullable=False)  # bot, gate, collector:<name>, outreach
    account_id = Column(String(16), nullable=True, index=True)
    action = Column(String(64), nullable=False)  # e.g. outbound_sms, bot_reply, opt_out
    outcome = Column(String(16), nullable=False)  # allow, deny, defer, blocked, recorded
    reasons = Column(Text, nullable=False, default="[]")  # JSON list of reason codes
    detail = Column(Text, nullable=True)
    prev_hash = Column(String(64), nullable=False)
    hash = Column(String(64), nullable=False)


class EventRecord(Base):
    """One Rasa tracker event in the event log (table ``events``, the layout of Rasa's
    ``SQLEventBroker`` plus ``position``, ``type_name`` and ``timestamp``). ``position`` is the
    event's index (0-based) in its conversation's whole history, so a conversation's earlier
    sessions can be read back in order and a write can never add an event twice; ``data`` is
    the event's JSON as Rasa's ``Event.as_dict`` gives it, with ``sender_id``."""

    __tablename__ = "events"
    id = Column(BigKey, primary_key=True)
    sender_id = Column(String(255), nullable=False)
    position = Column(Integer, nullable=True)  # NULL only for rows another broker wrote
    type_name = Column(String(32), nullable=True)
    timestamp = Column(Float, nullable=True)  # seconds since the epoch, as Rasa stores it
    data = Column(Text, nullable=False)
    __table_args__ = (Index("ix_events_sender_id_position", "sender_id", "position", unique=True),)


class PhoneZones(Base):
    """The time zones of a phone number's area code (``bot.compliance.gate.phone_time_zones``,
    comma-separated; empty when unknown), kept so a run over the portfolio does not work them out
    again for every debtor. Derived data: empty the table after upgrading libphonenumber."""

    __tablename__ = "phone_time_zones"
    phone_e164 = Column(String(20), primary_key=True)
    zones = Column(String(200), nullable=False)


def database_url() -> str:
    """``DATABASE_URL`` or the default SQLite file under ``var/``."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    path = ROOT / "var" / "collections.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


_engines: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """A cached engine for ``url`` (default :func:`database_url`), its schema upgraded to the
    newest migration (``bot.schema.upgrade``; raises ``bot.schema.SchemaError`` when that is not
    allowed for this role)."""
    from bot import schema

    url = url or database_url()
    if url not in _engines:
        engine = create_engine(url, future=True, pool_pre_ping=True)
        if url.startswith("sqlite"):

            @event.listens_for(engine, "connect")  # type: ignore[untyped-decorator]
            def _sqlite_pragmas(conn: Any, _record: Any) -> None:
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        schema.upgrade(engine)
        _engines[url] = engine
    return _engines[url]


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: commits on success, rolls back and re-raises on error."""
    session = sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def find_account(session: Session, *, phone_e164: str | None = None, reference: str | None = None) -> Account | None:
    """The account for a debtor phone (their first account) or an account reference, or None."""
    row: Account | None = None
    if reference:
        row = session.get(Account, reference.strip().upper())
    elif phone_e164:
        row = (
            session.execute(
                select(Account)
                .join(Debtor)
                .options(contains_eager(Account.debtor))  # the debtor comes with it: no second query
                .where(Debtor.phone_e164 == phone_e164)
                .order_by(Account.id)
            )
            .scalars()
            .first()
        )
    return row


def log_contact(
    session: Session,
    *,
    account_id: str | None,
    channel: str,
    direction: str,
    event: str,
    conversation_id: str | None = None,
    detail: str | None = None,
    phone_kind: str | None = None,
) -> ContactLog:
    """Append one contact-log row and return it (not yet committed). ``phone_kind`` (mobile,
    home, work) for a call or SMS to a number of that kind (the gate's per-kind caps read it)."""
    row = ContactLog(
        account_id=account_id,
        channel=channel,
        direction=direction,
        event=event,
        conversation_id=conversation_id,
        detail=detail,
        phone_kind=phone_kind,
    )
    session.add(row)
    return row


def count_events(session: Session, *, account_id: str, event: str, since: datetime) -> int:
    """How many contact-log rows of ``event`` the account has at or after ``since`` (aware UTC)."""
    from sqlalchemy import func

    query = (
        select(func.count())
        .select_from(ContactLog)
        .where(ContactLog.account_id == account_id, ContactLog.event == event, ContactLog.at >= since)
    )
    return int(session.execute(query).scalar_one())


def record_promise(
    session: Session,
    *,
    account_id: str,
    amount: Money,
    due_date: date,
    channel: str,
    conversation_id: str | None,
) -> PromiseToPay:
    """Store a promise to pay and log it; returns the row (flushed, so ``id`` is set)."""
    row = PromiseToPay(
        account_id=account_id,
        amount_minor=amount.minor,
        currency=amount.currency,
        due_date=due_date,
        channel=channel,
        conversation_id=conversation_id,
    )
    session.add(row)
    session.flush()
    log_contact(
        session,
        account_id=account_id,
        channel=channel,
        direction="inbound",
        event="ptp_recorded",
        conversation_id=conversation_id,
        detail=f"PTP-{row.id} {amount} on {due_date.isoformat()}",
    )
    return row
