"""No evaluation message leaks into the project's data: the shared real-language dev sets are for
measuring only (never trained on, nor paraphrased into training data).

Checked for both dev files (English and Chinese) against every line of every file under ``data/``:
no dev text whole, no run of 8 consecutive words of a dev text, and for Chinese no run of 12
consecutive characters (letters, digits and Han characters; spaces and punctuation ignored).
The shared data is ``$SHARED_DATA`` or ``../shared/data`` beside the project root.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.services import ROOT

DEV_FILES = ("debtor_messages_dev.jsonl", "debtor_messages_zh_dev.jsonl")
WORD_RUN = 8
CHAR_RUN = 12
HAN = re.compile(r"[\u3400-\u9fff]")


def shared_data() -> Path:
    return Path(os.environ.get("SHARED_DATA") or ROOT.parent / "shared" / "data")


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower().replace("'", "").replace("\u2019", ""))


def chars(text: str) -> str:
    return "".join(words(text))


def runs(items: list[str] | str, size: int) -> Iterator[tuple[str, ...] | str]:
    for i in range(len(items) - size + 1):
        chunk = items[i : i + size]
        yield chunk if isinstance(chunk, str) else tuple(chunk)


def dev_texts() -> list[tuple[str, str]]:
    folder = shared_data()
    out = []
    for name in DEV_FILES:
        path = folder / name
        if not path.exists():
            pytest.fail(
                f"{path} is missing: the dev sets live in ../shared/data beside the repository root "
                "(or point SHARED_DATA at the folder holding them)"
            )
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and "text" in (row := json.loads(line)):
                out.append((name, row["text"]))
    return out


def data_lines() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "data").rglob("*")):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".json", ".jsonl", ".md", ".txt", ".csv"}:
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                yield f"{path.relative_to(ROOT)}:{number}", line


def example_text(line: str) -> str:
    """The message on a YAML line: the text after a list dash and an optional ``text:`` key, unquoted."""
    text = line.strip().removeprefix("- ").strip()
    text = text.removeprefix("text:").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text


def test_no_dev_text_in_data() -> None:
    dev = dev_texts()
    assert dev, "no dev rows read"
    whole = {chars(t): (f, t) for f, t in dev if chars(t)}
    word_runs = {run: (f, t) for f, t in dev for run in runs(words(t), WORD_RUN)}
    char_runs = {run: (f, t) for f, t in dev if HAN.search(t) for run in runs(chars(t), CHAR_RUN)}
    leaks = []
    for where, line in data_lines():
        hit = whole.get(chars(example_text(line)))
        if hit is None:
            hit = next((word_runs[r] for r in runs(words(line), WORD_RUN) if r in word_runs), None)
        if hit is None and HAN.search(line):
            hit = next((char_runs[r] for r in runs(chars(line), CHAR_RUN) if r in char_runs), None)
        if hit is not None:
            leaks.append(f"{where} repeats a row of {hit[0]}")
    assert not leaks, "evaluation text in data/ (remove it; never train on the dev sets):\n" + "\n".join(leaks[:50])
