"""Console fixtures: console users, an app on the session's Redis, database and Rasa server, and
one real console server (waitress) for the browser test, started once per session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot import db
from bot.handoff import HandoffQueue, redis_from_env
from console.app import create_app
from console.models import create_user, ensure_tables, find_user
from scripts import services
from tests.conftest import Bot

PASSWORDS = {"ava": "ava-collector-1", "ben": "ben-collector-1", "sue": "sue-supervisor-1"}


def console_config(env: dict[str, str]) -> dict[str, Any]:
    """The console's settings for the test session's services."""
    return {
        "DATABASE_URL": env["DATABASE_URL"],
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": int(env["REDIS_PORT"]),
        "REDIS_DB": 0,
        "REDIS_PASSWORD": None,
        "RASA_URL": f"http://127.0.0.1:{env['RASA_PORT']}",
        "RASA_API_TOKEN": env["RASA_API_TOKEN"],
        "TWILIO_ACCOUNT_SID": env["TWILIO_ACCOUNT_SID"],
        "TWILIO_AUTH_TOKEN": env["TWILIO_AUTH_TOKEN"],
        "TWILIO_NUMBER": env["TWILIO_NUMBER"],
        "TWILIO_API_BASE_URL": env["TWILIO_API_BASE_URL"],
        "COLLECTOR_PHONE": env.get("COLLECTOR_PHONE", ""),
        "SECRET_KEY": "console-test-secret",
    }


@pytest.fixture(scope="session")
def console_users(database_url: str) -> dict[str, str]:
    ensure_tables(database_url)
    with db.session_scope(database_url) as session:
        for name, password in PASSWORDS.items():
            if find_user(session, name) is None:
                create_user(session, name, password, "supervisor" if name == "sue" else "collector")
    return PASSWORDS


@pytest.fixture(scope="session")
def console_app(bot: Bot, console_users: dict[str, str]) -> Flask:
    return create_app(console_config(bot.env))


@pytest.fixture(scope="session")
def queue(bot: Bot) -> HandoffQueue:
    return HandoffQueue(redis_from_env(bot.env), bot.env["DATABASE_URL"])


@pytest.fixture(scope="session")
def console_server(bot: Bot, console_users: dict[str, str]) -> Iterator[str]:
    env = dict(bot.env)
    env["CONSOLE_PORT"] = str(services.free_port())
    env["CONSOLE_SECRET"] = "console-test-secret"
    proc = services.start_console(env, log=bot.logs / "console.log")
    yield f"http://127.0.0.1:{env['CONSOLE_PORT']}"
    services.stop(proc)


class Collector:
    """A logged-in test client and the CSRF token for its JSON calls."""

    def __init__(self, app: Flask, name: str, password: str) -> None:
        self.name = name
        self.client: FlaskClient = app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token, page
        done = self.client.post("/login", data={"username": name, "password": password, "csrf_token": token.group(1)})
        assert done.status_code == 302, done.get_data(as_text=True)
        meta = re.search(r'name="csrf-token" content="([^"]+)"', self.client.get("/").get_data(as_text=True))
        assert meta
        self.csrf = meta.group(1)

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        response = self.client.post(path, json=body or {}, headers={"X-CSRFToken": self.csrf})
        return response.status_code, response.get_json(silent=True)

    def get(self, path: str) -> tuple[int, Any]:
        response = self.client.get(path)
        return response.status_code, response.get_json(silent=True)


@pytest.fixture
def collectors(console_app: Flask, console_users: dict[str, str]) -> dict[str, Collector]:
    return {name: Collector(console_app, name, password) for name, password in console_users.items()}
