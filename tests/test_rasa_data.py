"""Rasa's own checks on the training data and the trained model."""

from __future__ import annotations

from pathlib import Path

from scripts.train import TRAINING_DATA
from tests.helpers import run_rasa, validate_data


def test_data_validates_with_fail_on_warnings() -> None:
    result = validate_data(*TRAINING_DATA)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_stories_pass_rasa_test(model: Path, tmp_path: Path) -> None:
    result = run_rasa(
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
