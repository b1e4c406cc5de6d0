"""The console in headless Chromium: a collector logs in, sees an SMS conversation escalated by a
dispute, claims it, replies, and the reply reaches (the local fake of) Twilio by SMS."""

from __future__ import annotations

import shutil
import tempfile
import time
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
from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms
from tests.helpers import console_log_in, headless_chromium

REPORTS = services.ROOT / "reports"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    driver = headless_chromium(profile, "1400,1000", 30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait_for_ticket(queue: HandoffQueue, conversation_id: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticket_id = queue.open_ticket_id(conversation_id)
        if ticket_id is not None:
            return ticket_id
        time.sleep(0.3)
    raise AssertionError(f"no handoff ticket for {conversation_id}")


def test_collector_claims_an_sms_dispute_and_replies_by_sms(
    bot: Bot,
    queue: HandoffQueue,
    console_server: str,
    console_users: dict[str, str],
    browser: webdriver.Chrome,
    db_session: Any,
) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5110")).scalar_one()
    phone = account.debtor.phone_e164
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "hi")) == 200
    assert replies_to(bot, phone, before)
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "this is not my debt, i dispute it")) == 200
    ticket_id = _wait_for_ticket(queue, phone)
    assert any("A member of our team will reply" in r for r in replies_to(bot, phone, count, expect=1))
    ticket = queue.get(ticket_id)
    assert ticket is not None and ticket.reason == "dispute" and ticket.channel == "sms"

    # while the ticket waits the bot only acknowledges; what the debtor writes shows in the console, as text
    hostile = "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>"
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, hostile)) == 200
    [acknowledged] = replies_to(bot, phone, count)
    assert "added that to your conversation for our team" in acknowledged, acknowledged
    count = len(fake(bot, "/fake/messages"))

    wait = WebDriverWait(browser, 20)
    browser.get(console_server + "/")
    assert "/login" in browser.current_url
    console_log_in(browser, console_server, "ava", console_users["ava"])
    row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'#queue tr[data-ticket="{ticket_id}"]')))
    assert "Debt disputed" in row.text and "SMS" in row.text and "A-5110" in row.text  # channels read as words
    row.find_element(By.LINK_TEXT, "Open").click()

    wait.until(ec.text_to_be_present_in_element((By.ID, "transcript"), "dispute it"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "transcript"), "<script>document.title='owned'</script>"))
    assert browser.find_elements(By.CSS_SELECTOR, "#transcript img, #transcript script") == []
    assert browser.title != "owned"
    assert "Debt disputed" in browser.find_element(By.TAG_NAME, "h1").text
    assert "A-5110" in browser.find_element(By.ID, "account").text

    browser.find_element(By.ID, "claim").click()
    wait.until(lambda d: d.find_element(By.ID, "send").is_enabled())
    assert queue.get(ticket_id).claimed_by == "ava"  # type: ignore[union-attr]
    reply = "Hello, this is Ava. I have your dispute and will send the validation details today."
    browser.find_element(By.CSS_SELECTOR, "#reply textarea").send_keys(reply)
    browser.find_element(By.ID, "send").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "reply-status"), "sent as SMS"))

    sent = [m for m in fake(bot, "/fake/messages")[count:] if m["to"] == phone]
    assert len(sent) == 1 and sent[0]["body"].startswith(reply) and sent[0]["body"].endswith("Reply STOP to opt out.")
    wait.until(ec.text_to_be_present_in_element((By.ID, "transcript"), "I have your dispute"))

    REPORTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(REPORTS / "console.png"))
    assert (REPORTS / "console.png").stat().st_size > 10_000

    # the debtor's answer reaches the console, not the bot
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "ok thanks, I'll wait for it")) == 200
    wait.until(ec.text_to_be_present_in_element((By.ID, "transcript"), "I'll wait for it"))
    time.sleep(1)
    assert [m for m in fake(bot, "/fake/messages")[count:] if m["to"] == phone] == []
    queue.close(ticket_id, "ava", "dispute_logged")
