"""Ops pages without servers: supervisor only, and a clear answer when Redis is down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot import db
from console.app import create_app
from console.models import create_user
from scripts import services


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    # a port nothing listens on: the tracker store is down
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test", "REDIS_PORT": services.free_port()})
    with db.session_scope(url) as session:
        create_user(session, "cora", "collector-pass-1", "collector")
        create_user(session, "sam", "supervisor-pass-1", "supervisor")
    yield app


def _login(client: FlaskClient, user: str, password: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token
    response = client.post("/login", data={"username": user, "password": password, "csrf_token": token.group(1)})
    assert response.status_code == 302


@pytest.mark.parametrize("path", ["/ops/", "/ops/review", "/ops/conversations", "/ops/charts/rates.svg"])
def test_only_supervisors(app: Flask, path: str) -> None:
    client = app.test_client()
    assert client.get(path).status_code == 302  # to the log-in page
    _login(client, "cora", "collector-pass-1")
    assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    "path", ["/ops/", "/ops/review", "/ops/conversations", "/ops/charts/csat.svg", "/ops/conversations/x/story.yml"]
)
def test_redis_down_is_a_clear_503(app: Flask, path: str) -> None:
    client = app.test_client()
    _login(client, "sam", "supervisor-pass-1")
    response = client.get(path)
    assert response.status_code == 503 and "cannot be reached" in response.get_data(as_text=True)


def test_review_post_without_csrf_or_fields_changes_nothing(app: Flask) -> None:
    client = app.test_client()
    _login(client, "sam", "supervisor-pass-1")
    assert client.post("/ops/review", data={"key": "k", "text": "hi", "intent": "greet"}).status_code == 400
    assert client.get("/ops/charts/nope.svg").status_code == 404
