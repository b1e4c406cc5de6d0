"""Console log-in, roles and CSRF on the Flask test client (no servers)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot import db
from console.app import create_app
from console.models import UserError, create_user, find_user
from scripts import services


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test", "REDIS_PORT": 1})
    with db.session_scope(url) as session:
        create_user(session, "cora", "collector-pass-1", "collector")
        create_user(session, "sam", "supervisor-pass-1", "supervisor")
    yield app


def _token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf-token" content="([^"]+)"', page
    )
    assert match, page
    return match.group(1)


def _login(client: FlaskClient, user: str, password: str) -> int:
    return client.post(
        "/login", data={"username": user, "password": password, "csrf_token": _token(client)}
    ).status_code


def test_passwords_are_hashed_and_bad_users_refused(app: Flask) -> None:
    with db.session_scope(app.config["DATABASE_URL"]) as session:
        user = find_user(session, "cora")
        assert user is not None and "collector-pass-1" not in user.password_hash
        assert user.check_password("collector-pass-1") and not user.check_password("collector-pass-2")
        for name, password, role in [
            ("cora", "another-pass-1", "collector"),
            ("x", "short", "collector"),
            ("bad name", "long-enough-1", "collector"),
            ("y", "long-enough-1", "admin"),
        ]:
            with pytest.raises(UserError):
                create_user(session, name, password, role)


def test_login_needs_the_right_password_and_a_csrf_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/").status_code == 302  # to the log-in page
    assert _login(client, "cora", "wrong-password") == 401
    no_token = client.post("/login", data={"username": "cora", "password": "collector-pass-1"})
    assert no_token.status_code == 400
    assert _login(client, "cora", "collector-pass-1") == 302
    # logged in; this app's Redis (port 1) is down: a clear 503, not a crash
    page = client.get("/")
    assert page.status_code == 503 and "unreachable" in page.get_data(as_text=True)


def test_roles(app: Flask) -> None:
    collector, supervisor = app.test_client(), app.test_client()
    _login(collector, "cora", "collector-pass-1")
    _login(supervisor, "sam", "supervisor-pass-1")
    assert collector.get("/supervisor").status_code == 403
    assert supervisor.get("/supervisor").status_code == 503  # past the role check; no Redis here


def test_open_redirect_after_login_is_refused(app: Flask) -> None:
    client = app.test_client()
    token = _token(client)
    response = client.post(
        "/login?next=https://evil.example/x",
        data={"username": "cora", "password": "collector-pass-1", "csrf_token": token},
    )
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]


def test_create_user_cli(tmp_path: Path) -> None:
    env = services.base_env(DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    args = [
        str(services.VENV_BIN / "python"),
        "-m",
        "console.cli",
        "create-user",
        "ada",
        "--role",
        "supervisor",
        "--password-stdin",
    ]
    done = subprocess.run(args, input="a-long-password\n", text=True, capture_output=True, env=env, cwd=services.ROOT)
    assert done.returncode == 0, done.stderr
    again = subprocess.run(args, input="a-long-password\n", text=True, capture_output=True, env=env, cwd=services.ROOT)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_api_errors_are_json_and_pages_stay_html(app: Flask) -> None:
    client = app.test_client()
    _login(client, "cora", "collector-pass-1")
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404 and missing.get_json() == {
        "error": "not_found",
        "message": "no such ticket or resource",
    }
    page = client.get("/no-such-page")
    assert (
        page.status_code == 404 and page.get_json(silent=True) is None and "Not found." in page.get_data(as_text=True)
    )
