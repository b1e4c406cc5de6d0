"""Rasa's own checks on the training data and the trained model."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scripts import services
from scripts.train import TRAINING_DATA


def _rasa(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(services.VENV_BIN / "rasa"), *args],
        cwd=services.ROOT,
        env=services.base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_data_validates_with_fail_on_warnings() -> None:
    result = _rasa(
        "data",
        "validate",
        "--fail-on-warnings",
        "--domain",
        "bot/domain",
        "--config",
        "config.yml",
        "--data",
        *TRAINING_DATA,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_stories_pass_rasa_test(model: Path, tmp_path: Path) -> None:
    result = _rasa(
        "test",
        "core",
        "--model",
        str(model),
        "--stories",
        "tests/stories",
        "--out",
        str(tmp_path),
        "--fail-on-prediction-errors",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
