"""``make run``: Redis, action server, Rasa server and the collector console on loopback, until Ctrl-C.

Loads the demo portfolio into an empty database, trains when inputs changed, then prints where
to chat. Ctrl-C (or SIGTERM) stops every child process group.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

from scripts import services
from scripts.train import ensure_model


def sms_example(env: dict[str, str]) -> str:
    """The scripts.sms command line to try the SMS channel of the servers started with ``env``
    (``base_env``): the ports (and PUBLIC_URL when it is not the default) are given on the line, so it
    works from another shell when make run was started on other ports."""
    settings = {"RASA_PORT": env["RASA_PORT"], "FAKE_TWILIO_PORT": env["FAKE_TWILIO_PORT"]}
    if env["PUBLIC_URL"] != f"http://127.0.0.1:{env['RASA_PORT']}":
        settings["PUBLIC_URL"] = env["PUBLIC_URL"]
    prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in settings.items())
    return f"{prefix} .venv/bin/python -m scripts.sms +16175550101 'hi'"


def console_login(console: str, database_url: str | None = None) -> str:
    """What ``make run`` says about logging in to the console at ``console`` (its base URL): the
    users in the database at ``database_url`` (default ``DATABASE_URL``) and their roles, or, when
    there are none, the command that creates one. No user or password is ever made up here."""
    from sqlalchemy import select

    from bot import db
    from console.models import ConsoleUser, ensure_tables

    ensure_tables(database_url)
    with db.session_scope(database_url) as session:
        users = session.execute(select(ConsoleUser.username, ConsoleUser.role).order_by(ConsoleUser.username)).all()
    create = ".venv/bin/python -m console.cli create-user NAME --role supervisor  (or --role collector)"
    if not users:
        return (
            f"  Console:   {console}/login  (collectors take over conversations handed to a person)\n"
            "             no console user yet: create one (it asks for a password of at least 10 characters):\n"
            f"             {create}\n"
        )
    names = ", ".join(f"{name} ({role})" for name, role in users[:5]) + (", …" if len(users) > 5 else "")
    return (
        f"  Console:   {console}/login  (collectors take over conversations handed to a person)\n"
        f"             log in as {names}; another user: {create}\n"
    )


class Supervisor:
    """The services ``make run`` started, by name. One that exits is started again (meanwhile the
    bot answers "try again" for Redis, a holding reply for the action server), unless it keeps
    exiting: more than ``max_restarts`` exits within ``window_s`` seconds stops ``make run``."""

    def __init__(self, max_restarts: int = 3, window_s: float = 300) -> None:
        self.max_restarts, self.window_s = max_restarts, window_s
        self.starters: dict[str, Callable[[], subprocess.Popen[bytes]]] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.exits: dict[str, list[float]] = {}

    def start(self, name: str, starter: Callable[[], subprocess.Popen[bytes]]) -> None:
        """Start a service with ``starter`` (which waits until it is ready; raises RuntimeError)."""
        self.starters[name] = starter
        self.procs[name] = starter()

    def check(self, now: float) -> str | None:
        """Restart the services that exited; the reason to stop when one keeps exiting, else None."""
        for name, proc in self.procs.items():
            if proc.poll() is None:
                continue
            recent = [t for t in self.exits.get(name, []) if now - t < self.window_s] + [now]
            self.exits[name] = recent
            if len(recent) > self.max_restarts:
                return f"{name} exited {len(recent)} times in {self.window_s:.0f} s (last code {proc.returncode})"
            print(
                f"{name} exited (code {proc.returncode}); restarting it (log in var/log/)", file=sys.stderr, flush=True
            )
            try:
                self.procs[name] = self.starters[name]()
            except RuntimeError as exc:  # still down: counted again at the next check
                print(f"error: {exc}", file=sys.stderr, flush=True)
        return None

    def stop_all(self) -> None:
        """Stop every service, the last started first."""
        for proc in reversed(list(self.procs.values())):
            services.stop(proc)


def main() -> int:
    env = services.base_env()
    var = services.ROOT / "var"
    logs = var / "log"
    logs.mkdir(parents=True, exist_ok=True)
    running = Supervisor()
    stopping = {"flag": False}

    def shutdown(signum: int, _frame: FrameType | None) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "load-portfolio", "--if-empty"], cwd=services.ROOT, env=env, check=True
        )
        model = ensure_model()
        port = int(env["REDIS_PORT"])
        if services.port_open(port):
            print(f"==> using the Redis already listening on 127.0.0.1:{port}", flush=True)
        else:
            print(f"==> starting redis-server on 127.0.0.1:{port} (data in var/redis)", flush=True)
            running.start(
                "redis-server", lambda: services.start_redis(port, var / "redis", persist=True, log=logs / "redis.log")
            )
        if services.uses_fake_twilio(env):
            fake = f"127.0.0.1:{env['FAKE_TWILIO_PORT']}"
            print(f"==> starting a local fake of Twilio's API on {fake} (no real SMS is sent)", flush=True)
            running.start("fake Twilio", lambda: services.start_fake_twilio(env, log=logs / "fake_twilio.log"))
        if services.uses_fake_stripe(env):
            fake = f"127.0.0.1:{env['FAKE_STRIPE_PORT']}"
            print(f"==> starting a local fake of the payment provider's API on {fake} (no real payment)", flush=True)
            running.start("fake Stripe", lambda: services.start_fake_stripe(env, log=logs / "fake_stripe.log"))
        if services.uses_local_smtp(env):
            print(f"==> starting a local SMTP server on 127.0.0.1:{env['SMTP_PORT']} (e-mails in var/log/smtp.log)")
            running.start("SMTP server", lambda: services.start_smtp_sink(env, log=logs / "smtp.log"))
        print(
            f"==> starting the action server on 127.0.0.1:{env['ACTION_PORT']} (log: var/log/actions.log)", flush=True
        )
        running.start("action server", lambda: services.start_action_server(env, log=logs / "actions.log"))
        print(
            f"==> starting the Rasa server on 127.0.0.1:{env['RASA_PORT']} (log: var/log/rasa.log); loading the model…",
            flush=True,
        )
        running.start("Rasa server", lambda: services.start_rasa_server(model, env, log=logs / "rasa.log"))
        print(
            f"==> starting the collector console on 127.0.0.1:{env['CONSOLE_PORT']} (log: var/log/console.log)",
            flush=True,
        )
        running.start("console", lambda: services.start_console(env, log=logs / "console.log"))
        base = f"http://127.0.0.1:{env['RASA_PORT']}"
        console = f"http://127.0.0.1:{env['CONSOLE_PORT']}"
        print(
            "\nThe collections bot is up.\n"
            f"  Web chat:  {base}/webhooks/webchat/\n"
            f"  REST:      curl -s {base}/webhooks/rest/webhook -H 'Content-Type: application/json' \\\n"
            '               -d \'{"sender": "+16175550101", "message": "hi"}\'\n'
            f"  Health:    {base}/webhooks/rest/health\n"
            f"  SMS:       {sms_example(env)}\n"
            "             (through the local fake of Twilio, which answers STOP, START and HELP itself\n"
            "             like Twilio's Advanced Opt-Out; prints what the phone receives)\n"
            "  Demo debtor A-1001: phone +16175550101, born April 12 1985, ZIP 02139, last four 4821.\n"
            f"{console_login(console, env.get('DATABASE_URL'))}"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stopping["flag"]:
            problem = running.check(time.monotonic())
            if problem:
                print(f"{problem}; see var/log/. Stopping.", file=sys.stderr, flush=True)
                return 1
            time.sleep(0.5)
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc} (logs in var/log/)", file=sys.stderr)
        return 1
    finally:
        print("==> stopping…", flush=True)
        running.stop_all()


if __name__ == "__main__":
    sys.exit(main())
