"""Pay now: payment links from the payment provider (Stripe Checkout), and the provider's signed
webhook that records the payment.

A link is a Checkout Session for one amount: a one-off payment towards the balance, a promise to
pay, or an arrangement's instalment (which is a promise too). The debtor pays on the provider's
page; card details never pass through the bot, its logs or its trackers (PCI DSS scope stays
with the provider). The webhook (``checkout.session.completed``) is verified with the endpoint's
signing secret, stored once by its event id (a replay or a redelivery is answered and ignored),
and recorded with :func:`bot.repayment.arrangements.record_payment`, which keeps the promises
it covers; every processed event is an audit-log entry.

Settings (:meth:`PaymentSettings.from_env`): ``STRIPE_API_KEY``, ``STRIPE_API_BASE`` (the local
fake of Stripe's API, ``scripts/fake_stripe.py``, unless ``https://api.stripe.com``),
``STRIPE_WEBHOOK_SECRET`` and ``PAYMENT_RETURN_URL`` (the bot's public base URL the provider
sends the payer back to; default ``PUBLIC_URL``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.money import Money
from bot.repayment.arrangements import record_payment

logger = logging.getLogger(__name__)
# The stripe client logs each request at INFO with its parameters; warnings still show.
logging.getLogger("stripe").setLevel(logging.WARNING)
LINK_HOURS = 23  # a Checkout Session lives at most 24 hours at the provider
PURPOSES = ("one_off", "promise", "instalment")


class PaymentLinkError(RuntimeError):
    """The provider could not be reached or refused to create the payment page."""


@dataclass(frozen=True)
class PaymentSettings:
    """The provider account: ``api_key`` (secret key), ``api_base`` (its API's base URL),
    ``webhook_secret`` (the endpoint's signing secret, ``whsec_...``) and ``public_url`` (the
    bot's public base URL: the payer comes back to ``/webhooks/payments/done``)."""

    api_key: str
    api_base: str
    webhook_secret: str
    public_url: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PaymentSettings:
        """Settings from ``env`` (default ``os.environ``), with the local fake's defaults."""
        env = dict(os.environ) if env is None else env
        port = env.get("FAKE_STRIPE_PORT", "8098")
        return cls(
            api_key=env.get("STRIPE_API_KEY") or "sk_test_local_development",
            api_base=(env.get("STRIPE_API_BASE") or f"http://127.0.0.1:{port}").rstrip("/"),
            webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or "whsec_local_development",
            public_url=(
                env.get("PAYMENT_RETURN_URL")
                or env.get("PUBLIC_URL")
                or f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}"
            ).rstrip("/"),
        )

    def client(self) -> stripe.StripeClient:
        """The real ``stripe`` client pointed at :attr:`api_base`."""
        return stripe.StripeClient(self.api_key, base_addresses={"api": self.api_base}, max_network_retries=2)


def _open_link(
    session: Session, account_id: str, amount: Money, promise_id: int | None, now: datetime
) -> db.PaymentLink | None:
    """An open link for the same account, amount and promise that is good for another hour."""
    rows = session.execute(
        select(db.PaymentLink).where(
            db.PaymentLink.account_id == account_id,
            db.PaymentLink.status == "open",
            db.PaymentLink.amount_minor == amount.minor,
            db.PaymentLink.currency == amount.currency,
        )
    ).scalars()
    for row in rows:
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        if row.promise_id == promise_id and expires > now + timedelta(hours=1):
            found: db.PaymentLink = row
            return found
    return None


def create_link(
    session: Session,
    settings: PaymentSettings,
    *,
    account: db.Account,
    amount: Money,
    purpose: str,
    channel: str,
    conversation_id: str | None,
    promise_id: int | None = None,
    now: datetime | None = None,
) -> db.PaymentLink:
    """A payment page at the provider for ``amount`` (in the account's currency, more than zero)
    on ``account``; an open link for the same amount and promise is reused. The row is flushed
    (``id`` set) and a ``payment_link_sent`` contact-log row written. Raises ValueError for a bad
    amount or purpose, :class:`PaymentLinkError` when the provider fails."""
    now = now or db.utcnow()
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
    if amount.currency != account.currency or amount.minor <= 0:
        raise ValueError(f"a payment link needs an amount above zero in {account.currency}, not {amount}")
    existing = _open_link(session, str(account.id), amount, promise_id, now)
    if existing is not None:
        return existing
    expires = now + timedelta(hours=LINK_HOURS)
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": amount.currency.lower(),
                    "unit_amount": amount.minor,
                    "product_data": {"name": f"Payment to your account ending {account.last_four}"},
                },
            }
        ],
        "success_url": f"{settings.public_url}/webhooks/payments/done?paid=1",
        "cancel_url": f"{settings.public_url}/webhooks/payments/done?paid=0",
        "expires_at": int(expires.timestamp()),
        "metadata": {
            "account_id": str(account.id),
            "purpose": purpose,
            "promise_id": str(promise_id or ""),
        },
        "payment_intent_data": {"metadata": {"account_id": str(account.id)}},
    }
    try:
        checkout = settings.client().v1.checkout.sessions.create(params)  # type: ignore[arg-type]
    except stripe.StripeError as exc:
        raise PaymentLinkError(f"the payment provider refused or is unreachable: {exc.user_message or exc}") from exc
    if not checkout.url:
        raise PaymentLinkError("the payment provider returned no payment page")
    row = db.PaymentLink(
        account_id=str(account.id),
        provider="stripe",
        provider_session_id=str(checkout.id),
        url=str(checkout.url),
        amount_minor=amount.minor,
        currency=amount.currency,
        purpose=purpose,
        promise_id=promise_id,
        status="open",
        channel=channel,
        conversation_id=conversation_id,
        created_at=now,
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    db.log_contact(
        session,
        account_id=str(account.id),
        channel=channel,
        direction="outbound",
        event="payment_link_sent",
        conversation_id=conversation_id,
        detail=f"link {row.id} {amount} {purpose}" + (f" PTP-{promise_id}" if promise_id else ""),
    )
    return row


@dataclass(frozen=True)
class WebhookResult:
    """What a webhook delivery did: ``outcome`` is recorded, duplicate, ignored, unmatched or
    expired; ``kept`` the promises the payment kept."""

    event_id: str
    outcome: str
    kept: tuple[int, ...] = ()


class BadWebhook(ValueError):
    """The request is not a genuine provider event: bad payload or signature (answer 400)."""


def verify(payload: bytes, signature_header: str | None, settings: PaymentSettings) -> dict[str, Any]:
    """The event in ``payload`` once its ``Stripe-Signature`` header checks out against the
    endpoint's signing secret (HMAC-SHA256 over "timestamp.payload", at most 300 s old).
    Raises :class:`BadWebhook`."""
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, settings.webhook_secret)
    except stripe.SignatureVerificationError as exc:
        raise BadWebhook(f"bad signature: {exc.user_message or exc}") from exc
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise BadWebhook(f"bad payload: {exc}") from exc
    raw = json.loads(payload)
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("type"), str):
        raise BadWebhook("an event needs an id and a type")
    del event  # the verified JSON is used as plain data
    return raw


def process_event(session: Session, event: dict[str, Any], now: datetime | None = None) -> WebhookResult:
    """Record a verified provider event once. ``checkout.session.completed`` with
    ``payment_status`` "paid" records the payment on the link's account (it keeps the promises
    it covers) and marks the link paid; ``checkout.session.expired`` marks it expired; other
    types are stored and ignored. An event id already stored is a duplicate and changes nothing.
    Every outcome but a duplicate is an audit-log entry. Commit with the caller's session; an
    IntegrityError on commit means another replica stored the same event first."""
    now = now or db.utcnow()
    event_id, kind = str(event["id"]), str(event["type"])
    if session.get(db.PaymentEvent, event_id) is not None:
        return WebhookResult(event_id, "duplicate")
    obj = (event.get("data") or {}).get("object") or {}
    link = None
    if isinstance(obj, dict) and obj.get("id"):
        link = session.execute(
            select(db.PaymentLink).where(db.PaymentLink.provider_session_id == str(obj["id"]))
        ).scalar_one_or_none()
    kept: list[int] = []
    outcome = "ignored"
    detail: dict[str, Any] = {
        "event": event_id,
        "type": kind,
        "session": obj.get("id") if isinstance(obj, dict) else None,
    }
    if kind == "checkout.session.completed" and isinstance(obj, dict) and obj.get("payment_status") == "paid":
        if link is None:
            outcome = "unmatched"
        elif link.status == "paid":
            outcome = "ignored"  # a second event for a link already paid: never two payments
        else:
            currency = str(obj.get("currency") or link.currency).upper()
            paid = Money(int(obj.get("amount_total") or link.amount_minor), currency)
            account = session.get(db.Account, link.account_id)
            zone = ZoneInfo(str(account.time_zone)) if account is not None else timezone.utc
            over = account is not None and paid.minor > int(account.balance_minor)
            try:
                kept = record_payment(
                    session,
                    account_id=str(link.account_id),
                    amount=paid,
                    paid_on=now.astimezone(zone).date(),
                    overpayment=over,
                )
            except ValueError as exc:  # zero, or another currency: a person looks at it
                outcome = "rejected"
                detail.update(amount=str(paid), error=str(exc), link=link.id)
            else:
                link.status, link.paid_at = "paid", now
                outcome = "recorded"
                detail.update(amount=str(paid), kept=[f"PTP-{k}" for k in kept], overpayment=over, link=link.id)
    elif kind == "checkout.session.expired" and link is not None and link.status == "open":
        link.status = "expired"
        outcome = "expired"
    session.add(db.PaymentEvent(id=event_id, provider="stripe", type=kind, received_at=now, outcome=outcome))
    session.flush()  # a concurrent delivery of the same event fails here or at commit
    audit.record(
        session,
        actor="payment_provider",
        action="payment_webhook",
        outcome="recorded" if outcome == "recorded" else "ignored",
        reasons=[outcome],
        account_id=str(link.account_id) if link is not None else None,
        detail=detail,
    )
    return WebhookResult(event_id, outcome, tuple(kept))


def handle_webhook(payload: bytes, signature_header: str | None, settings: PaymentSettings) -> WebhookResult:
    """Verify and process one webhook delivery in its own transaction; a delivery that races
    another of the same event is a duplicate. Raises :class:`BadWebhook`."""
    event = verify(payload, signature_header, settings)
    try:
        with db.session_scope() as session:
            return process_event(session, event)
    except IntegrityError:
        return WebhookResult(str(event["id"]), "duplicate")
