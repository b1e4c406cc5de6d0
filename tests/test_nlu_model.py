"""The trained NLU model on held-out data (tests/nlu/, never trained on)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.safety_policy import crisis_rule
from scripts import tune_fallback
from scripts.services import ROOT


@pytest.fixture(scope="module")
def predictions(model: Path) -> list[tune_fallback.Prediction]:
    return tune_fallback.predict(model, tune_fallback.held_out_examples())


@pytest.fixture(scope="module")
def parse(model: Path) -> Any:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return lambda text: asyncio.run(agent.parse_message(text))


def _config_threshold() -> float:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    return float(next(c for c in config["pipeline"] if c["name"] == "FallbackClassifier")["threshold"])


def test_clauses_are_read_again_below_the_fallback_threshold() -> None:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    intents = next(c for c in config["pipeline"] if c["name"].endswith("EmbeddingIntentClassifier"))
    assert intents["clause_threshold"] == _config_threshold()


def test_held_out_intent_accuracy(predictions: list[tune_fallback.Prediction]) -> None:
    right = sum(p.predicted == p.truth for p in predictions)
    wrong = [(p.text, p.truth, p.predicted) for p in predictions if p.predicted != p.truth]
    print(f"held-out accuracy {right}/{len(predictions)}; errors: {wrong}")
    assert right / len(predictions) >= 0.80


def test_fallback_threshold_is_the_tuned_one(predictions: list[tune_fallback.Prediction]) -> None:
    rows = tune_fallback.sweep(predictions)
    top = tune_fallback.best(rows)["score"]
    configured = next(r for r in rows if r["threshold"] == _config_threshold())
    print(f"configured {configured}; best score {top}")
    assert configured["score"] >= top - 0.02, "re-run scripts/tune_fallback.py and update config.yml"


def test_crisis_language_is_never_missed(parse: Any) -> None:
    messages = yaml.safe_load((ROOT / "tests" / "nlu" / "crisis_messages.yml").read_text())["messages"]
    missed = [m for m in messages if not crisis_rule().matches(parse(m))]
    assert not missed


def test_keyword_alone_does_not_trigger_the_intent(parse: Any) -> None:
    assert parse("I can't stop worrying about this bill")["intent"]["name"] != "opt_out"
    assert parse("im dying to get this paid off")["intent"]["name"] != "deceased"
    assert parse("my lawyer friend said i should ask for a payment plan")["intent"]["name"] != "attorney_representation"


def test_hardship_rides_inside_another_intent(parse: Any) -> None:
    result = parse("lost my job, can I do 50 a month")
    assert result["intent"]["name"] == "request_payment_plan"
    assert result["hardship"]["type"] == "job_loss"
    entities = {e["entity"]: e["value"] for e in result["entities"]}
    assert entities["amount"] == {"amount": "50.00", "currency": "USD"}
    assert entities["recurrence"]["freq"] == "monthly"
    assert entities["hardship_type"] == "job_loss"


def test_money_and_date_entities(parse: Any) -> None:
    result = parse("i can pay 1,250.00 on the 15th")
    kinds = {e["entity"] for e in result["entities"]}
    assert {"amount", "date"} <= kinds
    assert not kinds & {"MONEY", "DATE", "CARDINAL"}, "raw spaCy labels are replaced by normalised entities"
    assert next(e["value"] for e in result["entities"] if e["entity"] == "amount") == {
        "amount": "1250.00",
        "currency": "USD",
    }
