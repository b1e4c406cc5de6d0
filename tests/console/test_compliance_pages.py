"""The account compliance page: the validation notice shown (page 1) and downloaded (12 CFR
1006.34), queued for mail and marked posted; Breathing Space recorded with its reference (SI
2020/1311); a ticket resolved "dispute logged" records the dispute hold for the account; and the
page in headless Chromium (a screenshot under reports/)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot import db
from bot.compliance.service import gate_contact
from bot.handoff import HandoffQueue
from scripts import services
from tests.console.conftest import Collector
from tests.helpers import console_log_in, headless_chromium

REPORTS = services.ROOT / "reports"


def _form_post(collector: Collector, path: str, data: dict[str, str] | None = None) -> Any:
    return collector.client.post(path, data={**(data or {}), "csrf_token": collector.csrf})


def test_the_page_shows_downloads_and_posts_a_mailed_notice_1006_34(
    collectors: dict[str, Collector], database_url: str
) -> None:
    ava = collectors["ava"]
    page = ava.client.get("/accounts/A-1003").get_data(as_text=True)
    assert "No validation notice yet" in page
    done = _form_post(ava, "/accounts/A-1003/notices")
    assert done.status_code == 303
    page = ava.client.get("/accounts/A-1003").get_data(as_text=True)
    found = re.search(r"<strong>VN(\d+)</strong> · mail to ([^·]+) · <span class=\"status\">queued", page)
    assert found, page  # no e-mail address on file: queued for mail
    notice_id = found.group(1)
    pdf = ava.client.get(f"/accounts/A-1003/notices/{notice_id}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    png = ava.client.get(f"/accounts/A-1003/notices/{notice_id}.png")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    assert _form_post(ava, f"/accounts/A-1003/notices/{notice_id}/mailed").status_code == 303
    assert '<span class="status">sent' in ava.client.get("/accounts/A-1003").get_data(as_text=True)
    assert ava.client.get("/accounts/A-1003/notices/999999.pdf").status_code == 404


def test_breathing_space_is_recorded_with_its_reference_si_2020_1311(
    collectors: dict[str, Collector], database_url: str
) -> None:
    ava = collectors["ava"]
    refused = _form_post(ava, "/accounts/A-5170/breathing-space", {"reference": "", "type": "standard"})
    assert refused.status_code == 303
    assert "reference is required" in ava.client.get("/accounts/A-5170").get_data(as_text=True)
    _form_post(ava, "/accounts/A-5170/breathing-space", {"reference": "BS-2026-000123", "type": "mental_health"})
    page = ava.client.get("/accounts/A-5170").get_data(as_text=True)
    assert "mental_health BS-2026-000123, active" in page and "interest and charges frozen" in page
    with db.session_scope(database_url) as session:
        account = session.get(db.Account, "A-5170")
        decision = gate_contact(session, account, "sms", datetime.now(timezone.utc), "test")
        assert decision.outcome == "deny" and decision.reasons[0].code == "hold_breathing_space_mental_health"


def test_resolving_a_ticket_dispute_logged_records_the_hold_for_the_account(
    collectors: dict[str, Collector], queue: HandoffQueue, database_url: str
) -> None:
    ticket, _ = queue.open(
        conversation_id="web-dispute-ticket", channel="webchat", reason="requested", account_id="A-5172", summary={}
    )
    ava = collectors["ava"]
    assert ava.post(f"/api/tickets/{ticket.id}/claim")[0] == 200
    status, body = ava.post(
        f"/api/tickets/{ticket.id}/resolve", {"outcome": "dispute_logged", "notes": "says not theirs"}
    )
    assert status == 200, body
    with db.session_scope(database_url) as session:
        account = session.get(db.Account, "A-5172")
        decision = gate_contact(session, account, "sms", datetime.now(timezone.utc), "test")
        assert decision.outcome == "deny" and decision.reasons[0].code == "hold_dispute"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="compliance-chromium-")
    driver = headless_chromium(profile, "1400,1300", 30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_notice_page_in_a_browser(console_server: str, console_users: dict[str, str], browser: Any) -> None:
    console_log_in(browser, console_server, "ben", console_users["ben"])
    browser.get(console_server + "/accounts?id=a-1002")
    browser.find_element(By.ID, "send-notice").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "img.notice-page"))
    image = browser.find_element(By.CSS_SELECTOR, "img.notice-page")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return arguments[0].naturalWidth", image) > 500)
    link = browser.find_element(By.CSS_SELECTOR, "a.download")
    assert link.get_attribute("href").endswith(".pdf")
    assert re.match(r"\d{4}-\d{2}-\d{2}", browser.find_element(By.CSS_SELECTOR, ".period-end").text)
    REPORTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(REPORTS / "console_validation_notice.png"))
