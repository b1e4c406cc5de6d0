"""bot/clarification.py: what is offered and how a reply is read."""

from __future__ import annotations

from bot.clarification import DECLINED, candidates, clarification_rules, needs_confirmation, read_choice


def _parse(top: str, confidence: float, *ranking: tuple[str, float]) -> dict[str, object]:
    return {
        "intent": {"name": top, "confidence": confidence},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
    }


def test_a_message_not_understood_offers_the_likeliest_requests_only() -> None:
    parse = _parse(
        "nlu_fallback",
        0.7,
        ("nlu_fallback", 0.7),
        ("greet", 0.5),  # not a request: never offered
        ("request_payment_plan", 0.32),
        ("dispute_debt", 0.2),
        ("ask_balance", 0.18),
        ("opt_out", 0.05),  # below the floor
    )
    assert candidates(parse) == ["request_payment_plan", "dispute_debt"]
    assert candidates(_parse("nlu_fallback", 0.9, ("nlu_fallback", 0.9), ("opt_out", 0.05))) == []


def test_an_act_read_with_too_little_confidence_is_confirmed() -> None:
    threshold = clarification_rules().act_threshold
    assert needs_confirmation(_parse("dispute_debt", threshold - 0.01)) == "dispute_debt"
    assert needs_confirmation(_parse("dispute_debt", threshold)) is None
    assert needs_confirmation(_parse("ask_balance", 0.3)) is None  # asking the balance changes nothing
    assert candidates(_parse("cease_contact", 0.5)) == ["cease_contact"]
    assert candidates(_parse("cease_contact", 0.99)) == []


def test_replies_pick_by_number_word_or_yes_and_anything_else_is_a_new_message() -> None:
    two = ["request_payment_plan", "dispute_debt"]
    for text, intent, expected in [
        ("1", "nlu_fallback", 0),
        ("2.", "nlu_fallback", 1),
        ("#2", "nlu_fallback", 1),
        ("option 1", "nlu_fallback", 0),
        ("the second one", "nlu_fallback", 1),
        ("first", "nlu_fallback", 0),
        ("two", "nlu_fallback", 1),
        ("第二个", "nlu_fallback", 1),
        ("3", "nlu_fallback", None),  # not one of the choices
        ("no", "deny", DECLINED),
        ("yes", "affirm", None),  # yes to two choices says nothing
        ("i dispute it", "dispute_debt", 1),
        ("whats my balance", "ask_balance", None),
    ]:
        assert read_choice(text, intent, two) == expected, text
    assert read_choice("yeah", "affirm", ["dispute_debt"]) == 0
    assert read_choice("no i didnt say that", "deny", ["dispute_debt"]) == DECLINED
    assert read_choice("1", None, []) is None


def test_a_regular_amount_between_promise_and_plan_needs_no_question_once_verified() -> None:
    from bot.clarification import answered_as_offer

    ranking = [
        {"name": "nlu_fallback", "confidence": 0.6},
        {"name": "promise_to_pay", "confidence": 0.51},
        {"name": "request_payment_plan", "confidence": 0.48},
    ]
    parse = {"text": "can i do 40 every other friday", "intent": ranking[0], "intent_ranking": ranking}
    assert answered_as_offer(parse, verified=True)
    assert not answered_as_offer(parse, verified=False)  # no plan talk before right-party contact
    assert not answered_as_offer({**parse, "text": "can i do 40 on friday"}, verified=True)  # a one-off: ask
    disputed = [ranking[0], ranking[1], {"name": "dispute_debt", "confidence": 0.4}]
    assert not answered_as_offer({**parse, "intent_ranking": disputed}, verified=True)


def test_emoji_alone_offer_no_choice_and_mean_yes_or_no_only_when_the_table_says() -> None:
    from bot.clarification import candidates, has_words, read_choice
    from bot.emoji import emoji_intent

    ranking = [{"name": "nlu_fallback", "confidence": 0.6}, {"name": "abusive", "confidence": 0.31}]
    parse = {"text": "😭😭🙏", "intent": ranking[0], "intent_ranking": ranking}
    assert not has_words("😭😭🙏") and has_words("我") and has_words("a 😭")
    assert candidates(parse) == []
    assert read_choice("yes", "affirm", candidates(parse)) is None  # a yes then is not an answer
    assert [emoji_intent(t) for t in ("👍", "👍🏽 👍", "✅", "👎", "❌")] == ["affirm"] * 3 + ["deny"] * 2
    assert [emoji_intent(t) for t in ("😭", "👍👎", "ok 👍", "")] == [None] * 4
