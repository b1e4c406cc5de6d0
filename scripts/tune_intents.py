"""Compare sentence encoders and intent-model settings on the shared dev sets, without Rasa.

Trains :mod:`bot.understanding.intents` on the NLU training data (``data/nlu/**/*.yml``, what
``rasa train`` reads) for each encoder and setting, and prints one JSON line per run: top-1
intent accuracy on the English and Chinese dev sets and on ``tests/nlu/held_out.yml``, and, at
the threshold with the lowest cost on each set (a wrong accepted intent costs ``--wrong-cost``
times a question), the shares accepted right, accepted wrong and asked again. Also the encoder's
mean time per message on one thread. The dev sets choose settings only; they are never trained on.

    .venv/bin/python -m scripts.tune_intents --encoders multilingual-e5-small,use-multilingual-v3 \\
        --grid '{"sparse_weight": [0, 0.5], "dense_c": [10]}'
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scripts.eval_nlu import HELD_OUT, read_held_out, read_jsonl, shared_data
from scripts.services import ROOT

CACHE = ROOT / ".cache" / "embeddings"


def training_examples(folder: Path = ROOT / "data" / "nlu") -> list[tuple[str, str]]:
    """(text, intent) of every intent example under ``folder`` (recursively)."""
    out = []
    for path in sorted(folder.rglob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" in block:
                for line in str(block.get("examples") or "").splitlines():
                    if line.strip().startswith("- "):
                        out.append((line.strip()[2:].strip(), block["intent"]))
    return out


def embed(encoder: str, texts: list[str]) -> np.ndarray[Any, Any]:
    """Embeddings of ``texts``, cached on disk per encoder and text list."""
    from bot.embeddings import encode

    digest = hashlib.sha256(("\n".join([encoder, *texts])).encode()).hexdigest()[:20]
    path = CACHE / f"{encoder}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = encode(texts, encoder)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def ms_per_message(encoder: str, texts: list[str]) -> float:
    """Mean CPU milliseconds to embed one message at a time (the first call, a warm-up, not counted);
    run with OMP_NUM_THREADS=1 for one thread."""
    from bot.embeddings import encode

    encode(texts[:1], encoder, memo=False)
    started = time.process_time()
    for text in texts:
        encode([text], encoder, memo=False)
    return round(1000 * (time.process_time() - started) / len(texts), 1)


def operating_point(
    probs: np.ndarray[Any, Any], labels: list[str], gold: list[str], wrong_cost: float
) -> dict[str, Any]:
    """Top-1 accuracy, and the cheapest threshold on the top probability with its shares."""
    top = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    right = np.array([labels[i] == g for i, g in zip(top, gold, strict=True)])
    best: dict[str, Any] = {}
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        accepted = conf >= t
        row = {
            "threshold": float(t),
            "accepted_right": round(float((right & accepted).mean()), 3),
            "accepted_wrong": round(float((~right & accepted).mean()), 3),
            "fallback": round(float((~accepted).mean()), 3),
        }
        row["cost"] = round(wrong_cost * row["accepted_wrong"] + row["fallback"], 4)
        if not best or row["cost"] < best["cost"]:
            best = row
    return {"top1": round(float(right.mean()), 3), **best}


def main() -> None:
    from bot.understanding.intents import IntentSettings, train

    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--encoders", default="multilingual-e5-small")
    args.add_argument("--grid", default='{"sparse_weight": [0.0, 0.5]}', help="JSON: setting -> list of values")
    args.add_argument("--wrong-cost", type=float, default=3.0)
    args.add_argument("--timing", action="store_true", help="also time each encoder on the English dev set")
    opts = args.parse_args()
    data = shared_data()
    sets = {
        "en_dev": read_jsonl(data / "debtor_messages_dev.jsonl"),
        "zh_dev": read_jsonl(data / "debtor_messages_zh_dev.jsonl"),
        "held_out": read_held_out(HELD_OUT),
    }
    examples = training_examples()
    texts, labels = [t for t, _ in examples], [i for _, i in examples]
    grid = json.loads(opts.grid)
    for encoder in opts.encoders.split(","):
        x_train = embed(encoder, texts)
        x_sets = {name: embed(encoder, [r.text for r in rows]) for name, rows in sets.items()}
        timing = ms_per_message(encoder, [r.text for r in sets["en_dev"]][:100]) if opts.timing else None
        for values in itertools.product(*grid.values()):
            chosen = dict(zip(grid.keys(), values, strict=True))
            if "char_ngrams" in chosen:
                chosen["char_ngrams"] = tuple(chosen["char_ngrams"])
            settings = IntentSettings(**chosen)
            started = time.perf_counter()
            model = train(texts, x_train, labels, settings)
            result: dict[str, Any] = {
                "encoder": encoder,
                "settings": chosen,
                "train_s": round(time.perf_counter() - started, 1),
                "temperature": round(model.temperature, 3),
                "examples": len(texts),
            }
            if timing is not None:
                result["encoder_ms"] = timing
            for name, rows in sets.items():
                probs = model.predict([r.text for r in rows], x_sets[name])
                result[name] = operating_point(probs, model.labels, [r.intent for r in rows], opts.wrong_cost)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
