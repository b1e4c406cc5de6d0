"""What every input channel does before and around handing a message to Rasa."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.lock_store import LockError
from rasa.shared.core.constants import SESSION_START_METADATA_SLOT
from rasa.shared.core.events import SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.exc import SQLAlchemyError

import rasa_internals
from bot import logmask
from bot.context import SENDER_KEY, SenderContext, contact_channel, from_metadata, resolve_now
from bot.handoff import HandoffQueue
from bot.language import detect
from bot.texts import texts_for
from channels.handoff import after_turn, paused_turn
from channels.linting import LintedOutput
from stores.redis_store import (
    StoreUnavailable,
    redis_client,
    remember_saved_trackers,
    store_healthy,
)

logger = logging.getLogger(__name__)
logmask.install()  # every channel imports this module: the Rasa server's logs are masked
rasa_internals.apply()  # every Rasa server process imports this module

MAX_TEXT_CHARS = 2000  # longer messages are cut (and the debtor told so); a debtor never needs more in one turn
# the guard's replies in the default language (data/texts); a known sender gets their own language's
TRY_AGAIN = texts_for().get("channel.try_again")
EMPTY_REPLY = texts_for().get("channel.empty")
SOMETHING_WENT_WRONG = texts_for().get("channel.failed")
HOLDING_REPLY = texts_for().get("channel.holding")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SLASH_PAYLOAD = re.compile(r"[{\[@].*$", re.S)


def bearer_ok(request: Any, token: str) -> bool:
    """Whether the request's ``Authorization`` header is ``Bearer <token>``, compared in constant
    time as bytes (``hmac.compare_digest`` raises on a ``str`` with non-ASCII characters, so a
    hostile header would otherwise be a 500)."""
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {token}".encode())


def json_body(request: Any) -> Any:
    """The request's JSON body parsed by the standard library from strict UTF-8, or None when it
    is not valid UTF-8 JSON or its strings hold a lone surrogate (``"\\ud800"``, which no UTF-8
    text can carry and which spaCy refuses). (Sanic's fast parser turns some invalid UTF-8 into a
    ``str`` holding code points above U+10FFFF, which crashes the first code that looks at its
    characters.)"""
    try:
        body = json.loads(bytes(request.body or b"").decode("utf-8"))
        json.dumps(body, ensure_ascii=False).encode("utf-8")
        return body
    except (UnicodeError, ValueError, TypeError):
        return None


def clean_text(text: Any) -> tuple[str, dict[str, Any]]:
    """Normalise debtor text for NLU; returns (text, notes about what was changed).

    - A leading ``/`` command is turned into words: Rasa treats ``/intent{"slot": ...}`` as a
      forced intent with entities on every channel, which would let a debtor skip verification.
      ``/verify_identity{"identity_verified": true}`` becomes "verify identity"; the payload is dropped.
    - Control and invisible format characters (zero-width space, ...) and lone surrogates are
      dropped, Unicode is NFC-normalised, length is capped.
    - A payment card number is removed before anything stores or reads the text (note
      ``card_number_removed``): card details never reach NLU, the tracker, the logs or the console.
    """
    notes: dict[str, Any] = {}
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = _CONTROL.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cs"))
    text = unicodedata.normalize("NFC", text).strip()
    if text.startswith("/"):
        notes["slash_command_neutralised"] = True
        text = _SLASH_PAYLOAD.sub("", text.lstrip("/ ")).replace("_", " ").strip()
    if len(text) > MAX_TEXT_CHARS:
        notes["truncated_from"] = len(text)
        text = text[:MAX_TEXT_CHARS]
    text, card = logmask.remove_card_numbers(text)
    if card:
        notes["card_number_removed"] = True
    return text, notes


UNCONFIRMED_TURN_TTL_S = 600.0  # the debtor was told to try again "in a few minutes"


@dataclass(frozen=True)
class _UnconfirmedTurn:
    """A turn answered "try again" because its tracker save failed mid-command: Redis may have
    written it before the connection dropped. ``replies`` is what the turn produced (already
    linted), ``last_event_at`` the timestamp of the last event it tried to save."""

    message_id: str | None
    text: str
    replies: list[dict[str, Any]]
    last_event_at: float | None
    failed_at: float


_unconfirmed_turns: dict[str, _UnconfirmedTurn] = {}  # by sender id, in this process


def _remember_unconfirmed_turn(message: UserMessage, output: Any, tracker: DialogueStateTracker) -> None:
    now = time.monotonic()
    for sender in [s for s, t in _unconfirmed_turns.items() if now - t.failed_at > UNCONFIRMED_TURN_TTL_S]:
        del _unconfirmed_turns[sender]
    last = tracker.events[-1].timestamp if tracker.events else None
    replies = [dict(m) for m in output.messages]
    _unconfirmed_turns[message.sender_id] = _UnconfirmedTurn(message.message_id, message.text or "", replies, last, now)


async def _replayed_unconfirmed_turn(agent: Any, message: UserMessage, output: Any) -> Any:
    """The stored tracker when ``message`` repeats, within :data:`UNCONFIRMED_TURN_TTL_S`, a turn
    this process answered "try again" because its save failed, and that save did land after all:
    the stored conversation still ends with that turn. The turn's replies (a session start's
    mini-Miranda included) are then put on the collecting ``output`` instead of processing the
    repeat, which would otherwise be taken as the answer to the next question (a date of birth
    sent twice would fail verification). None when there is nothing to replay. Raises the tracker
    store's errors (the entry is kept for the next try)."""
    turn = _unconfirmed_turns.get(message.sender_id)
    if turn is None:
        return None
    if (
        turn.text != message.text
        or time.monotonic() - turn.failed_at > UNCONFIRMED_TURN_TTL_S
        or not isinstance(getattr(output, "messages", None), list)
    ):
        del _unconfirmed_turns[message.sender_id]
        return None
    tracker = await agent.tracker_store.retrieve(message.sender_id)
    del _unconfirmed_turns[message.sender_id]
    events = list(tracker.events) if tracker is not None else []
    last_user = max((i for i, e in enumerate(events) if isinstance(e, UserUttered)), default=None)
    if (
        last_user is None
        or events[last_user].message_id != turn.message_id
        or events[-1].timestamp != turn.last_event_at
    ):
        return None  # the save never landed, or the conversation moved on: a new message
    logger.warning("message from %s repeats a turn whose save landed: its replies are sent again", message.sender_id)
    output.messages.extend(turn.replies)
    return tracker


def message_context(message: UserMessage) -> SenderContext:
    """The sender context carried in ``message``'s metadata by :func:`handle_guarded`, else
    resolved now from its sender id and input channel (one database read)."""
    context = from_metadata(message.metadata)
    if context is None:
        context = resolve_now(message.sender_id, contact_channel(message.input_channel))
    return context


async def handle_guarded(
    app: Any,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    message: UserMessage,
    context: SenderContext | None = None,
    saved: dict[str, Any] | None = None,
) -> bool:
    """Pass ``message`` to Rasa unless the stores are down; on failure reply with :data:`TRY_AGAIN`.
    ``saved``, when given, receives the trackers the turn saved (sender id → tracker).

    The sender context (``bot.context``) is resolved here once, unless the channel already did
    (``context``), and travels in the message's metadata to the policies, the actions and the
    handoff; the send-time lint and the replies below are in the context's language.

    While a person owns the conversation (an open handoff ticket) the message is stored and shown
    in the console instead, and the bot says nothing; a turn that asks for a person opens a ticket
    (channels.handoff). When a custom action failed during the turn (action server down or
    erroring) the debtor also gets :data:`HOLDING_REPLY` and the failure is logged. Returns True
    when the message was handled without such failures. Errors are logged, never swallowed
    silently.
    """
    agent = getattr(app.ctx, "agent", None)
    output = message.output_channel
    if agent is None or not agent.is_ready():
        await output.send_text_message(message.sender_id, TRY_AGAIN)
        logger.error("message from %s refused: no model loaded", message.sender_id)
        return False
    try:
        context = (context or message_context(message)).speaking(detect(message.text or ""))
    except Exception:
        # without the opt-out ledger and the account nothing may be said: no guess
        logger.exception("message from %s refused: its sender could not be looked up", message.sender_id)
        await output.send_text_message(message.sender_id, TRY_AGAIN)
        return False
    message.metadata = {**(message.metadata or {}), SENDER_KEY: context.as_metadata()}
    texts = texts_for(context.language, context.jurisdiction)
    message.output_channel = LintedOutput(output, message.input_channel or "rest", context)
    if message.metadata.get("card_number_removed"):
        await message.output_channel.send_text_message(message.sender_id, texts.get("channel.card_number_removed"))
    if message.metadata.get("truncated_from"):
        # the debtor knows what they wrote: told where reading stopped, nothing after it is lost unseen
        notice = texts.get("channel.truncated", limit=f"{MAX_TEXT_CHARS:,}")
        await message.output_channel.send_text_message(message.sender_id, notice)
    if not store_healthy(agent.tracker_store):
        logger.error("message from %s refused: tracker store unreachable", message.sender_id)
        await output.send_text_message(message.sender_id, texts.get("channel.try_again"))
        return False
    red = redis_client(agent.tracker_store)
    turn: dict[str, Any] = {}  # the turn's saved trackers, once the ``with`` below has begun
    failures: list[str] = []  # custom actions that failed in this turn
    try:
        if red is not None and await paused_turn(agent, red, message, message.output_channel):
            return True
        with remember_saved_trackers() as turn, rasa_internals.watching_action_failures() as failures:
            replayed = await _replayed_unconfirmed_turn(agent, message, output)
            if replayed is not None:
                turn[message.sender_id] = replayed
            else:
                await on_new_message(message)
        if saved is not None:
            saved.update(turn)
    except (StoreUnavailable, redis.exceptions.RedisError, LockError) as exc:
        logger.error("message from %s not processed: %s", message.sender_id, exc)
        if hasattr(output, "messages"):
            if message.sender_id in turn:  # the save was under way: Redis may have done it
                _remember_unconfirmed_turn(message, output, turn[message.sender_id])
            # drop anything already collected: it may have been produced without context
            output.messages.clear()
        await output.send_text_message(message.sender_id, texts.get("channel.try_again"))
        return False
    except Exception:
        logger.exception("message from %s failed", message.sender_id)
        await output.send_text_message(message.sender_id, texts.get("channel.failed"))
        return False
    if red is not None:
        try:
            await after_turn(agent, red, message, message.output_channel, turn.get(message.sender_id))
        except Exception:
            # the bot's reply stands; the missing ticket is an error for operations to see
            logger.exception("handoff ticket for %s could not be opened", message.sender_id)
    if failures:
        logger.error("custom action(s) %s failed for %s: sent a holding reply", failures, message.sender_id)
        await message.output_channel.send_text_message(message.sender_id, texts.get("channel.holding"))
        return False
    return True


async def start_new_session(
    app: Any,
    sender_id: str,
    output: OutputChannel,
    input_channel: str,
    metadata: dict[str, Any],
    context: SenderContext | None = None,
) -> bool:
    """Start a new conversation session for ``sender_id`` now, whatever the state of the last one
    (Rasa only starts one when the last has expired): ``action_session_start`` runs, so the bot's
    first words are the mini-Miranda (12 CFR 1006.18(e)) and no form of an earlier conversation
    (on this or another channel under the same sender id) takes the next message as its answer.
    For the start of a new communication, e.g. a phone call. Its texts go to ``output`` through
    the send-time lint. A conversation a person owns (open handoff ticket) is left as it is.
    Returns True when the session was started or the conversation is with a person; False (logged)
    when the model or stores are unavailable or the session start failed."""
    agent = getattr(app.ctx, "agent", None)
    if agent is None or not agent.is_ready() or not store_healthy(agent.tracker_store):
        logger.error("new session for %s not started: model or tracker store unavailable", sender_id)
        return False
    processor = agent.processor
    try:
        context = context or resolve_now(sender_id, contact_channel(input_channel))
        linted = LintedOutput(output, input_channel, context)
        metadata = {**metadata, SENDER_KEY: context.as_metadata()}
        red = redis_client(agent.tracker_store)
        if red is not None and HandoffQueue(red).is_paused(sender_id):
            return True
        async with agent.lock_store.lock(sender_id):
            tracker = await processor.get_tracker(sender_id)
            known = len(tracker.events)
            tracker.update(SlotSet(SESSION_START_METADATA_SLOT, metadata), processor.domain)
            await rasa_internals.run_session_start(processor, tracker, linted)
            if not any(isinstance(e, SessionStarted) for e in list(tracker.events)[known:]):
                logger.error("new session for %s not started: action_session_start failed", sender_id)
                return False
            await processor.save_tracker(tracker)
    except (StoreUnavailable, redis.exceptions.RedisError, LockError, SQLAlchemyError) as exc:
        logger.error("new session for %s not started: %s", sender_id, exc)
        return False
    return True


def health(app: Any) -> tuple[bool, dict[str, Any]]:
    """Health of the bot for a load balancer: model loaded and tracker and lock stores reachable."""
    agent = getattr(app.ctx, "agent", None)
    model_ok = bool(agent and agent.is_ready())
    store_ok = bool(agent and store_healthy(agent.tracker_store))
    lock_ok = True
    lock_store = getattr(agent, "lock_store", None)
    red = getattr(lock_store, "red", None)
    if red is not None:
        try:
            red.ping()
        except redis.exceptions.RedisError:
            lock_ok = False
    ok = model_ok and store_ok and lock_ok
    return ok, {
        "status": "ok" if ok else "unavailable",
        "model": model_ok,
        "tracker_store": store_ok,
        "lock_store": lock_ok,
    }
