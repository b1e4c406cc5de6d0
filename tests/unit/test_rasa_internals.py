"""Every reach into Rasa's internals (rasa_internals.py) does what it says on the pinned Rasa, and
the speed-ups change nothing Rasa does: same event classes, same errors, same predictions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.events import ActionExecuted, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

import rasa_internals


def test_cached_event_lookup_matches_rasas_own() -> None:
    rasa_internals.apply()
    for cls in all_subclasses(Event):
        assert Event.resolve_by_type(cls.type_name) is rasa_internals._resolve_by_type(cls.type_name)
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("topic") is None  # Rasa's backwards compatibility
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    event = Event.from_parameters({"event": "user", "text": "hi", "parse_data": {}})
    assert isinstance(event, UserUttered) and event.text == "hi"


def _domain() -> Any:
    from rasa.shared.core.domain import Domain

    return Domain.from_dict(
        {"intents": ["greet"], "responses": {"utter_hi": [{"text": "hi"}], "utter_bye": [{"text": "bye"}]}}
    )


def _prediction(domain: Any, action: str | None, confidence: float, priority: int, **flags: bool) -> Any:
    from rasa.core.policies.policy import PolicyPrediction

    probabilities = [0.0] * domain.num_actions
    if action:
        probabilities[domain.index_for_action(action)] = confidence
    return PolicyPrediction(probabilities, "P", priority, **flags)


def _tracker(*events: Any) -> Any:
    from rasa.shared.core.trackers import DialogueStateTracker

    return DialogueStateTracker.from_events("t", list(events))


def test_ted_is_outranked_only_when_another_policy_wins_for_certain() -> None:
    from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected

    domain = _domain()
    listen = _tracker(ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"}))
    rule = _prediction(domain, "utter_hi", 1.0, priority=6)
    assert rasa_internals.ted_is_outranked([rule], listen, domain, ted_priority=1)
    # a fallback-level or TED-level confidence can be beaten by TED: TED must run
    assert not rasa_internals.ted_is_outranked([_prediction(domain, "utter_hi", 0.3, 6)], listen, domain, 1)
    assert not rasa_internals.ted_is_outranked([_prediction(domain, None, 0.0, 6)], listen, domain, 1)
    # a policy of the same or lower priority than TED does not settle it
    assert not rasa_internals.ted_is_outranked([_prediction(domain, "utter_hi", 1.0, 1)], listen, domain, 1)
    # the ensemble zeroes a just-rejected action in every prediction, so its 1.0 does not count
    rejected = _tracker(ActionExecuted("action_listen"), ActionExecutionRejected("utter_hi"))
    assert not rasa_internals.ted_is_outranked([rule], rejected, domain, 1)
    assert rasa_internals.ted_is_outranked([_prediction(domain, "utter_bye", 1.0, 6)], rejected, domain, 1)
    # no-user (loop happy path) and end-to-end predictions exclude TED's intent-based one outright
    no_user = _prediction(domain, "utter_hi", 0.5, 6, is_no_user_prediction=True)
    assert rasa_internals.ted_is_outranked([no_user], listen, domain, 1)
    e2e = _prediction(domain, "utter_hi", 0.5, 3, is_end_to_end_prediction=True)
    assert rasa_internals.ted_is_outranked([e2e], listen, domain, 1)


def test_ensemble_choice_is_unchanged_when_ted_is_skipped() -> None:
    """Whenever the check says TED is outranked, Rasa's ensemble picks the same action and policy
    with TED's real prediction (any confidences) as with the empty one the patch returns."""
    import random

    from rasa.core.policies.ensemble import DefaultPolicyPredictionEnsemble
    from rasa.core.policies.policy import PolicyPrediction

    domain = _domain()
    tracker = _tracker()
    rng = random.Random(7)
    checked = 0
    for _ in range(2000):
        others = []
        for priority in (9, 6, 3):
            confidence = rng.choice([0.0, 0.3, 0.9, 1.0])
            action = rng.choice(domain.action_names_or_texts)
            others.append(_prediction(domain, action, confidence, priority, is_no_user_prediction=rng.random() < 0.05))
        if not rasa_internals.ted_is_outranked(others, tracker, domain, ted_priority=1):
            continue
        checked += 1
        scores = [rng.random() for _ in range(domain.num_actions)]
        scores[rng.randrange(domain.num_actions)] = rng.choice([1.0, 0.99])
        real_ted = PolicyPrediction(scores, "TEDPolicy", 1)
        empty_ted = PolicyPrediction([0.0] * domain.num_actions, "TEDPolicy", 1)
        ensemble = DefaultPolicyPredictionEnsemble
        with_real = ensemble._pick_best_policy([*others, real_ted])
        with_empty = ensemble._pick_best_policy([*others, empty_ted])
        assert (with_real.policy_name, with_real.max_confidence_index) == (
            with_empty.policy_name,
            with_empty.max_confidence_index,
        )
        assert with_real.policy_priority > 1
    assert checked > 100


def test_the_ner_only_spacy_model_gives_the_same_tokens_and_entities() -> None:
    """policies.spacy_nlp.NERSpacyNLP's model (spaCy's entity recogniser alone) tokenises and finds
    entities as the whole pipeline Rasa's SpacyNLP loads does, on every NLU training text; and the
    document the served pipeline makes (Rasa's patched internals applied) carries the entities that
    SpacyDocEntityExtractor reads."""
    import yaml
    from rasa.nlu.utils.spacy_utils import SpacyNLP
    from rasa.shared.nlu.training_data.loading import load_data

    from policies.spacy_nlp import NERSpacyNLP
    from scripts.services import ROOT

    pipeline = yaml.safe_load((ROOT / "config.yml").read_text())["pipeline"]
    config = next(c for c in pipeline if c["name"].endswith("NERSpacyNLP"))
    full = SpacyNLP.load_model(str(ROOT / config["model"])).model
    lean = NERSpacyNLP.load_model(str(ROOT / config["model"])).model
    assert lean.pipe_names == ["ner"] and "ner" in full.pipe_names
    texts = [
        m.get("text")
        for f in sorted((ROOT / "data" / "nlu").glob("*.yml"))
        for m in load_data(str(f)).training_examples
    ]
    texts += ["Fifty dollars on March 3rd", "I can pay $1,200 by the 15th of June", "TWO HUNDRED next FRIDAY"]
    assert len(texts) > 1000
    for text in texts:
        a, b = full(text), lean(text)
        assert [t.text for t in b] == [t.text for t in a], text
        assert [(e.start_char, e.end_char, e.label_) for e in b.ents] == [
            (e.start_char, e.end_char, e.label_) for e in a.ents
        ], text

    rasa_internals.apply()
    component = NERSpacyNLP(NERSpacyNLP.load_model(str(ROOT / config["model"])), {**config, "case_sensitive": True})
    doc = component._doc_for_text(component.provide().model, "I can pay $50 on March 3rd")
    assert {e.label_ for e in doc.ents} == {"MONEY", "DATE"}


def _sample_events() -> list[dict[str, Any]]:
    """One valid dict of each kind of event an action server sends, as Rasa serialises them."""
    from rasa.shared.core import events as ev

    samples = [
        UserUttered("hi", {"name": "greet", "confidence": 0.9}, [{"entity": "a", "value": 1}], message_id="m"),
        ev.ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
        ev.SlotSet("requested_slot", "date_of_birth"),
        ev.EntitiesAdded([{"entity": "amount", "value": "50"}]),
        ev.ReminderScheduled("remind", __import__("datetime").datetime(2030, 1, 1), name="r"),
        ev.ReminderCancelled(name="r"),
        ev.ActionExecutionRejected("verification_form", policy="P", confidence=0.4),
        ev.LoopInterrupted(True),
        ev.ActiveLoop("verification_form"),
        ev.AllSlotsReset(),
        ev.ConversationResumed(),
        ev.ConversationPaused(),
        ev.FollowupAction("action_listen"),
        ev.StoryExported("x.yml"),
        ev.Restarted(),
        ev.UserUtteranceReverted(),
        ev.ActionReverted(),
        ev.BotUttered("hello", {"buttons": [{"title": "a", "payload": "/a"}]}),
        ev.SessionStarted(),
        ev.AgentUttered("note"),
    ]
    return [e.as_dict() for e in samples]


def test_action_responses_are_refused_exactly_when_rasas_schema_refuses_them() -> None:
    """The per-event-type check accepts and refuses the same responses as Rasa's whole schema,
    over valid events of every kind and random changes to them."""
    from hypothesis import given
    from hypothesis import strategies as st
    from jsonschema import ValidationError, validate
    from rasa.core.actions.action import RemoteAction

    spec = RemoteAction.action_response_format_spec()
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=5,
    )
    names = st.sampled_from(["event", "name", "value", "text", "timestamp", "parse_data", "data", "policy"])

    @st.composite
    def events(draw: Any) -> Any:
        event = dict(draw(st.sampled_from(_sample_events())))
        for _ in range(draw(st.integers(0, 2))):
            key = draw(names | st.sampled_from(sorted(event)))
            if draw(st.booleans()) or key not in event:
                event[key] = draw(json_values | st.sampled_from(["user", "bot", "slot", "nope"]))
            else:
                del event[key]
        return event if draw(st.integers(0, 20)) else draw(json_values)

    responses = st.fixed_dictionaries(
        {"events": st.lists(events(), max_size=4)},
        optional={"responses": st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=2), max_size=2)},
    )

    def refused(check: Any, result: Any) -> bool:
        try:
            check(result)
            return False
        except ValidationError:
            return True

    seen = {True: 0, False: 0}

    @given(responses)
    def agree(result: dict[str, Any]) -> None:
        expected = refused(lambda r: validate(r, spec), result)
        assert refused(lambda r: rasa_internals._validate_action_result(None, r), result) == expected, result
        seen[expected] += 1

    agree()
    assert seen[True] > 20 and seen[False] > 20, seen  # both outcomes were exercised
    assert not refused(lambda r: rasa_internals._validate_action_result(None, r), {"events": _sample_events()})


class _Add:
    """A graph component: its ``n`` plus everything it is given; counts its runs."""

    runs: list[str] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @classmethod
    def create(cls, config: dict[str, Any], *_: Any, **__: Any) -> Any:
        return cls(config)

    def run(self, **kwargs: Any) -> Any:
        _Add.runs.append(self.config["name"])
        if self.config.get("raise"):
            raise self.config["raise"]("node failed")
        return self.config["n"] + sum(kwargs.values())


def test_graph_runs_without_dask_give_dasks_results_and_errors(tmp_path: Any) -> None:
    from rasa.engine.exceptions import GraphComponentException
    from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    class Add(_Add, GraphComponent):  # type: ignore[misc]
        pass

    def node(name: str, n: int, needs: dict[str, str], **extra: Any) -> SchemaNode:
        return SchemaNode(needs, Add, "create", "run", {"name": name, "n": n, **extra})

    schema = GraphSchema(
        {
            "a": node("a", 1, {"x": "__input__"}),
            "b": node("b", 10, {"y": "a"}),
            "c": node("c", 100, {"y": "a", "z": "b"}),
            "unused": node("unused", 0, {"y": "a"}),
            "value_error": node("value_error", 0, {"y": "a"}, **{"raise": ValueError}),
            "runtime_error": node("runtime_error", 0, {"y": "a"}, **{"raise": RuntimeError}),
            "after_error": node("after_error", 0, {"y": "value_error"}),
        }
    )
    runner = DaskGraphRunner(schema, LocalModelStorage(tmp_path), ExecutionContext(schema, "m"))

    def outcome(run: Any, **kwargs: Any) -> Any:
        _Add.runs.clear()
        try:
            result: Any = run(runner, **kwargs)
        except Exception as e:  # the error itself is part of the outcome
            result = (type(e), str(e))
        return result, sorted(_Add.runs)

    cases = [
        {"inputs": {"__input__": 5}, "targets": ["c"]},
        {"inputs": {"__input__": 5}, "targets": ["b", "c"]},
        {"inputs": {"__input__": 5, "a": 1000}, "targets": ["c"]},  # an input replaces a node
        {"inputs": {"__input__": "b"}, "targets": ["c"]},  # an input named like a node
        {"inputs": {"__input__": 5}, "targets": ["value_error"]},
        {"inputs": {"__input__": 5}, "targets": ["runtime_error"]},
        # a replaced node's own needs still run, and their errors still count
        {"inputs": {"__input__": 5, "b": 7}, "targets": ["c"]},
        {"inputs": {"__input__": 5, "after_error": 3}, "targets": ["after_error"]},
        {"inputs": {"__input__": 5, "x": "__input__"}, "targets": ["c"]},  # an input named like another input
    ]
    for case in cases:
        ours = outcome(rasa_internals._run_in_dependency_order, **case)
        assert ours == outcome(rasa_internals._dask_run, **case), case
    assert outcome(rasa_internals._run_in_dependency_order, **cases[0]) == ({"c": 122}, ["a", "b", "c"])
    error = outcome(rasa_internals._run_in_dependency_order, **cases[4])[0]
    assert error[0] is GraphComponentException and "value_error" in error[1]  # Rasa's wrapping


def test_any_rasa_but_the_pinned_one_is_refused() -> None:
    import rasa

    assert rasa.__version__ == rasa_internals.PINNED_RASA
    rasa_internals.check_version(rasa_internals.PINNED_RASA)
    for other in ("3.6.20", "3.7.0", "3.6.21.post1"):
        with pytest.raises(rasa_internals.UnsupportedRasaVersion, match="refuses to run"):
            rasa_internals.check_version(other)


def _bare_processor(domain: Any) -> Any:
    """Rasa's ``MessageProcessor`` with only what ``_run_action`` and ``_get_action`` use set: the
    methods under test are Rasa's own."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.core.processor import MessageProcessor

    processor = MessageProcessor.__new__(MessageProcessor)
    processor.domain = domain
    processor.action_endpoint = None
    processor.nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return processor


def test_a_failed_custom_action_is_read_from_rasas_log() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.policies.policy import PolicyPrediction
    from rasa.utils.endpoints import EndpointConfig

    rasa_internals.apply()
    domain = _domain()
    processor = _bare_processor(domain)
    action = RemoteAction("action_unreachable", EndpointConfig("http://127.0.0.1:9/webhook"))
    tracker = _tracker(ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"}))
    prediction = PolicyPrediction.for_action_name(domain, "action_listen")
    with rasa_internals.watching_action_failures() as failures:
        asyncio.run(processor._run_action(action, tracker, CollectingOutputChannel(), processor.nlg, prediction))
    assert failures == ["action_unreachable"]
    # outside a watched turn nothing is noted, and the turn's list is its own
    asyncio.run(processor._run_action(action, tracker, CollectingOutputChannel(), processor.nlg, prediction))
    assert failures == ["action_unreachable"]


def test_a_session_starts_on_demand_with_rasas_own_session_start() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.shared.core.events import SessionStarted

    domain = _domain()
    tracker = _tracker(ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"}))
    known = len(tracker.events)
    asyncio.run(rasa_internals.run_session_start(_bare_processor(domain), tracker, CollectingOutputChannel()))
    started = list(tracker.events)[known:]
    assert [type(e).__name__ for e in started] == ["ActionExecuted", "SessionStarted", "ActionExecuted"]
    assert isinstance(started[1], SessionStarted) and started[2].action_name == "action_listen"


class _BrokenStore(InMemoryTrackerStore):
    """A primary tracker store whose every call fails, as Redis does when it is down."""

    async def save(self, tracker: Any) -> None:
        raise ConnectionError("redis down")

    async def retrieve(self, sender_id: str) -> Any:
        raise ConnectionError("redis down")


def test_the_fail_safe_store_raises_instead_of_forgetting_the_conversation() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    rasa_internals.apply()
    primary = _BrokenStore(_domain())
    store = FailSafeTrackerStore(primary)
    assert rasa_internals.primary_tracker_store(store) is primary
    assert rasa_internals.primary_tracker_store(primary) is primary
    with pytest.raises(rasa_internals.StoreUnavailable, match="redis down"):
        asyncio.run(store.save(_tracker(ActionExecuted("action_listen"))))
    with pytest.raises(rasa_internals.StoreUnavailable, match="redis down"):
        asyncio.run(store.retrieve("t"))


def test_merge_trackers_is_rasas_merge_of_earlier_sessions() -> None:
    from rasa.core.tracker_store import RedisTrackerStore
    from rasa.shared.core.events import SessionStarted

    earlier = _tracker(ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"}, timestamp=1.0))
    latest = _tracker(SessionStarted(timestamp=2.0), UserUttered("bye", {"name": "goodbye"}, timestamp=3.0))
    merged = rasa_internals.merge_trackers(RedisTrackerStore.__new__(RedisTrackerStore), earlier, latest)
    assert [getattr(e, "text", None) for e in merged.events if isinstance(e, UserUttered)] == ["hi", "bye"]
    assert (
        rasa_internals.merge_trackers(RedisTrackerStore.__new__(RedisTrackerStore), latest, latest).events
        == latest.events
    )


def test_ted_runs_in_the_trained_model_only_when_its_prediction_can_count(model: Any) -> None:
    """The TED node of the real prediction graph is wired to the other policies' predictions and
    answers empty exactly when :func:`ted_is_outranked` says the ensemble will not pick it."""
    from rasa.core.agent import Agent
    from rasa.shared.core.events import SessionStarted

    rasa_internals.apply()
    agent = Agent.load(str(model))
    runner = agent.processor.graph_runner
    nodes = runner._graph_schema.nodes
    predicting = {n: node for n, node in nodes.items() if node.fn == "predict_action_probabilities"}
    ted = next(n for n, node in predicting.items() if issubclass(node.uses, TEDPolicy))
    others = [n for n in predicting if n != ted]
    assert {f"outranking_prediction_{o}" for o in others} <= set(nodes[ted].needs)
    outranked = []
    for intent in ("greet", "ask_balance", "affirm", "deny", "goodbye", "out_of_scope"):
        parse = {"intent": {"name": intent, "confidence": 0.99}, "entities": [], "text": intent}
        tracker = DialogueStateTracker.from_events(
            "ted",
            [
                ActionExecuted("action_session_start"),
                SessionStarted(),
                ActionExecuted("action_listen"),
                UserUttered(intent, parse["intent"], parse_data=parse),
            ],
            agent.domain.slots,
        )
        out = runner.run(inputs={"__tracker__": tracker}, targets=[ted, *others])
        certain = rasa_internals.ted_is_outranked(
            [out[o] for o in others], tracker, agent.domain, out[ted].policy_priority
        )
        assert (max(out[ted].probabilities) == 0.0) == certain, intent
        outranked.append(certain)
    assert True in outranked and False in outranked  # both paths were taken
