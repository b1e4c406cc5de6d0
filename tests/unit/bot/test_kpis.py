"""KPI core, CSAT rating parser and review-queue labelling, without servers."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.compliance.lint import lint
from bot.compliance.profiles import all_profiles
from bot.kpis import (
    Promise,
    compute,
    conversations_from_tracker,
    low_confidence_messages,
    parse_rating,
    parse_since,
    segment_for,
    split_sessions,
)
from bot.nlu_review import LabelError, append_example, intents_by_file
from scripts.services import ROOT

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "score"),
    [("5", 5), (" 4 ", 4), ("five", 5), ("Three.", 3), ("5/5", 5), ("2 stars", 2), ("one!", 1), ("4 out of 5", 4)],
)
def test_ratings_typed_or_spoken(text: str, score: int) -> None:
    assert parse_rating(text) == score


@pytest.mark.parametrize("text", ["6", "0", "", "I'd say 5 maybe", "50", "5 on friday", "4821", "fifty", None])
def test_not_a_rating(text: str | None) -> None:
    assert parse_rating(text) is None


class Events:
    """Builds tracker events the way Rasa stores them, one second apart."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start.timestamp()
        self.events: list[dict[str, Any]] = []

    def _add(self, event: dict[str, Any]) -> Events:
        self.t += 1
        self.events.append({**event, "timestamp": self.t})
        return self

    def session(self) -> Events:
        self._add({"event": "action", "name": "action_session_start"})
        return self._add({"event": "session_started"})

    def user(self, text: str, intent: str, confidence: float = 0.95, channel: str = "rest") -> Events:
        ranking = [{"name": intent, "confidence": confidence}, {"name": "greet", "confidence": 0.01}]
        if intent == "nlu_fallback":
            ranking = [
                {"name": "nlu_fallback", "confidence": 0.7},
                {"name": "promise_to_pay", "confidence": confidence},
            ]
        parse = {"intent": {"name": intent, "confidence": confidence}, "intent_ranking": ranking, "text": text}
        return self._add({"event": "user", "text": text, "parse_data": parse, "input_channel": channel})

    def action(self, name: str) -> Events:
        return self._add({"event": "action", "name": name})

    def slot(self, name: str, value: Any) -> Events:
        return self._add({"event": "slot", "name": name, "value": value})

    def wait(self, seconds: float) -> Events:
        self.t += seconds
        return self


def _verified(e: Events, account: str) -> Events:
    return e.user("A-1", "verify_identity").slot("account_id", account).slot("identity_verified", True)


def test_conversation_reduction_and_sessions() -> None:
    e = Events().session()
    _verified(e, "A-1001").user("hmm blorp", "nlu_fallback", 0.3).action("utter_default")
    e.user("bye", "goodbye").action("action_end_conversation").slot("identity_verified", False).slot("csat_asked", True)
    e.user("5", "nlu_fallback", 0.2).action("action_record_csat").slot("csat_score", 5.0)
    e.wait(7200).session().user("get a person", "request_human", channel="twilio_sms").action("action_request_human")
    conversations = conversations_from_tracker("s1", {"events": e.events})
    assert len(split_sessions(e.events)) == 2 and len(conversations) == 2
    first, second = conversations
    assert (first.rpc, first.account_id, first.csat, first.fallbacks, len(first.messages)) == (True, "A-1001", 5, 1, 4)
    assert first.handoff_reasons == () and first.channel == "rest"
    assert (second.rpc, second.handoff_reasons, second.channel) == (False, ("requested",), "twilio_sms")
    assert second.day == (T0 + timedelta(hours=2)).date()


def test_junk_sessions_are_idle_not_contained_and_clarifications_are_fallback_turns() -> None:
    """An emoji, a 3,000-character paste nobody could read, a "did you mean" question that led
    nowhere: nothing understood or done, so the conversation is idle and not contained. A "did you
    mean" question about a message not understood is a fallback turn; a question that confirms an
    understood act before recording it is not."""
    trackers = {
        "emoji": Events().session().user("🙂🙂", "nlu_fallback", 0.1).action("utter_default"),
        "paste": Events().session().user("lorem ipsum " * 250, "nlu_fallback", 0.2).action("action_ask_clarification"),
        "asked": Events()
        .session()
        .user("the thing", "nlu_fallback", 0.3)
        .action("action_ask_clarification")
        .user("??", "nlu_fallback", 0.1)
        .action("utter_default"),
        "punctuation": Events().session().user("?!?! ;;", "out_of_scope", 0.8).action("utter_out_of_scope"),
        "balance": _verified(Events().session(), "A-1").user("how much", "ask_balance").action("action_balance"),
        "confirmed": _verified(Events().session(), "A-2")
        .user("this isnt mine", "dispute_debt", 0.6)
        .action("action_ask_clarification")
        .user("yes", "affirm")
        .action("action_resolve_clarification")
        .slot("handoff_reason", "dispute"),
    }
    found = {s: c for s, e in trackers.items() for c in conversations_from_tracker(s, {"events": e.events})}
    # "out of scope" is no understood request either, though not a fallback turn
    assert {s for s, c in found.items() if c.idle} == {"emoji", "paste", "asked", "punctuation"}
    assert {s: c.fallbacks for s, c in found.items()} == {
        "emoji": 1,
        "paste": 1,
        "asked": 2,
        "punctuation": 0,
        "balance": 0,
        "confirmed": 0,  # a confirmation of an understood dispute is not "didn't understand"
    }
    total = compute(list(found.values()))[-1]
    assert (total.conversations, total.idle, total.handoffs) == (6, 4, 1)
    assert total.containment_rate == pytest.approx(1 / 6)  # only "balance": the junk adds nothing
    assert total.fallback_rate == pytest.approx(4 / 10)
    # the same junk after a verified balance question is not idle: something was done
    mixed = _verified(Events().session(), "A-3").user("🙂", "nlu_fallback", 0.1).action("utter_default")
    [conversation] = conversations_from_tracker("m", {"events": mixed.events})
    assert not conversation.idle and compute([conversation])[-1].containment_rate == 1.0


def test_an_outreach_nobody_answered_is_not_a_conversation() -> None:
    # the outreach SMS is triggered as an EXTERNAL_ intent: no reply, no conversation to contain
    unanswered = Events().session().user("", "EXTERNAL_outreach", 1.0, channel="").action("action_outreach_message")
    assert conversations_from_tracker("s1", {"events": unanswered.events}) == []
    answered = Events().session().user("", "EXTERNAL_outreach", 1.0, channel="").action("action_outreach_message")
    answered.user("get a person", "request_human", channel="twilio_sms").action("action_request_human")
    [conversation] = conversations_from_tracker("s2", {"events": answered.events})
    assert (len(conversation.messages), conversation.channel) == (1, "twilio_sms")
    assert compute([conversation])[-1].containment_rate == 0.0


def test_rates_by_channel_and_promises() -> None:
    trackers = {
        "a": _verified(Events().session(), "A-1").action("action_record_ptp"),
        "b": _verified(Events().session(), "A-2").slot("handoff_reason", "dispute"),
        "c": Events().session().user("stop", "opt_out", channel="twilio_sms").action("action_opt_out"),
        "d": _verified(Events().session(), "A-3").action("action_offer_plans").slot("arrangement_id", 7),
        "e": Events().session(),  # no user message: not a conversation
    }
    conversations = [c for s, e in trackers.items() for c in conversations_from_tracker(s, {"events": e.events})]
    assert len(conversations) == 4
    promises = [
        Promise("a", conversations[0].ended_at, "kept"),
        Promise("a", conversations[0].ended_at, "broken"),
        Promise("zz", conversations[0].ended_at, "kept"),  # another sender's: not counted
        Promise("b", conversations[1].started_at - timedelta(days=1), "kept"),  # before the conversation
    ]
    rows = compute(conversations, promises, by="channel")
    assert [r.group for r in rows] == ["rest", "twilio_sms", "total"]
    total = rows[-1]
    assert (total.conversations, total.rpc, total.handoffs, total.ptp, total.opt_outs) == (4, 3, 1, 1, 1)
    assert total.rpc_rate == 0.75 and total.containment_rate == 0.75 and total.handoff_rate == 0.25
    assert total.ptp_rate == pytest.approx(1 / 3) and total.kept_ptp_rate == 0.5
    assert total.arrangement_acceptance == 1.0 and total.opt_out_rate == 0.25
    assert total.handoff_reasons == {"dispute": 1} and total.csat is None
    assert rows[1].conversations == 1 and rows[1].opt_out_rate == 1.0 and rows[1].rpc_rate == 0.0
    segments = {"A-1": segment_for(12), "A-2": segment_for(95)}
    by_segment = {r.group: r.conversations for r in compute(conversations, by="segment", segments=segments)}
    assert by_segment == {"DPD 1-30": 1, "DPD 90+": 1, "unlinked": 2, "total": 4}
    with pytest.raises(ValueError, match="unknown grouping"):
        compute(conversations, by="weekday")


def test_review_queue_picks_unsure_messages() -> None:
    e = Events().session().user("blorp", "nlu_fallback", 0.4).user("i cn pay sum", "promise_to_pay", 0.55)
    e.user("hi", "greet", 0.99)
    # identity answers are not for the review queue (nor for the NLU data it writes to)
    e.user("12 april 1985", "nlu_fallback", 0.3).user("its +1 617 555 0101", "verify_identity", 0.4)
    e.user("ref A-1001", "verify_identity", 0.5)
    conversations = conversations_from_tracker("s", {"events": e.events})
    queue = low_confidence_messages(conversations, 0.7)
    assert [m.text for m in queue] == ["i cn pay sum", "blorp"]
    assert queue[1].best_guess() == "promise_to_pay"
    assert low_confidence_messages(conversations, 0.7, exclude=[queue[0].key]) == [queue[1]]


def test_since_forms() -> None:
    now = T0
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="7d"):
        parse_since("last week", now)


def test_csat_responses_pass_the_lint() -> None:
    responses = yaml.safe_load((ROOT / "bot/domain/csat.yml").read_text())["responses"]
    texts = [(name, v["text"]) for name, variants in responses.items() for v in variants]
    for profile in all_profiles():
        for channel in ("webchat", "sms"):
            bad = [(name, v.rule) for name, text in texts for v in lint(text, profile, channel).violations]
            assert not [b for b in bad if b[1] != "sms_opt_out_footer"], (profile.jurisdiction, bad)


@pytest.fixture
def nlu_copy(tmp_path: Path) -> Path:
    target = tmp_path / "nlu"
    shutil.copytree(ROOT / "data" / "nlu", target)
    return target


def test_label_appends_one_line_to_the_file_holding_the_intent(nlu_copy: Path) -> None:
    before = {p.name: p.read_text() for p in nlu_copy.glob("*.yml")}
    path = append_example("promise_to_pay", "  i cn send  u 40 bucks thurs ", nlu_copy)
    assert path == intents_by_file(nlu_copy)["promise_to_pay"] == nlu_copy / "payment.yml"
    after = path.read_text().splitlines()
    old = before["payment.yml"].splitlines()
    added = [line for line in after if line not in old]
    assert added == ["    - i cn send u 40 bucks thurs"] and len(after) == len(old) + 1
    data = yaml.safe_load(path.read_text())
    block = next(b for b in data["nlu"] if b["intent"] == "promise_to_pay")
    assert block["examples"].splitlines()[-1] == "- i cn send u 40 bucks thurs"
    assert all(p.read_text() == before[p.name] for p in nlu_copy.glob("*.yml") if p != path)


def test_label_refuses_what_rasa_would_reject(nlu_copy: Path) -> None:
    before = {p.name: p.read_text() for p in nlu_copy.glob("*.yml")}
    with pytest.raises(LabelError, match="already an example of 'greet'"):
        append_example("goodbye", "HI", nlu_copy)
    with pytest.raises(LabelError, match="square brackets"):
        append_example("promise_to_pay", "pay [50](amount)", nlu_copy)
    with pytest.raises(LabelError, match="no file"):
        append_example("no_such_intent", "hello", nlu_copy)
    with pytest.raises(LabelError, match="empty"):
        append_example("greet", "   ", nlu_copy)
    assert {p.name: p.read_text() for p in nlu_copy.glob("*.yml")} == before
