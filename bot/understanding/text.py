"""Text helpers for mixed Chinese and English messages.

Chinese has no spaces between words: runs of Han characters are segmented with ``jieba``
(0.42.1, its bundled dictionary; nothing is downloaded); everything else is split as words.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from typing import Any

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_lock = threading.Lock()
_jieba: Any = None


def han_ratio(text: str) -> float:
    """Share of Han characters among the letters and Han characters of ``text`` (0.0 when none)."""
    han = len(HAN.findall(text))
    letters = sum(ch.isalpha() for ch in text)
    return han / letters if letters else 0.0


def _segmenter() -> Any:
    global _jieba
    with _lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


@lru_cache(maxsize=4096)
def segment_han(run: str) -> tuple[tuple[str, int, int], ...]:
    """Words of a run of Han characters: (word, start, end) offsets within ``run``."""
    return tuple((w, s, e) for w, s, e in _segmenter().tokenize(run) if w.strip())


def split_han(text: str, offset: int = 0) -> list[tuple[str, int, int]]:
    """``text`` cut into pieces at Han words: the Han runs segmented with jieba, the rest kept as
    it is; (piece, start, end) with ``offset`` added to the offsets. Text without Han characters
    comes back as one piece."""
    if not HAN.search(text):
        return [(text, offset, offset + len(text))]
    out: list[tuple[str, int, int]] = []
    last = 0
    for match in HAN_RUN.finditer(text):
        if match.start() > last:
            out.append((text[last : match.start()], offset + last, offset + match.start()))
        for word, s, e in segment_han(match.group()):
            out.append((word, offset + match.start() + s, offset + match.start() + e))
        last = match.end()
    if last < len(text):
        out.append((text[last:], offset + last, offset + len(text)))
    return out


WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``: Latin words and numbers as written, Han runs segmented."""
    out: list[str] = []
    for piece, _, _ in split_han(text.lower()):
        if HAN.search(piece):
            out.append(piece)
        else:
            out.extend(WORD.findall(piece))
    return out
