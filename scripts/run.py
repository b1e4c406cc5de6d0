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


def main() -> int:
    env = services.base_env()
    var = services.ROOT / "var"
    logs = var / "log"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    redis: subprocess.Popen[bytes] | None = None
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
            redis = services.start_redis(port, var / "redis", persist=True, log=logs / "redis.log")
        if services.uses_fake_twilio(env):
            fake = f"127.0.0.1:{env['FAKE_TWILIO_PORT']}"
            print(f"==> starting a local fake of Twilio's API on {fake} (no real SMS is sent)", flush=True)
            procs.append(services.start_fake_twilio(env, log=logs / "fake_twilio.log"))
        print(
            f"==> starting the action server on 127.0.0.1:{env['ACTION_PORT']} (log: var/log/actions.log)", flush=True
        )
        procs.append(services.start_action_server(env, log=logs / "actions.log"))
        print(
            f"==> starting the Rasa server on 127.0.0.1:{env['RASA_PORT']} (log: var/log/rasa.log); loading the model…",
            flush=True,
        )
        procs.append(services.start_rasa_server(model, env, log=logs / "rasa.log"))
        print(
            f"==> starting the collector console on 127.0.0.1:{env['CONSOLE_PORT']} (log: var/log/console.log)",
            flush=True,
        )
        procs.append(services.start_console(env, log=logs / "console.log"))
        base = f"http://127.0.0.1:{env['RASA_PORT']}"
        console = f"http://127.0.0.1:{env['CONSOLE_PORT']}"
        print(
            "\nThe collections bot is up.\n"
            f"  Web chat:  {base}/webhooks/webchat/\n"
            f"  REST:      curl -s {base}/webhooks/rest/webhook -H 'Content-Type: application/json' \\\n"
            '               -d \'{"sender": "+16175550101", "message": "hi"}\'\n'
            f"  Health:    {base}/webhooks/rest/health\n"
            f"  SMS:       {sms_example(env)}\n"
            "             (a signed Twilio webhook; prints the replies)\n"
            "  Demo debtor A-1001: phone +16175550101, born April 12 1985, ZIP 02139, last four 4821.\n"
            f"  Console:   {console}/  (collectors take over conversations handed to a person)\n"
            "             first account: .venv/bin/python -m console.cli create-user NAME --role supervisor\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stopping["flag"]:
            if redis is not None and redis.poll() is not None and not stopping["flag"]:
                # the bot answers "try again shortly" meanwhile; bring our Redis back with its data
                print(f"redis-server exited (code {redis.returncode}); restarting it", file=sys.stderr, flush=True)
                try:
                    redis = services.start_redis(port, var / "redis", persist=True, log=logs / "redis.log")
                except RuntimeError as exc:
                    print(f"error: {exc}", file=sys.stderr, flush=True)
                    time.sleep(2)
            for proc in procs:
                if proc.poll() is not None:
                    print(f"a service exited (code {proc.returncode}); see var/log/. Stopping.", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc} (logs in var/log/)", file=sys.stderr)
        return 1
    finally:
        print("==> stopping…", flush=True)
        for proc in reversed(procs):
            services.stop(proc)
        services.stop(redis)


if __name__ == "__main__":
    sys.exit(main())
