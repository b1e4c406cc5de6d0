"""The debtor's and the collector's pages in headless Chromium, phone-sized and desktop, with
screenshots in ``reports/``: the web chat page before anything is typed (and axe-core's
accessibility check), a collector's reply reaching a debtor who closed the tab and came back, a
payment link paid on the provider's page keeping the promise, and the review queue with a
2,000-character message."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from bot import db
from bot.handoff import HandoffQueue
from scripts import services
from tests.conftest import Bot
from tests.console.conftest import Collector
from tests.conversation.helpers import joined
from tests.helpers import console_log_in, headless_chromium

REPORTS = services.ROOT / "reports"
AXE = services.ROOT / "tests" / "fixtures" / "axe-core" / "axe.min.js"
PHONE, DESKTOP = "375,740", "1366,900"


@pytest.fixture
def profile() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="experience-chromium-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _browser(profile: str, size: str) -> webdriver.Chrome:
    browser = headless_chromium(profile, size, 30)
    if size == PHONE:  # a window is never narrower than 500 px: emulate the phone's viewport
        _phone(browser, True)
    return browser


def _phone(browser: webdriver.Chrome, on: bool) -> None:
    if on:
        metrics = {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True}
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    else:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _shot(browser: webdriver.Chrome, name: str) -> None:
    REPORTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(REPORTS / name))
    assert (REPORTS / name).stat().st_size > 5_000


def axe_violations(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page (the vendored axe.min.js, injected)."""
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.html)}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));"
    )
    return list(result)


def _no_sideways_scroll(browser: webdriver.Chrome) -> bool:
    return bool(browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _bubbles(browser: webdriver.Chrome) -> list[tuple[str, str]]:
    return [(el.get_attribute("class") or "", el.text) for el in browser.find_elements(By.CSS_SELECTOR, "#log .msg")]


def _wait_text(browser: webdriver.Chrome, text: str, timeout: float = 45) -> None:
    WebDriverWait(browser, timeout).until(ec.text_to_be_present_in_element((By.ID, "log"), text))


def test_the_empty_web_chat_page_says_who_we_are_on_a_phone_and_a_desktop(bot: Bot, profile: str) -> None:
    for size, name in ((PHONE, "webchat-empty-phone.png"), (DESKTOP, "webchat-empty-desktop.png")):
        browser = _browser(profile + size, size)
        try:
            browser.get(bot.base_url + "/webhooks/webchat/")
            WebDriverWait(browser, 20).until(
                lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-session")
            )
            assert "Example Lending" in browser.title
            assert browser.find_element(By.TAG_NAME, "h1").text == "Example Lending account help"
            intro = browser.find_element(By.ID, "intro")
            assert intro.is_displayed() and "automated assistant" in intro.text and "member of our team" in intro.text
            assert browser.find_elements(By.CSS_SELECTOR, "#log .msg") == []  # nothing typed yet
            assert _no_sideways_scroll(browser), size
            assert browser.execute_script("return window.innerWidth") == int(size.split(",")[0])
            # a compact header (it took 187 px, a quarter of a phone's screen, with the introduction in it);
            # the introduction opens the conversation instead and scrolls away with it
            header = browser.execute_script("return document.querySelector('header').getBoundingClientRect().height")
            assert header <= 64, header
            assert browser.execute_script("return document.getElementById('intro').parentElement.id") == "log"
            field = browser.find_element(By.ID, "text")
            assert field.is_displayed() and field.size["width"] >= 150
            assert axe_violations(browser) == []
            field.send_keys("")  # focus moves to the message field and shows
            _shot(browser, name)
        finally:
            browser.quit()


def test_a_collector_reply_reaches_a_debtor_who_closed_and_reopened_the_tab(
    bot: Bot,
    queue: HandoffQueue,
    collectors: dict[str, Collector],
    console_server: str,
    console_users: dict[str, str],
    profile: str,
    db_session: Any,
) -> None:
    browser = _browser(profile, PHONE)
    try:
        browser.get(bot.base_url + "/webhooks/webchat/")
        WebDriverWait(browser, 20).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-session"))
        field = browser.find_element(By.ID, "text")
        field.send_keys("hi\n")
        _wait_text(browser, "Hello, this is Example Lending")  # the business name only before verification
        field.send_keys("i want to talk to a real person\n")
        _wait_text(browser, "will reply to you here")
        token = browser.execute_script("return localStorage.getItem('webchat_token')")
        session_id = token.split(".")[0]
        ticket_id = queue.open_ticket_id(session_id)
        assert ticket_id is not None
        shown = len(_bubbles(browser))

        # the debtor closes the tab; the browser keeps the signed session
        first = browser.current_window_handle
        browser.switch_to.new_window("tab")
        second = browser.current_window_handle
        browser.switch_to.window(first)
        browser.close()
        browser.switch_to.window(second)
        time.sleep(2)  # the closed tab's socket is gone

        ava = collectors["ava"]
        assert ava.post(f"/api/tickets/{ticket_id}/claim")[0] == 200
        reply = "Hi, this is Ava. I've looked at your account and I can help with a plan today."
        status, body = ava.post(f"/api/tickets/{ticket_id}/reply", {"text": reply})
        assert status == 200 and "the chat is closed" in body["detail"], body

        # back on the chat: the history and the reply, labelled as from a person
        browser.get(bot.base_url + "/webhooks/webchat/")
        _wait_text(browser, "I've looked at your account")
        bubbles = _bubbles(browser)
        assert len(bubbles) >= shown + 1
        cls, text = bubbles[-1]
        assert "collector" in cls and text.startswith("Ava, a member of our team"), bubbles[-1]
        assert any("Assistant (automated)" in t for c, t in bubbles if "bot" in c)
        assert any("i want to talk to a real person" in t for c, t in bubbles if "user" in c)
        assert _no_sideways_scroll(browser)
        _shot(browser, "webchat-reopened.png")

        def delivered() -> bool:
            db_session.expire_all()
            return (
                db_session.execute(
                    select(db.ContactLog).where(
                        db.ContactLog.conversation_id == session_id, db.ContactLog.event == "collector_reply_delivered"
                    )
                ).first()
                is not None
            )

        deadline = time.monotonic() + 15
        while not delivered() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert delivered()

        # the collector's transcript opens at the newest message, in local time
        _phone(browser, False)
        browser.set_window_size(1366, 900)
        console_log_in(browser, console_server, "ava", console_users["ava"])
        browser.get(f"{console_server}/tickets/{ticket_id}")
        wait = WebDriverWait(browser, 20)
        wait.until(ec.text_to_be_present_in_element((By.ID, "transcript"), "reopened the chat"))
        time.sleep(2)  # a poll after the first one
        at_bottom = browser.execute_script(
            "const t = document.getElementById('transcript'); return t.scrollTop + t.clientHeight >= t.scrollHeight - 12"
        )
        assert at_bottom
        metas = [el.text for el in browser.find_elements(By.CSS_SELECTOR, "#transcript .meta")]
        assert metas and not any("T" in m.split("·")[-1] for m in metas), metas  # not raw ISO strings
        _shot(browser, "console-ticket.png")
        queue.close(ticket_id, "ava", "other")
    finally:
        browser.quit()


def test_a_payment_link_paid_on_the_providers_page_keeps_the_promise(bot: Bot, profile: str, db_session: Any) -> None:
    account = db_session.execute(
        select(db.Account).where(db.Account.id == "A-5018")
    ).scalar_one()  # no other test uses it (A-5172 gets a dispute hold)
    sender = "exp-browser-pay-" + uuid.uuid4().hex[:6]
    bot.say(sender, "hi")
    for text in [account.id, account.debtor.date_of_birth.strftime("%B %d %Y")]:
        bot.say(sender, text)
    assert "confirmed" in joined([bot.say(sender, account.debtor.postcode)])
    bot.say(sender, "I'd like to pay my bill please")
    bot.say(sender, "200")
    bot.say(sender, "next friday")
    recorded = joined([bot.say(sender, "yes")])
    assert "/pay/cs_test_" in recorded, recorded
    url = "http" + recorded.split("http", 1)[1].split()[0]
    db_session.expire_all()
    promise = db_session.execute(
        select(db.PromiseToPay).where(db.PromiseToPay.account_id == account.id, db.PromiseToPay.status == "open")
    ).scalar_one()

    browser = _browser(profile, PHONE)
    try:
        browser.get(url)
        assert "200.00 USD" in browser.find_element(By.TAG_NAME, "h1").text
        _shot(browser, "payment-page.png")
        browser.find_element(By.ID, "card").send_keys("4242 4242 4242 4242")
        browser.find_element(By.ID, "pay").click()
        WebDriverWait(browser, 30).until(ec.text_to_be_present_in_element((By.ID, "payment-result"), "received"))
        _shot(browser, "payment-paid.png")
    finally:
        browser.quit()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        db_session.expire_all()
        if db_session.get(db.PromiseToPay, promise.id).status == "kept":
            break
        time.sleep(0.3)
    assert db_session.get(db.PromiseToPay, promise.id).status == "kept"
    links = db_session.execute(select(db.PaymentLink).where(db.PaymentLink.promise_id == promise.id)).scalars().all()
    assert [link.status for link in links] == ["paid"]
    # card numbers live on the provider's page only: none in the bot's records
    rows = db_session.execute(select(db.ContactLog.detail).where(db.ContactLog.account_id == account.id)).scalars()
    assert not any("4242" in (d or "") for d in rows)


def test_the_review_queue_wraps_a_2000_character_message(
    bot: Bot, console_server: str, console_users: dict[str, str], profile: str, db_session: Any
) -> None:
    # a long, confused message the bot is not sure about (nonsense words read as out of scope or
    # abuse with confidence, which is no review)
    confused = (
        "i got a parcel notice and a text and an email all on the same day and honestly i cannot tell "
        "which one is you and which one is the phone company or the council "
    )
    long_text = (confused * 20)[:2000]
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5198")).scalar_one()
    sender = account.debtor.phone_e164
    bot.say(sender, "hi")  # verified first: an answer to an identity question never reaches the queue
    bot.say(sender, account.debtor.date_of_birth.strftime("%B %d %Y"))
    assert "confirmed" in joined([bot.say(sender, account.debtor.postcode)])
    bot.say(sender, long_text)
    browser = _browser(profile, DESKTOP)
    try:
        console_log_in(browser, console_server, "sue", console_users["sue"])
        rows: list[Any] = []
        deadline = time.monotonic() + 30  # the event log and its analytics are written off the turn
        while not rows and time.monotonic() < deadline:
            browser.get(console_server + "/ops/review")
            rows = [
                r
                for r in browser.find_elements(By.CSS_SELECTOR, "tr.review-row")
                if "i got a parcel notice and a text" in r.text
            ]
            if not rows:
                time.sleep(1)
        assert rows, "the long message is not in the review queue"
        row = rows[0]
        assert _no_sideways_scroll(browser)
        width = browser.execute_script("return window.innerWidth")
        for button in row.find_elements(By.CSS_SELECTOR, "input[type=submit], button"):
            box = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", button)
            assert button.is_displayed() and box["right"] <= width, box
        select_box = row.find_element(By.CSS_SELECTOR, "select")
        assert select_box.size["width"] >= 150
        ranking = [li.text for li in row.find_elements(By.CSS_SELECTOR, ".ranking li")]
        assert ranking and not any(r.startswith("nlu_fallback") for r in ranking), ranking
        browser.execute_script("arguments[0].scrollIntoView()", row)
        _shot(browser, "review-queue.png")
        browser.get(console_server + "/ops/")
        assert _no_sideways_scroll(browser)
        assert "twilio_sms" not in browser.find_element(By.ID, "by-channel").text
        _shot(browser, "dashboard.png")
    finally:
        browser.quit()


def test_axe_check_is_vendored_not_fetched() -> None:
    source = AXE.read_text(encoding="utf-8")[:400]
    assert "axe v4." in source and json.dumps("https://") not in source[:10]


def _han_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum("\u4e00" <= c <= "\u9fff" for c in letters) / max(1, len(letters))


def test_a_chinese_debtor_is_answered_in_chinese_in_the_web_chat(bot: Bot, profile: str) -> None:
    """A-3001 on the web chat page in Chinese: identity, the balance in CNY, every bot message in
    Chinese from the debtor's first words; a phone-sized screenshot in reports/."""
    browser = _browser(profile, PHONE)
    try:
        browser.get(bot.base_url + "/webhooks/webchat/?lang=zh")
        WebDriverWait(browser, 20).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-session"))
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh"
        field = browser.find_element(By.ID, "text")
        for text, expect in (
            ("你好", "账户编号"),
            ("A-3001", "出生日期"),
            ("1993年5月16日", "邮政编码"),
            ("200120", "身份已确认"),
            ("我还欠多少", "8,600.00"),
        ):
            field.send_keys(text + "\n")
            _wait_text(browser, expect, 60)
        said = [t for cls, t in _bubbles(browser) if "bot" in cls.split()]
        # the page's own labels ("智能客服") are Chinese too; the replies after the first words must be
        assert said and all(_han_share(t) > 0.5 for t in said), said
        assert _no_sideways_scroll(browser)
        _shot(browser, "webchat-chinese-phone.png")
    finally:
        browser.quit()
