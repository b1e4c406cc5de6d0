"""Helpers shared across the test packages: the Rasa command line (``rasa data validate`` with the
project's domain and config) and logging in to the collector console in a Selenium browser."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from scripts import services


def run_rasa(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run ``rasa <args>`` from the project root with the project's environment; output captured as text."""
    return subprocess.run(
        [str(services.VENV_BIN / "rasa"), *args],
        cwd=services.ROOT,
        env=services.base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def validate_data(*data: str | Path) -> subprocess.CompletedProcess[str]:
    """``rasa data validate --fail-on-warnings`` of the training data paths ``data`` (relative to the
    project root or absolute) against ``bot/domain`` and ``config.yml``; returncode 0 when valid."""
    return run_rasa(
        "data",
        "validate",
        "--fail-on-warnings",
        "--domain",
        "bot/domain",
        "--config",
        "config.yml",
        "--data",
        *(str(p) for p in data),
    )


def console_log_in(browser: Any, console_url: str, user: str, password: str, timeout: float = 30) -> None:
    """Log ``user`` in to the console at ``console_url`` in a Selenium browser, starting from no
    session; returns once a console page names the user (``.who``). Times out with Selenium's
    TimeoutException."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.delete_all_cookies()
    browser.get(console_url + "/login")
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.ID, "login").click()
    WebDriverWait(browser, timeout).until(lambda b: b.find_elements(By.CLASS_NAME, "who"))


def headless_chromium(profile_dir: str | Path, window_size: str, page_load_timeout: float) -> Any:
    """The OS packages' Chromium, headless, with its own profile folder; quit it when done."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={window_size}",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver
