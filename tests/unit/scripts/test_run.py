"""``make run`` keeps its services up: one that exits is started again, one that keeps exiting
stops the run. Real child processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.run import Supervisor


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def test_a_service_that_exits_is_started_again_and_one_that_keeps_exiting_stops_the_run() -> None:
    running = Supervisor(max_restarts=2, window_s=60)
    starts = {"steady": 0, "crashing": 0}

    def steady() -> subprocess.Popen[bytes]:
        starts["steady"] += 1
        return _child("import time; time.sleep(60)")

    def crashing() -> subprocess.Popen[bytes]:
        starts["crashing"] += 1
        return _child("raise SystemExit(3)")

    running.start("steady", steady)
    running.start("crashing", crashing)
    try:
        running.procs["crashing"].wait(10)
        # killed by hand (as a user did to the action server): started again, not the end of the run
        running.procs["steady"].kill()
        running.procs["steady"].wait(10)
        assert running.check(now=0.0) is None
        assert starts == {"steady": 2, "crashing": 2}
        assert running.procs["steady"].poll() is None
        running.procs["crashing"].wait(10)
        assert running.check(now=1.0) is None  # second exit within the window: still restarted
        running.procs["crashing"].wait(10)
        problem = running.check(now=2.0)  # third: it keeps exiting
        assert problem is not None and problem.startswith("crashing exited 3 times") and "code 3" in problem
        # exits long ago do not count against a service
        running.exits["crashing"] = [-1000.0, -900.0]
        assert running.check(now=3.0) is None
    finally:
        running.stop_all()
    assert all(proc.poll() is not None for proc in running.procs.values())


def test_make_run_says_how_to_log_in_to_the_console(tmp_path: Path) -> None:
    """No default user or password: with no console user the command that makes one is shown;
    once there are users, their names and roles, never a password."""
    from bot import db
    from console.models import create_user
    from scripts.run import console_login

    url = f"sqlite:///{tmp_path / 'run.db'}"
    empty = console_login("http://127.0.0.1:5077", url)
    assert "http://127.0.0.1:5077/login" in empty and "no console user yet" in empty
    assert "python -m console.cli create-user NAME --role supervisor" in empty
    with db.session_scope(url) as session:
        create_user(session, "sue", "sue-supervisor-1", "supervisor")
        create_user(session, "ava", "ava-collector-1", "collector")
    listed = console_login("http://127.0.0.1:5077", url)
    assert "log in as ava (collector), sue (supervisor)" in listed
    assert "collector-1" not in listed and "supervisor-1" not in listed
