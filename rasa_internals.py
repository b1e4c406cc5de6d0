"""Every reach into Rasa's internals, in one place: private names, attributes Rasa sets on its
own objects, and the text of its log messages. :func:`apply` installs what needs installing once
per process and refuses any Rasa but :data:`PINNED_RASA`, the version each reach was read from;
``tests/unit/test_rasa_internals.py`` fails when Rasa's behaviour under one of them changes.

Speed-ups that keep Rasa's behaviour (measured in ``make bench``):

- ``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every action server
  answer, which first checks the (constant) response schema against the JSON Schema meta-schema:
  about 50 ms of CPU per custom action call on this machine, more than the rest of the call. Here
  the schema is checked once and one validator is reused (about 3 ms); an invalid answer still
  raises the same ``ValidationError`` with Rasa's message.
- ``Event.resolve_by_type`` walks every subclass of ``Event`` (with an ``isabstract`` check each)
  for every stored event each time a tracker is loaded: about 10 ms a turn in a profile of
  ``make bench``. Here a type name found once is remembered; unknown names still go to Rasa's own
  lookup, so its defaults and errors are unchanged.
- Rasa runs every policy for every prediction, and TED's network (about 7 ms a call here, 2-3
  calls a turn) runs even when a rule, memoization or one of our policies already predicts an
  action with confidence 1.0, which TED (lowest priority) can never beat in Rasa's ensemble
  (``DefaultPolicyPredictionEnsemble._pick_best_policy``: highest confidence, then priority). Here
  the TED node of the prediction graph (``DaskGraphRunner._graph_schema``,
  ``_instantiated_nodes``, a node's ``_inputs`` and ``_fn``) also receives the other policies'
  predictions and returns an empty prediction when one of them already wins for certain. It still
  runs whenever its prediction could count, and never when TED can make end-to-end (text)
  predictions, which outrank the others in the ensemble.
- ``DaskGraphRunner.run`` hands every graph run (one for NLU and 2-3 predictions a turn) to dask's
  synchronous scheduler, whose bookkeeping took about a tenth of the server's CPU in a profile of
  ``make bench``. Here the nodes are called directly in dependency order, which is what that
  scheduler does: the same nodes, inputs, results and exceptions.

What Rasa does not offer in public, used by the channels and the tracker store:

- Failed custom actions (:func:`watching_action_failures`): ``MessageProcessor._run_action`` logs
  "Encountered an exception while running action '<name>'" on the ``rasa.core.processor`` logger
  and carries on without the action's events, which would leave the debtor with silence or half
  an answer. The log text is the only sign of it; the channel guard sends a holding reply.
- A session started on demand (:func:`run_session_start`): a phone call is a new communication
  whose first words must be the mini-Miranda, but Rasa starts a session only when the last one
  expired; ``MessageProcessor._get_action`` and ``_run_action`` run ``action_session_start`` with
  the call's output channel, as Rasa itself does for an expired session.
- No silent context loss: ``FailSafeTrackerStore`` (which Rasa wraps every tracker store in) falls
  back to an in-memory store on a Redis error, so the debtor gets an answer that has forgotten the
  conversation (RasaHQ/rasa#3243). :func:`apply` makes its two error hooks raise
  :class:`StoreUnavailable` instead, for every instance; :func:`primary_tracker_store` reads the
  wrapped store from its ``_tracker_store`` attribute.
- ``RedisTrackerStore._merge_trackers`` (:func:`merge_trackers`), Rasa's merge of a stored
  tracker with the one being saved, for the shapes ``stores.redis_store`` does not merge itself.
"""

from __future__ import annotations

import contextvars
import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import rasa
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import OutputChannel
from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import FailSafeTrackerStore, RedisTrackerStore, TrackerStore
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

logger = logging.getLogger(__name__)
PINNED_RASA = "3.6.21"  # the version every reach below was read from and is tested against


class UnsupportedRasaVersion(RuntimeError):
    """Rasa is not :data:`PINNED_RASA`: the internals used here may have changed."""


class StoreUnavailable(RuntimeError):
    """The tracker store (Redis) cannot be reached; the message must not be processed."""


def check_version(version: str = rasa.__version__) -> None:
    """Raise :class:`UnsupportedRasaVersion` unless ``version`` is :data:`PINNED_RASA`."""
    if version != PINNED_RASA:
        raise UnsupportedRasaVersion(
            f"rasa {version} is installed, but this project reaches into the internals of rasa {PINNED_RASA} "
            "(see rasa_internals.py) and refuses to run on another version: install requirements.lock"
        )


_validators: tuple[Any, dict[str, Any]] | None = None


def _action_response_validators() -> tuple[Any, dict[str, Any]]:
    """Rasa's action-response schema split at the ``oneOf`` over event types: the schema without
    it, and one validator per event type. Every branch requires its own ``event`` constant, so an
    event satisfies the ``oneOf`` exactly when it satisfies the branch its ``event`` names;
    jsonschema instead tries all 23 branches for every event. If a branch has no constant, the
    whole schema is used as it is."""
    spec = copy.deepcopy(RemoteAction.action_response_format_spec())
    cls = validator_for(spec)
    cls.check_schema(spec)
    items = spec["properties"]["events"]["items"]
    branches = items.get("oneOf", [])
    names = [branch.get("properties", {}).get("event", {}).get("const") for branch in branches]
    if not branches or None in names or len(set(names)) != len(names):
        return cls(spec), {}
    del items["oneOf"]
    return cls(spec), {name: cls(branch) for name, branch in zip(names, branches, strict=True)}


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's ``RemoteAction._validate_action_result`` with the schema compiled once and events
    checked against their own type's branch (see :func:`_action_response_validators`). Raises
    ``jsonschema.ValidationError`` for a response Rasa's check would refuse."""
    global _validators
    if _validators is None:
        _validators = _action_response_validators()
    validator, by_event = _validators
    try:
        validator.validate(result)
        events = (result.get("events") or []) if by_event else []
        for event in events:
            branch = by_event.get(event.get("event"))
            if branch is None:
                raise ValidationError(f"{event.get('event')!r} is not an event type")
            branch.validate(event)
        return True
    except ValidationError as e:
        e.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise e


_resolve_by_type = Event.resolve_by_type
_event_types: dict[str, type[Event]] = {}


def _cached_resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    found = _event_types.get(type_name)
    if found is None:
        found = _resolve_by_type(type_name, default)
        if found is not None and found is not default:
            _event_types[type_name] = found
    return found


_PRIOR = "outranking_prediction_"  # input names given to TED for the other policies' predictions


def ted_is_outranked(
    others: Sequence[PolicyPrediction], tracker: DialogueStateTracker, domain: Domain, ted_priority: int
) -> bool:
    """True when Rasa's ensemble will pick one of ``others`` whatever TED predicts.

    That is when another policy of higher priority gives some action confidence 1.0 (after the
    ensemble zeroes an action whose execution was just rejected), or makes a no-user or end-to-end
    prediction, which the ensemble prefers to TED's intent-based one outright. Mirrors
    ``DefaultPolicyPredictionEnsemble`` in Rasa 3.6 (rasa/core/policies/ensemble.py).
    """
    rejected: int | None = None
    for event in reversed(tracker.events):
        if isinstance(event, ActionExecutionRejected):
            rejected = domain.index_for_action(event.action_name) if event.action_name else None
            break
        if isinstance(event, ActionExecuted):
            break
    for prediction in others:
        if prediction.is_no_user_prediction or prediction.is_end_to_end_prediction:
            return True
        if prediction.policy_priority <= ted_priority:
            continue
        probabilities = prediction.probabilities
        if rejected is not None and rejected < len(probabilities):
            probabilities = [p for i, p in enumerate(probabilities) if i != rejected]
        if probabilities and max(probabilities) >= 1.0:
            return True
    return False


def _deferring(fn: Callable[..., PolicyPrediction]) -> Callable[..., PolicyPrediction]:
    def predict(component: TEDPolicy, **kwargs: Any) -> PolicyPrediction:
        others = [kwargs.pop(name) for name in [k for k in kwargs if k.startswith(_PRIOR)]]
        tracker, domain = kwargs.get("tracker"), kwargs.get("domain")
        can_predict_from_text = TEXT in getattr(component, "fake_features", {}) or getattr(component, "only_e2e", False)
        if (
            not can_predict_from_text
            and isinstance(tracker, DialogueStateTracker)
            and isinstance(domain, Domain)
            and ted_is_outranked(others, tracker, domain, component.priority)
        ):
            return component._prediction(component._default_predictions(domain))
        return fn(component, **kwargs)

    return predict


def defer_ted(runner: DaskGraphRunner) -> int:
    """Make each TED prediction node of ``runner`` wait for the other policies and skip its network
    when :func:`ted_is_outranked`; returns how many TED nodes were changed (0 for training graphs)."""
    nodes = runner._graph_schema.nodes
    predicting = {
        name: node
        for name, node in nodes.items()
        if node.fn == "predict_action_probabilities" and issubclass(node.uses, Policy)
    }
    changed = 0
    for name, node in predicting.items():
        if not issubclass(node.uses, TEDPolicy) or any(k.startswith(_PRIOR) for k in node.needs):
            continue
        extra = {f"{_PRIOR}{other}": other for other in predicting if not issubclass(nodes[other].uses, TEDPolicy)}
        node.needs.update(extra)  # dask orders by these, and passes their outputs to TED's node
        graph_node = runner._instantiated_nodes[name]
        if graph_node._inputs is not node.needs:
            graph_node._inputs.update(extra)
        graph_node._fn = _deferring(graph_node._fn)
        changed += 1
    return changed


_runner_init = DaskGraphRunner.__init__


def _runner_init_deferring_ted(self: DaskGraphRunner, *args: Any, **kwargs: Any) -> None:
    _runner_init(self, *args, **kwargs)
    if defer_ted(self):
        logger.debug("TED runs only when its prediction can count")


_dask_run = DaskGraphRunner.run


def _run_in_dependency_order(
    self: DaskGraphRunner, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
) -> dict[str, Any]:
    """``DaskGraphRunner.run`` without dask: every node of the targets' minimal graph is called
    once, after the nodes it needs, with their ``(name, output)`` pairs; returns
    ``{target: output}``. As with ``dask.get``: an input replaces a node of the same name (the
    nodes that one needs still run), a needed name that is neither is passed as the string
    itself, and a node's exception propagates unchanged (``RuntimeError`` becomes Rasa's
    ``GraphRunError``)."""
    run_targets = targets if targets else self._graph_schema.target_names
    nodes = self._graph_schema.minimal_graph_schema(run_targets).nodes
    done: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and (value in nodes or value in done):
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of the input names "
                "passed to the `run` method are the same as node names in the graph schema."
            )
        done[name] = (name, value)

    def output_of(name: str) -> Any:
        if name in done:
            return done[name]
        node = nodes.get(name)
        if node is None:
            return name
        needed = [output_of(need) for need in node.needs.values()]
        done[name] = self._instantiated_nodes[name](*needed)
        return done[name]

    try:
        for name, node in nodes.items():
            if name in done:  # replaced by an input: dask still runs what the node needed
                for need in node.needs.values():
                    output_of(need)
            else:
                output_of(name)
        return dict(output_of(target) for target in run_targets)
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e


_ACTION_FAILED = "Encountered an exception while running action '"
_turn_failures: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("turn_failures", default=None)


class _ActionFailureWatch(logging.Filter):
    """Notes, for the turn being handled, the action named in Rasa's "action failed" log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        failures = _turn_failures.get()
        message = str(record.msg)
        if failures is not None and message.startswith(_ACTION_FAILED):
            failures.append(message[len(_ACTION_FAILED) :].split("'", 1)[0])
        return True


_failure_watch = _ActionFailureWatch()


@contextmanager
def watching_action_failures() -> Iterator[list[str]]:
    """Within the block, the names of the actions whose run failed in this task (action server
    down, timeout, 5xx) are appended to the yielded list, read from Rasa's log text."""
    failures: list[str] = []
    token = _turn_failures.set(failures)
    try:
        yield failures
    finally:
        _turn_failures.reset(token)


async def run_session_start(processor: MessageProcessor, tracker: DialogueStateTracker, output: OutputChannel) -> None:
    """Run ``action_session_start`` on ``tracker`` now, its messages to ``output``, as Rasa's
    processor does when a session has expired (errors are Rasa's own: logged, events lost)."""
    from rasa.core.policies.policy import PolicyPrediction

    action = processor._get_action(ACTION_SESSION_START_NAME)
    prediction = PolicyPrediction.for_action_name(processor.domain, ACTION_SESSION_START_NAME)
    await processor._run_action(action, tracker, output, processor.nlg, prediction)


def _raise_unavailable(self: FailSafeTrackerStore, error: Exception) -> None:
    logger.error("tracker store error, refusing to continue without context: %s", error)
    raise StoreUnavailable(str(error)) from error


def primary_tracker_store(tracker_store: TrackerStore) -> TrackerStore:
    """The store that ``FailSafeTrackerStore`` wraps (the one in ``endpoints.yml``), else the store."""
    inner = getattr(tracker_store, "_tracker_store", None)
    return inner if isinstance(inner, TrackerStore) else tracker_store


def merge_trackers(
    store: RedisTrackerStore, stored: DialogueStateTracker, tracker: DialogueStateTracker
) -> DialogueStateTracker:
    """Rasa's ``RedisTrackerStore`` merge of the ``stored`` tracker (earlier sessions) with
    ``tracker`` (the latest session) before a save."""
    return store._merge_trackers(stored, tracker)


def apply() -> None:
    """Check the Rasa version and install the patches (idempotent)."""
    check_version()
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    Event.resolve_by_type = staticmethod(_cached_resolve_by_type)  # type: ignore[method-assign,assignment]
    DaskGraphRunner.__init__ = _runner_init_deferring_ted  # type: ignore[method-assign]
    DaskGraphRunner.run = _run_in_dependency_order  # type: ignore[method-assign]
    # Rasa calls these hooks inside its ``except`` blocks: raising turns a reply that lost the
    # conversation's context into an error the channel answers with "try again"
    FailSafeTrackerStore.on_tracker_store_error = _raise_unavailable  # type: ignore[method-assign]
    FailSafeTrackerStore.on_tracker_store_retrieve_error = _raise_unavailable  # type: ignore[method-assign]
    processor_logger = logging.getLogger("rasa.core.processor")
    if _failure_watch not in processor_logger.filters:
        processor_logger.addFilter(_failure_watch)
