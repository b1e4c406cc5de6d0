"""Shared fixtures: a real Redis on a free port, a trained model (cached by input hash), a
SQLite system of record with the demo portfolio, the real action and Rasa servers, and a real
PostgreSQL server (started once, when a test asks for it) for the tests that run on both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from scripts import services
from scripts.train import ensure_model

ROOT = services.ROOT
# Property and fuzz tests draw the same examples on every run, so a red run is reproducible and a
# green one is not luck; HYPOTHESIS_PROFILE=explore searches afresh (and keeps what it finds).
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
os.environ["RASA_TELEMETRY_ENABLED"] = "false"


@dataclass
class Redis:
    """A redis-server owned by the test session."""

    port: int
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = services.start_redis(self.port, self.data_dir, persist=True, log=self.log)

    def stop(self) -> None:
        """SHUTDOWN (the append-only file keeps the data) and wait for the process to end."""
        services.stop(self.proc)
        self.proc = None


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="session")
def redis_server(work_dir: Path) -> Iterator[Redis]:
    server = Redis(services.free_port(), work_dir / "redis", work_dir / "redis.log")
    server.start()
    yield server
    server.stop()


@dataclass
class Postgres:
    """A PostgreSQL server owned by the test session (superuser ``postgres``, trust on loopback)."""

    port: int
    proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres", user: str = "postgres", password: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql+psycopg2://{auth}@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Run statements as the superuser, outside a transaction (CREATE DATABASE needs that)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def fresh_database(self) -> str:
        """A new empty database; its SQLAlchemy URL (as the superuser)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server(work_dir: Path) -> Iterator[Postgres]:
    import psycopg2

    data_dir = Path(tempfile.mkdtemp(prefix="collections-pg-"))  # off pytest's root-only tree
    server = Postgres(services.free_port())
    server.proc = services.start_postgres(server.port, data_dir, log=work_dir / "postgres.log")
    deadline = time.monotonic() + 60
    while True:  # the port opens before the server accepts connections
        try:
            server.execute("SELECT 1")
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    yield server
    services.stop(server.proc)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty system of record (migrated on first use), once on SQLite and once on PostgreSQL."""
    from bot import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sor.db'}"
    else:
        url = request.getfixturevalue("postgres_server").fresh_database()
    yield url
    engine = db._engines.pop(url, None)
    if engine is not None:
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(work_dir: Path) -> str:
    url = f"sqlite:///{work_dir / 'collections.db'}"
    env = services.base_env(DATABASE_URL=url)
    subprocess.run(
        [str(services.VENV_BIN / "python"), "-m", "bot.cli", "load-portfolio"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return url


@pytest.fixture(scope="session")
def model(request: pytest.FixtureRequest) -> Path:
    # show training progress and time in the test log instead of capturing it
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        return ensure_model()


@dataclass
class Bot:
    """The running Rasa server and action server, and how to talk to them."""

    base_url: str
    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def post(self, path: str, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def say(self, sender: str, text: str) -> list[str]:
        """Send one REST message; return the bot's texts."""
        status, body = self.post("/webhooks/rest/webhook", {"sender": sender, "message": text})
        assert status == 200, (status, body)
        return [m.get("text", "") for m in body]


@pytest.fixture(scope="session")
def bot(redis_server: Redis, database_url: str, model: Path, work_dir: Path) -> Iterator[Bot]:
    rasa_port = str(services.free_port())
    env = services.base_env(
        REDIS_PORT=str(redis_server.port),
        ACTION_PORT=str(services.free_port()),
        RASA_PORT=rasa_port,
        DATABASE_URL=database_url,
        WEBCHAT_SECRET="test-secret-not-for-production",
        FAKE_TWILIO_PORT=str(services.free_port()),
        FAKE_STRIPE_PORT=str(services.free_port()),
        STRIPE_WEBHOOK_SECRET="whsec_test_secret_not_for_production",
        TWILIO_AUTH_TOKEN="test-twilio-token",
        PUBLIC_URL=f"https://bot.example.test:{rasa_port}",  # as behind a TLS reverse proxy
        COLLECTOR_PHONE="+15550001111",
        RASA_API_TOKEN="test-rasa-api-token",
        EMAIL_SECRET="test-email-secret",  # signs the e-mail opt-out links the CLI sends and the bot reads
    )
    env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{env['ACTION_PORT']}/webhook"
    env["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{env['FAKE_TWILIO_PORT']}"
    env["STRIPE_API_BASE"] = f"http://127.0.0.1:{env['FAKE_STRIPE_PORT']}"
    env["PAYMENT_RETURN_URL"] = f"http://127.0.0.1:{rasa_port}"  # the test browser comes back here
    logs = work_dir / "logs"
    logs.mkdir(exist_ok=True)
    from tests.conversation import helpers

    helpers.EVENT_LOG_URL = database_url
    running = Bot(f"http://127.0.0.1:{env['RASA_PORT']}", env, logs)
    try:
        running.procs.append(services.start_fake_twilio(env, log=logs / "fake_twilio.log"))
        running.procs.append(services.start_fake_stripe(env, log=logs / "fake_stripe.log"))
        running.procs.append(services.start_action_server(env, log=logs / "actions.log"))
        running.procs.append(services.start_rasa_server(model, env, log=logs / "rasa.log"))
    except RuntimeError:
        for proc in running.procs:
            services.stop(proc)
        for log in logs.iterdir():
            print(f"--- {log.name}\n{log.read_text()[-4000:]}")
        raise
    yield running
    for proc in reversed(running.procs):
        services.stop(proc)


@pytest.fixture
def portfolio_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite system of record with the demo portfolio, set as DATABASE_URL; its URL."""
    from bot import db
    from bot.outreach.portfolio import generate, load_into

    url = f"sqlite:///{tmp_path / 'collections.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    with db.session_scope(url) as session:
        load_into(session, generate())
    yield url
    db._engines.pop(url).dispose()


@pytest.fixture
def db_session(database_url: str) -> Iterator[Any]:
    from bot import db

    with db.session_scope(database_url) as session:
        yield session
