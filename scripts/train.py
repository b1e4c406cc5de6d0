"""Train the model when config, domain, training data or custom components changed.

The model is ``models/<hash>.tar.gz`` where the hash covers every input, so an unchanged
project never retrains and two checkouts with the same inputs share a model name.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

from scripts.services import ROOT, VENV_BIN, base_env

TRAINING_DATA = ["data/nlu", "data/stories", "data/rules"]
INPUTS = [
    "config.yml",
    "bot/domain",
    *TRAINING_DATA,
    "policies",
    "bot/extraction.py",
    "bot/embeddings.py",
    "bot/understanding",
    "requirements.lock",
]


def inputs_hash() -> str:
    """sha256 over the paths and contents of every training input (first 16 hex digits)."""
    digest = hashlib.sha256()
    for item in INPUTS:
        path = ROOT / item
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if path.is_dir()
            else [path]
        )
        for f in files:
            digest.update(str(f.relative_to(ROOT)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def model_path(models_dir: Path = ROOT / "models") -> Path:
    """Where the model for the current inputs lives (it may not exist yet)."""
    return models_dir / f"model-{inputs_hash()}.tar.gz"


def ensure_model(models_dir: Path = ROOT / "models") -> Path:
    """Return the current model, training it first if needed (Rasa shows the progress bars)."""
    target = model_path(models_dir)
    if target.exists():
        print(f"==> model up to date: {target.relative_to(ROOT)}", flush=True)
        return target
    print(f"==> training {target.name} (data or config changed)", flush=True)
    started = time.monotonic()
    args = [
        str(VENV_BIN / "rasa"),
        "train",
        "--config",
        "config.yml",
        "--domain",
        "bot/domain",
        "--data",
        *TRAINING_DATA,
        "--out",
        str(models_dir),
        "--fixed-model-name",
        target.name[: -len(".tar.gz")],
    ]
    subprocess.run(args, cwd=ROOT, env=base_env(), check=True)
    print(f"==> trained in {time.monotonic() - started:.0f} s", flush=True)
    return target


if __name__ == "__main__":
    try:
        ensure_model()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
