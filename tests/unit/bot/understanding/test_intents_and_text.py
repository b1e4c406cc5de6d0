"""The plain-Python core of the NLU: Chinese segmentation and the intent model (no encoder needed:
the embeddings here are made up)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.understanding.clauses import clauses
from bot.understanding.intents import (
    IntentModel,
    IntentSettings,
    clause_ranking,
    features,
    fit_temperature,
    train,
)
from bot.understanding.text import han_ratio, split_han, words


def test_han_runs_are_segmented_and_offsets_kept() -> None:
    text = "hi 我下个月才能还款, ok?"
    pieces = split_han(text)
    assert all(text[s:e] == p for p, s, e in pieces)
    assert "".join(p for p, _, _ in pieces) == text
    assert ("还款", text.index("还款"), text.index("还款") + 2) in pieces
    assert split_han("no chinese here") == [("no chinese here", 0, 15)]


def test_words_mix_latin_and_chinese() -> None:
    assert words("I can't pay 下个月 OK") == ["i", "can't", "pay", "下个月", "ok"]
    assert han_ratio("你好") == 1.0 and han_ratio("hello") == 0.0 and han_ratio("123") == 0.0


def test_features_are_char_and_word_ngrams() -> None:
    got = features("pay now", IntentSettings(char_ngrams=(2, 3), word_ngrams=2))
    assert "c: p" in got and "c:ow " in got and "w:pay" in got and "w:pay now" in got


def _toy() -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    centres = {"greet": np.eye(8)[0], "goodbye": np.eye(8)[1], "ask_balance": np.eye(8)[2]}
    phrases = {
        "greet": ["hello there", "hi", "good morning"],
        "goodbye": ["bye now", "see you", "goodbye"],
        "ask_balance": ["how much do i owe", "what is my balance", "balance please"],
    }
    texts, vectors, labels = [], [], []
    for label, items in phrases.items():
        for _ in range(4):
            for text in items:
                texts.append(text)
                vectors.append(centres[label] + 0.1 * rng.standard_normal(8))
                labels.append(label)
    return texts, np.array(vectors), labels


@pytest.mark.parametrize("sparse_weight", [0.0, 0.5])
def test_intent_model_learns_and_survives_storage(sparse_weight: float) -> None:
    texts, vectors, labels = _toy()
    model = train(texts, vectors, labels, IntentSettings(sparse_weight=sparse_weight, min_df=1, calibration_folds=3))
    probs = model.predict(texts, vectors)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert [model.labels[i] for i in probs.argmax(axis=1)] == labels
    assert model.temperature > 0
    meta, arrays = model.to_arrays()
    again = IntentModel.from_arrays(meta, arrays)
    assert np.allclose(again.predict(texts, vectors), probs)
    ranking = again.ranking("how much do i owe", vectors[labels.index("ask_balance")], length=2)
    assert ranking[0][0] == "ask_balance" and len(ranking) == 2 and ranking[0][1] >= ranking[1][1]


def test_two_labels_give_two_columns() -> None:
    texts, vectors, labels = _toy()
    binary = ["yes" if label == "greet" else "no" for label in labels]
    model = train(texts, vectors, binary, IntentSettings(sparse_weight=0.5, min_df=1, calibration_folds=0))
    probs = model.predict(texts, vectors)
    assert probs.shape == (len(texts), 2)
    assert [model.labels[i] for i in probs.argmax(axis=1)] == binary


def test_temperature_sharpens_underconfident_scores() -> None:
    y = np.array([0, 1, 0, 1] * 10)
    scores = np.where(np.eye(2)[y] > 0, 0.5, -0.5)  # always right, but softmax gives only 0.73
    assert fit_temperature(scores, y) < 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hi. my hours got cut in march. can we do 40 a month?",
            ["my hours got cut in march.", "can we do 40 a month?"],
        ),
        ("sorry about that\nwhat do i owe now", ["sorry about that", "what do i owe now"]),
        ("can we do 40 a month, my hours got cut", []),  # one English sentence: read whole
        ("ok. fine.", []),
        ("你好，我最近被裁员了，能不能分期还", ["我最近被裁员了", "能不能分期还"]),
        ("喂 我老公住院了 这个月真的还不上", ["我老公住院了", "这个月真的还不上"]),
        ("", []),
    ],
)
def test_clauses_where_the_writer_ended_one(text: str, expected: list[str]) -> None:
    assert clauses(text) == expected


def _clause_case() -> tuple[IntentModel, dict[str, np.ndarray]]:
    texts, vectors, labels = _toy()
    model = train(texts, vectors, labels, IntentSettings(sparse_weight=0.0, calibration_folds=0))
    eye = np.eye(8)
    vectors_by_text = {
        "what is my balance.": eye[2],
        "good morning to you.": eye[0],
        "see you later then.": eye[1],
        "well i was wondering, you know.": 0.4 * eye[2] + 0.35 * eye[1],
    }
    return model, vectors_by_text


def _encoder(table: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    return lambda texts: np.stack([table[t] for t in texts])


def test_a_clause_that_leans_the_same_way_raises_a_long_message_over_the_threshold() -> None:
    model, table = _clause_case()
    text = "well i was wondering, you know. what is my balance."
    whole = 0.4 * np.eye(8)[2] + 0.35 * np.eye(8)[1]
    before = model.ranking(text, whole)
    assert before[0][0] == "ask_balance" and before[0][1] < 0.6
    clause = model.ranking("what is my balance.", table["what is my balance."])[0][1]
    after = clause_ranking(model, text, whole, 0.6, _encoder(table))
    assert after[0] == ("ask_balance", pytest.approx((before[0][1] + clause) / 2))
    assert after[0][1] >= 0.6
    assert after[1:] == before[1:]


def test_clauses_never_bring_in_another_intent_nor_raise_a_framing_one() -> None:
    model, table = _clause_case()
    whole = 0.4 * np.eye(8)[2] + 0.35 * np.eye(8)[1]
    # the confident clause is a greeting, the message leans to the balance: nothing changes
    text = "good morning to you. well i was wondering, you know."
    assert clause_ranking(model, text, whole, 0.6, _encoder(table)) == model.ranking(text, whole)
    # the message leans to a goodbye, framing: never raised whatever its clauses say
    bye = 0.35 * np.eye(8)[2] + 0.4 * np.eye(8)[1]
    text = "what is my balance. see you later then."
    assert clause_ranking(model, text, bye, 0.6, _encoder(table))[0][1] >= 0.6
    assert clause_ranking(model, text, bye, 0.6, _encoder(table), framing={"goodbye"}) == model.ranking(text, bye)
    # a confident or one-clause message is read whole, without embedding anything
    assert clause_ranking(model, "what is my balance", np.eye(8)[2], 0.6, _encoder({})) == model.ranking(
        "what is my balance", np.eye(8)[2]
    )


def test_han_text_cut_at_sentence_ends_only_when_asked() -> None:
    assert clauses("我上个月被裁员了，现在还没找到工作。能不能先停两个月", han_commas=False) == [
        "我上个月被裁员了，现在还没找到工作。",
        "能不能先停两个月",
    ]
