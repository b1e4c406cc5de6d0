"""Pay now: payment links from the provider's API (the real ``stripe`` client against the local
fake of its API) and its signed webhook, processed once and audited; hypothesis fuzzes the
webhook like the other webhooks."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import db
from bot.money import Money
from bot.repayment.payment_links import (
    BadWebhook,
    PaymentLinkError,
    PaymentSettings,
    create_link,
    handle_webhook,
)
from scripts import services
from scripts.fake_stripe import signature

SECRET = "whsec_unit_test"


@pytest.fixture(scope="module")
def fake_stripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaymentSettings]:
    env = services.base_env(
        FAKE_STRIPE_PORT=str(services.free_port()),
        RASA_PORT=str(services.free_port()),  # nothing listens: the fake's own deliveries fail
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_API_KEY="sk_test_unit",
    )
    env["STRIPE_API_BASE"] = f"http://127.0.0.1:{env['FAKE_STRIPE_PORT']}"
    proc = services.start_fake_stripe(env, log=tmp_path_factory.mktemp("stripe") / "fake_stripe.log")
    yield PaymentSettings.from_env(env)
    services.stop(proc)


def _post(url: str, body: Any = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _signed(event: dict[str, Any], secret: str = SECRET, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event)
    return payload.encode(), signature(payload, secret, at)


def _promise(session: Any, account_id: str, amount: Money) -> db.PromiseToPay:
    return db.record_promise(
        session,
        account_id=account_id,
        amount=amount,
        due_date=date(2026, 12, 18),
        channel="webchat",
        conversation_id="c1",
    )


def test_a_link_paid_at_the_provider_keeps_the_promise_once(
    fake_stripe: PaymentSettings, portfolio_database: str
) -> None:
    with db.session_scope() as session:
        account = session.get(db.Account, "A-1001")
        promise = _promise(session, "A-1001", Money.of("200.00", "USD"))
        link = create_link(
            session,
            fake_stripe,
            account=account,
            amount=Money.of("200.00", "USD"),
            purpose="promise",
            channel="webchat",
            conversation_id="c1",
            promise_id=promise.id,
        )
        # the same payment asked for again gets the same page, not a second one
        again = create_link(
            session,
            fake_stripe,
            account=account,
            amount=Money.of("200.00", "USD"),
            purpose="promise",
            channel="webchat",
            conversation_id="c1",
            promise_id=promise.id,
        )
        link_id, session_id, promise_id, url = link.id, link.provider_session_id, promise.id, link.url
        balance = account.balance_minor
    assert again.id == link_id and url.startswith(fake_stripe.api_base + "/pay/cs_test_")
    event = _post(f"{fake_stripe.api_base}/fake/sessions/{session_id}/pay")
    assert event["type"] == "checkout.session.completed" and "card" not in json.dumps(event)

    first = handle_webhook(*_signed(event), fake_stripe)
    replay = handle_webhook(*_signed(event), fake_stripe)  # a redelivery, freshly signed
    assert (first.outcome, first.kept, replay.outcome) == ("recorded", (promise_id,), "duplicate")
    with db.session_scope() as session:
        assert session.get(db.PromiseToPay, promise_id).status == "kept"
        assert session.get(db.PaymentLink, link_id).status == "paid"
        assert session.get(db.Account, "A-1001").balance_minor == balance - 20000
        audits = session.execute(select(db.AuditEntry).where(db.AuditEntry.action == "payment_webhook")).scalars().all()
        assert [json.loads(a.reasons) for a in audits] == [["recorded"]] and event["id"] in audits[0].detail
        payments = session.execute(
            select(db.ContactLog).where(db.ContactLog.account_id == "A-1001", db.ContactLog.event == "payment_received")
        ).scalars()
        assert len(list(payments)) == 1


def test_the_webhook_refuses_what_the_provider_did_not_sign(
    fake_stripe: PaymentSettings, portfolio_database: str
) -> None:
    event = {"id": "evt_forged", "type": "checkout.session.completed", "data": {"object": {"id": "cs_x"}}}
    payload, header = _signed(event, "whsec_someone_else")
    for body, sig in ((payload, header), (payload, None), (payload, "t=1,v1=00"), (b"{not json", _signed(event)[1])):
        with pytest.raises(BadWebhook):
            handle_webhook(body, sig, fake_stripe)
    stale = _signed(event, at=int(time.time()) - 3600)  # older than the 300 s tolerance: a replay attack
    with pytest.raises(BadWebhook):
        handle_webhook(*stale, fake_stripe)
    with db.session_scope() as session:
        assert session.get(db.PaymentEvent, "evt_forged") is None


def test_provider_failure_is_an_error_the_bot_can_answer(fake_stripe: PaymentSettings, portfolio_database: str) -> None:
    _post(f"{fake_stripe.api_base}/fake/fail", {"count": 3, "status": 500})  # the client retries twice
    with db.session_scope() as session, pytest.raises(PaymentLinkError):
        create_link(
            session,
            fake_stripe,
            account=session.get(db.Account, "A-1003"),
            amount=Money.of("10.00", "USD"),
            purpose="one_off",
            channel="sms",
            conversation_id=None,
        )
    with db.session_scope() as session, pytest.raises(ValueError):
        create_link(
            session,
            fake_stripe,
            account=session.get(db.Account, "A-1003"),
            amount=Money.of("10.00", "GBP"),
            purpose="one_off",
            channel="sms",
            conversation_id=None,
        )


events = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=40),
        "type": st.sampled_from(["checkout.session.completed", "checkout.session.expired", "charge.refunded", ""]),
        "data": st.fixed_dictionaries(
            {
                "object": st.fixed_dictionaries(
                    {
                        "id": st.one_of(st.just("cs_test_unknown"), st.text(max_size=20)),
                        "payment_status": st.sampled_from(["paid", "unpaid"]),
                        "amount_total": st.integers(min_value=-10, max_value=10**9),
                        "currency": st.sampled_from(["usd", "gbp", "xxx"]),
                    }
                )
            }
        ),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events, st.booleans(), st.binary(max_size=64))
def test_fuzzed_deliveries_are_refused_or_processed_once(
    fake_stripe: PaymentSettings, portfolio_database: str, event: dict[str, Any], genuine: bool, junk: bytes
) -> None:
    payload, header = _signed(event)
    if not genuine:  # tampered after signing: refused, nothing stored
        with pytest.raises(BadWebhook):
            handle_webhook(payload + junk + b" ", header, fake_stripe)
        return
    first = handle_webhook(payload, header, fake_stripe)
    second = handle_webhook(payload, header, fake_stripe)
    assert second.outcome == "duplicate"
    assert first.outcome in ("unmatched", "ignored", "duplicate")  # no link matches these sessions
    with db.session_scope() as session:
        assert session.get(db.PaymentEvent, event["id"]) is not None
