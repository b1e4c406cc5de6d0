"""The hardship and vulnerability classifier over the project's exemplar bank."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from bot.hardship import HARDSHIP_TYPES, HardshipClassifier, default_classifier, load_exemplars
from scripts.services import ROOT

CRISIS_FILE = ROOT / "tests" / "nlu" / "crisis_messages.yml"


@pytest.fixture(scope="module")
def classifier() -> HardshipClassifier:
    return default_classifier()


def test_exemplar_bank_covers_every_type() -> None:
    counts = Counter(e.type for e in load_exemplars())
    assert all(counts[t] >= 20 for t in HARDSHIP_TYPES), counts
    vulnerabilities = Counter(e.vulnerability for e in load_exemplars() if e.vulnerable)
    assert vulnerabilities["crisis"] >= 20 and vulnerabilities["difficulty_understanding"] >= 10


def test_leave_one_out_type_accuracy(classifier: HardshipClassifier) -> None:
    """Each exemplar classified by the others: how well the bank generalises."""
    right = sum(
        (classifier.classify(e.text, exclude=i).type or "none") == e.type for i, e in enumerate(classifier.exemplars)
    )
    accuracy = right / len(classifier.exemplars)
    print(f"leave-one-out hardship type accuracy: {right}/{len(classifier.exemplars)} = {accuracy:.3f}")
    assert accuracy >= 0.75


@pytest.mark.parametrize(
    ("text", "hardship_type", "duration"),
    [
        ("lost my job, can I do 50 a month", "job_loss", None),
        ("my hours got cut in half at the warehouse", "reduced_income", None),
        ("im in hospital having surgery next week", "medical", None),
        ("my wife passed away in march and money is tight", "bereavement", None),
        ("going through a divorce and he took the savings", "relationship_breakdown", None),
        ("the flood wrecked our ground floor and we're in a motel", "disaster", None),
        ("i'm deployed overseas until june", "military", "temporary"),
        ("i was made redundant and i'm permanently disabled now", None, "lasting"),
    ],
)
def test_examples(classifier: HardshipClassifier, text: str, hardship_type: str | None, duration: str | None) -> None:
    result = classifier.classify(text)
    if hardship_type:
        assert result.type == hardship_type, result
    else:
        assert result.type is not None, result
    if duration:
        assert result.duration == duration, result
    assert result.evidence and result.evidence[0].similarity >= result.evidence[-1].similarity


@pytest.mark.parametrize(
    ("text", "hardship_type"),
    [
        (
            "I have a question about the fees on this account. The statement from October shows a late charge and an "
            "interest charge on the same day. I paid the September amount on time through my bank and I have the "
            "confirmation. I was off work for six weeks after my knee surgery so October was late. Why are there two "
            "charges?",
            "medical",
        ),
        (
            "Hi, this is about the loan ending 4471. I've been trying to log in to the app to see the schedule and it "
            "keeps saying my password is wrong. I reset it twice. My partner and I split up in August and I'm renting "
            "a room on my own now. Can you send me the payment dates by text instead?",
            "relationship_breakdown",
        ),
    ],
)
def test_a_hardship_told_in_passing_in_a_long_message(
    classifier: HardshipClassifier, text: str, hardship_type: str
) -> None:
    # read whole, the other sentences drown it (none at 0.52 and 0.81): the sentence that tells it decides
    assert classifier.classify(text).type == hardship_type


def test_no_hardship_in_ordinary_messages(classifier: HardshipClassifier) -> None:
    for text in ["how much do i owe", "i can pay 200 on friday", "what's the best way to pay", "ok thanks bye"]:
        result = classifier.classify(text)
        assert result.type is None and not result.crisis, (text, result)


def test_vulnerability_without_crisis(classifier: HardshipClassifier) -> None:
    result = classifier.classify("i have dementia and i dont understand these letters")
    assert result.vulnerable and result.vulnerability == "difficulty_understanding" and not result.crisis, result


@pytest.mark.parametrize(
    "text",
    [
        "I lost my job",
        "i lost my job",
        "lost my job last week",
        "i was made redundant last month",
        "I got laid off",  # was a crisis alarm: nearest "since i got laid off i been thinkin bout ending things"
        "got laid off",
    ],
)
def test_a_plain_job_loss_is_not_vulnerability(classifier: HardshipClassifier, text: str) -> None:
    # the nearest exemplar mixes job loss with depression; the message itself says nothing of it
    result = classifier.classify(text)
    assert result.type == "job_loss" and not result.vulnerable and result.vulnerability is None, result
    assert not result.crisis, result


@pytest.mark.parametrize(
    ("text", "vulnerability"),
    [
        ("since I lost my job I've been really depressed", "mental_health"),
        ("my husband died last month", "bereavement"),
        ("i have cancer and im on chemo", "serious_illness"),
    ],
)
def test_vulnerability_stated_in_the_message(classifier: HardshipClassifier, text: str, vulnerability: str) -> None:
    result = classifier.classify(text)
    assert result.vulnerable and result.vulnerability == vulnerability and not result.crisis, result


def test_every_crisis_message_is_flagged(classifier: HardshipClassifier) -> None:
    data = yaml.safe_load(CRISIS_FILE.read_text())
    missed = [m for m in data["messages"] if not classifier.classify(m).crisis]
    assert not missed, f"crisis language missed: {missed}"
    false_alarms = [m for m in data["not_crisis"] if classifier.classify(m).crisis]
    print(
        f"crisis: {len(data['messages'])} flagged of {len(data['messages'])}; false alarms {len(false_alarms)}/{len(data['not_crisis'])}: {false_alarms}"
    )
    # a false alarm costs a person's attention; a miss could cost a life
    assert len(false_alarms) <= len(data["not_crisis"]) // 3
