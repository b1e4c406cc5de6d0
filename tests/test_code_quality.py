"""Lint and type checks are part of the suite, so CI fails on them like on any test."""

from __future__ import annotations

import subprocess

from scripts import services


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(services.VENV_BIN / args[0]), *args[1:]], cwd=services.ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint_and_format() -> None:
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_on_the_core() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout
