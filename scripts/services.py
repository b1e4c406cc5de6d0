"""Start, wait for and stop the processes the bot needs: Redis, the action server, the Rasa server.

Used by ``make run`` (scripts/run.py) and by the test suite, so both run the same way.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def base_env(**overrides: str) -> dict[str, str]:
    """Environment for every child: loopback defaults, telemetry off, project on the path."""
    env = dict(os.environ)
    defaults = {
        "RASA_TELEMETRY_ENABLED": "false",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6390",
        "REDIS_DB": "0",
        "REDIS_PASSWORD": "",
        "ACTION_PORT": "5055",
        "RASA_PORT": "5005",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SANIC_REGISTER": "False",
        # Sanic closes a connection that sends nothing for KEEP_ALIVE_TIMEOUT (default 5 s), even a
        # new one: when the Rasa server's loop is busy with NLU under load, the action server closed
        # connections before the request was written ("Cannot write to closing transport"). Also
        # longer than a load balancer's idle timeout (60 s), as it should be.
        "SANIC_KEEP_ALIVE_TIMEOUT": "75",
        # Twilio: a local fake of its REST API unless real credentials and base URL are given
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": "local-development-token",
        "TWILIO_NUMBER": "+15559870000",
        "FAKE_TWILIO_PORT": "8099",
        # the payment provider (Stripe): a local fake of its API unless a real key and base URL are given
        "STRIPE_API_KEY": "sk_test_local_development",
        "STRIPE_WEBHOOK_SECRET": "whsec_local_development",
        "FAKE_STRIPE_PORT": "8098",
        # e-mail (bot/mailer.py): a local SMTP sink unless a real server is given
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "8025",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env.update(overrides)
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{env['ACTION_PORT']}/webhook")
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{env['RASA_PORT']}")
    env.setdefault("TWILIO_API_BASE_URL", f"http://127.0.0.1:{env['FAKE_TWILIO_PORT']}")
    env.setdefault("STRIPE_API_BASE", f"http://127.0.0.1:{env['FAKE_STRIPE_PORT']}")
    env.setdefault("CONSOLE_PORT", "5077")
    if not env.get("RASA_API_TOKEN"):
        env["RASA_API_TOKEN"] = _local_secret("rasa_api_token")
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# Rasa reads the TF_* variables at start-up (rasa.utils.tensorflow.environment); torch, numpy and
# spaCy read OMP_NUM_THREADS when they load
SERVER_THREADS = {
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}


def _local_secret(name: str) -> str:
    """A random secret kept in ``var/<name>`` (created on first use, readable by the owner only)."""
    path = ROOT / "var" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for(check: Callable[[], bool], what: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``check()`` until true; raise RuntimeError after ``timeout`` s or if ``proc`` exits.
    A ``proc`` that is still running at the timeout is stopped first: nobody else would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


def http_ok(url: str) -> bool:
    """True when GET url answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def _spawn(args: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else None  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=out or None,
        stderr=subprocess.STDOUT if out else None,
        start_new_session=True,  # own process group: stop() ends the whole tree
    )


def start_redis(port: int, data_dir: Path, persist: bool, log: Path | None = None) -> subprocess.Popen[bytes]:
    """A redis-server on 127.0.0.1:port with its files in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]
    args += ["--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    proc = _spawn(args, dict(os.environ), log)
    wait_for(lambda: port_open(port), f"redis-server on port {port}", 15, proc)
    return proc


def postgres_bin(name: str) -> str:
    """Path of a PostgreSQL server program (``initdb``, ``postgres``): Debian keeps them in
    /usr/lib/postgresql/<version>/bin, off PATH; the newest version wins."""
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the postgresql package (scripts/bootstrap.sh)")
    return on_path


def start_postgres(port: int, data_dir: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """A throw-away PostgreSQL server on 127.0.0.1:port, its cluster in ``data_dir`` (created),
    superuser ``postgres`` with trust authentication on loopback only; fsync off (test data).
    PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user the
    Debian package creates, and ``data_dir`` is given to it."""
    import pwd

    user: str | None = None
    if os.geteuid() == 0:
        user = "postgres"
        owner = pwd.getpwnam(user)
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(data_dir, owner.pw_uid, owner.pw_gid)
    run_as = {"user": user, "group": user, "extra_groups": []} if user else {}
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run(
        [postgres_bin("initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        env=env,
        **run_as,  # type: ignore[arg-type]
    )
    args = [postgres_bin("postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(data_dir)]
    for setting in ("listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off", "full_page_writes=off"):
        args += ["-c", setting]
    out = open(log, "ab") if log else None  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        args,
        env=env,
        stdout=out or None,
        stderr=subprocess.STDOUT if out else None,
        start_new_session=True,
        **run_as,  # type: ignore[arg-type]
    )
    wait_for(lambda: port_open(port), f"PostgreSQL on port {port}", 60, proc)
    return proc


HAPROXY_CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def start_haproxy(
    port: int, backends: list[str], stats_socket: Path, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """HAProxy (Debian package) with ``deploy/haproxy/haproxy.cfg`` on 127.0.0.1:port in front of
    ``backends`` (two ``host:port``), its runtime API on ``stats_socket``; the configuration is
    checked first (``haproxy -c``). Waits until it accepts connections."""
    import shutil

    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    env = {
        **os.environ,
        "COLLECTIONS_BIND": f"127.0.0.1:{port}",
        "RASA1": backends[0],
        "RASA2": backends[1],
        "HAPROXY_STATS_SOCKET": str(stats_socket),
    }
    checked = subprocess.run([binary, "-c", "-f", str(HAPROXY_CONFIG)], env=env, capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"haproxy refuses {HAPROXY_CONFIG}: {checked.stdout}{checked.stderr}")
    proc = _spawn([binary, "-f", str(HAPROXY_CONFIG), "-db"], env, log)
    wait_for(lambda: port_open(port) and stats_socket.exists(), "HAProxy", 30, proc)
    return proc


def haproxy_stats(stats_socket: Path) -> list[dict[str, str]]:
    """HAProxy's ``show stat`` over its runtime API: one dict per frontend, backend and server
    (columns pxname, svname, status, stot, …)."""
    import csv

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(stats_socket))
        conn.sendall(b"show stat\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode().lstrip("# ")
    return list(csv.DictReader(text.splitlines()))


def start_action_server(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """The rasa_sdk action server serving ``actions/`` on ACTION_HOST:ACTION_PORT.

    ACTION_HOST defaults to loopback: the action server has no authentication and answers with
    account data for whatever tracker it is sent, so only the Rasa server may reach it (rasa_sdk
    itself listens on every interface unless ``SANIC_HOST`` says otherwise)."""
    port = env["ACTION_PORT"]
    env = {**env, "SANIC_HOST": env.get("ACTION_HOST") or "127.0.0.1"}
    proc = _spawn([str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", port], env, log)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/health"), "action server", 120, proc)
    return proc


def start_rasa_server(
    model: Path, env: dict[str, str], log: Path | None = None, host: str = "127.0.0.1"
) -> subprocess.Popen[bytes]:
    """The Rasa server with the project's channels on RASA_PORT; waits until the model is loaded.

    Its HTTP API is on, behind the token RASA_API_TOKEN: the collector console hands
    conversations back through it and outreach opens conversations with trigger_intent.

    TensorFlow, PyTorch and BLAS run single-threaded unless the environment says otherwise: a
    message is one short sentence, and their thread pools fighting over the cores made NLU about
    5x slower on 2 cores (``make bench``); more throughput comes from more replicas."""
    port = env["RASA_PORT"]
    env = {**SERVER_THREADS, **env}
    args = [
        str(VENV_BIN / "rasa"),
        "run",
        "--model",
        str(model),
        "--port",
        port,
        "--interface",
        host,
        "--credentials",
        "credentials.yml",
        "--endpoints",
        "endpoints.yml",
        "--enable-api",
        "--auth-token",
        env["RASA_API_TOKEN"],
    ]
    proc = _spawn(args, env, log)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/webhooks/rest/health"), "Rasa server", 300, proc)
    return proc


def start_console(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """The collector console (console.serve, waitress) on CONSOLE_HOST:CONSOLE_PORT."""
    port = env["CONSOLE_PORT"]
    proc = _spawn([sys.executable, "-m", "console.serve"], env, log)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/login"), "collector console", 60, proc)
    return proc


def uses_fake_twilio(env: dict[str, str]) -> bool:
    """Whether Twilio's API is the local fake (loopback base URL)."""
    return env["TWILIO_API_BASE_URL"].startswith(("http://127.0.0.1", "http://localhost"))


def uses_local_smtp(env: dict[str, str]) -> bool:
    """Whether e-mail goes to a local SMTP server that nothing else provides (loopback, port free)."""
    return env["SMTP_HOST"] in ("127.0.0.1", "localhost") and not port_open(int(env["SMTP_PORT"]))


def start_smtp_sink(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """aiosmtpd's debugging server on SMTP_PORT: it accepts every e-mail and prints it to ``log``."""
    port = env["SMTP_PORT"]
    args = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Debugging", "-l", f"127.0.0.1:{port}"]
    proc = _spawn(args, env, log)
    wait_for(lambda: port_open(int(port)), "local SMTP server", 30, proc)
    return proc


def start_fake_twilio(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """The local fake of Twilio's REST API on FAKE_TWILIO_PORT (scripts/fake_twilio.py)."""
    port = env["FAKE_TWILIO_PORT"]
    args = [
        sys.executable,
        "-m",
        "scripts.fake_twilio",
        "--port",
        port,
        "--account-sid",
        env["TWILIO_ACCOUNT_SID"],
        "--auth-token",
        env["TWILIO_AUTH_TOKEN"],
        "--rewrite",
        f"{env['PUBLIC_URL']}=http://127.0.0.1:{env['RASA_PORT']}",
    ]
    proc = _spawn(args, env, log)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/fake/messages"), "fake Twilio API", 30, proc)
    return proc


def uses_fake_stripe(env: dict[str, str]) -> bool:
    """Whether the payment provider's API is the local fake (loopback base URL)."""
    return env["STRIPE_API_BASE"].startswith(("http://127.0.0.1", "http://localhost"))


def start_fake_stripe(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """The local fake of the payment provider's API on FAKE_STRIPE_PORT (scripts/fake_stripe.py);
    its events go to the Rasa server's payment webhook on RASA_PORT."""
    port = env["FAKE_STRIPE_PORT"]
    args = [
        sys.executable,
        "-m",
        "scripts.fake_stripe",
        "--port",
        port,
        "--api-key",
        env["STRIPE_API_KEY"],
        "--webhook-secret",
        env["STRIPE_WEBHOOK_SECRET"],
        "--webhook-url",
        f"http://127.0.0.1:{env['RASA_PORT']}/webhooks/payments/webhook",
    ]
    proc = _spawn(args, env, log)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/fake/sessions"), "fake payment provider API", 30, proc)
    return proc


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL after ``timeout`` s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass
