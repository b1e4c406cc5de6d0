"""Queue, ticket and supervisor pages, and the JSON calls their scripts make.

Every state-changing call is a POST with the CSRF token (form field or ``X-CSRFToken`` header).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
import yaml
from flask import Blueprint, abort, current_app, jsonify, make_response, render_template, request
from flask_login import current_user

from bot import db
from bot.compliance.profiles import contact_channel
from bot.handoff import HandoffError, HandoffQueue, Ticket, handoff_rules
from console import rasa_api, records
from console.auth import role_required
from console.delivery import deliver
from console.labels import channel_label

bp = Blueprint("queue", __name__)
MAX_REPLY_CHARS = 1600
MAX_NOTES_CHARS = 4000
MAX_SLOT_TEXT_CHARS = 200
DOMAIN_DIR = Path(__file__).resolve().parent.parent / "bot" / "domain"


@lru_cache(maxsize=1)
def _slot_definitions() -> dict[str, dict[str, Any]]:
    """Slot name -> its definition in the domain (bot/domain/*.yml)."""
    slots: dict[str, dict[str, Any]] = {}
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        slots.update((yaml.safe_load(path.read_text()) or {}).get("slots") or {})
    return slots


def slot_value_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be set in slot ``name`` (by the slot's type in the domain), or None."""
    kind = _slot_definitions().get(name, {}).get("type")
    if value is None:
        return None
    if kind == "bool" and not isinstance(value, bool):
        return f"'{name}' must be true or false"
    if kind == "text" and not (isinstance(value, str) and len(value) <= MAX_SLOT_TEXT_CHARS):
        return f"'{name}' must be text of at most {MAX_SLOT_TEXT_CHARS} characters"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"'{name}' must be a number"
    if kind == "categorical" and value not in (_slot_definitions()[name].get("values") or []):
        return f"'{name}' must be one of {_slot_definitions()[name].get('values')}"
    return None


def handoff_queue() -> HandoffQueue:
    """The app's queue (one Redis connection pool per app)."""
    ext = current_app.extensions
    if "handoff_queue" not in ext:
        cfg = current_app.config
        red = redis.Redis(
            host=cfg["REDIS_HOST"],
            port=int(cfg["REDIS_PORT"]),
            db=int(cfg["REDIS_DB"]),
            password=cfg["REDIS_PASSWORD"],
            socket_timeout=5,
        )
        ext["handoff_queue"] = HandoffQueue(red, cfg["DATABASE_URL"])
    queue: HandoffQueue = ext["handoff_queue"]
    return queue


def _error(status: int, code: str, message: str) -> Any:
    return jsonify({"error": code, "message": message}), status


def _ticket_or_404(ticket_id: int) -> Ticket:
    ticket = handoff_queue().get(ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _is_supervisor() -> bool:
    return bool(current_user.role == "supervisor")


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        return body
    return {k: v for k, v in request.form.items() if k != "csrf_token"}


def _account_panel(account_id: str | None, current_ticket: int | None = None) -> dict[str, Any] | None:
    if not account_id:
        return None
    with db.session_scope(current_app.config["DATABASE_URL"]) as session:
        account = session.get(db.Account, account_id)
        if account is None:
            return None
        contacts = (
            session.query(db.ContactLog).filter_by(account_id=account.id).order_by(db.ContactLog.id.desc()).limit(12)
        )
        tickets = (
            session.query(db.HandoffTicket)
            .filter(db.HandoffTicket.account_id == account.id, db.HandoffTicket.id != (current_ticket or 0))
            .order_by(db.HandoffTicket.id.desc())
            .limit(5)
        )
        return {
            "id": account.id,
            "name": account.debtor.full_name,
            "phone": account.debtor.phone_e164,
            "balance": account.balance.format("en_US"),
            "days_past_due": account.days_past_due,
            "jurisdiction": account.jurisdiction,
            "time_zone": account.time_zone,
            "promises": [
                f"{p['reference']} {p['amount']} due {p['due']} ({p['status']})"
                for p in records.promises_of(session, str(account.id), limit=5)
            ],
            "arrangements": records.arrangements_of(session, str(account.id), limit=3),
            "opted_out": records.opt_outs_of(session, str(account.id), account.debtor.phone_e164),
            "contacts": [f"{c.at:%Y-%m-%d %H:%M} {c.channel} {c.event}" for c in contacts],
            "tickets": [f"#{t.id} {t.reason} {t.outcome or 'open'}" for t in tickets],
        }


# -- pages -------------------------------------------------------------------------------------
@bp.route("/")
@role_required("collector", "supervisor")
def index() -> Any:
    queue = handoff_queue()
    now = db.utcnow()
    mine = [t for t in queue.active() if t.claimed_by == current_user.username]
    return render_template(
        "queue.html", tickets=[t.as_json(now) for t in queue.waiting()], mine=[t.as_json(now) for t in mine]
    )


@bp.route("/tickets/<int:ticket_id>")
@role_required("collector", "supervisor")
def ticket_page(ticket_id: int) -> Any:
    ticket = _ticket_or_404(ticket_id)
    rules = handoff_rules()
    arrangement = None
    if ticket.summary.get("arrangement_id"):
        with db.session_scope(current_app.config["DATABASE_URL"]) as session:
            arrangement = records.arrangement_by_reference(session, ticket.summary["arrangement_id"])
    return render_template(
        "ticket.html",
        ticket=ticket.as_json(db.utcnow()),
        arrangement=arrangement,
        account=_account_panel(ticket.account_id, ticket.id),
        outcomes=rules.outcomes,
        handback_slots=rules.handback_slots,
        mine=ticket.claimed_by == current_user.username,
    )


@bp.route("/supervisor")
@role_required("supervisor")
def supervisor() -> Any:
    queue = handoff_queue()
    now = db.utcnow()
    return render_template(
        "supervisor.html",
        active=[t.as_json(now) for t in queue.active()],
        waiting=[t.as_json(now) for t in queue.waiting()],
    )


# -- JSON --------------------------------------------------------------------------------------
@bp.route("/api/queue")
@role_required("collector", "supervisor")
def api_queue() -> Any:
    queue = handoff_queue()
    now = db.utcnow()
    return jsonify(
        {
            "waiting": [_labelled(t.as_json(now)) for t in queue.waiting()],
            "active": [_labelled(t.as_json(now)) for t in queue.active()],
        }
    )


def _labelled(ticket: dict[str, Any]) -> dict[str, Any]:
    return {**ticket, "channel_label": channel_label(ticket["channel"])}


@bp.route("/api/tickets/<int:ticket_id>")
@role_required("collector", "supervisor")
def api_ticket(ticket_id: int) -> Any:
    """The ticket and its transcript from message ``since`` (an index) on, for polling."""
    ticket = _ticket_or_404(ticket_id)
    try:
        since = max(0, int(request.args.get("since", "0")))
    except ValueError:
        return _error(400, "bad_since", "'since' must be a whole number")
    messages = handoff_queue().transcript(ticket.conversation_id, since)
    return jsonify({"ticket": ticket.as_json(db.utcnow()), "messages": messages, "next": since + len(messages)})


@bp.route("/api/tickets/<int:ticket_id>/claim", methods=["POST"])
@role_required("collector", "supervisor")
def api_claim(ticket_id: int) -> Any:
    ticket = _ticket_or_404(ticket_id)
    if not handoff_queue().claim(ticket.id, current_user.username):
        latest = handoff_queue().get(ticket.id)
        owner = latest.claimed_by if latest else None
        return _error(409, "already_claimed", f"ticket {ticket.id} is taken{f' by {owner}' if owner else ''}")
    return jsonify({"claimed": True, "ticket": ticket.id, "by": current_user.username})


def _owned(ticket_id: int) -> Ticket:
    ticket = _ticket_or_404(ticket_id)
    if ticket.status != "claimed" or ticket.claimed_by != current_user.username:
        abort(make_response(*_error(409, "not_owner", "claim the ticket before working on it")))
    return ticket


def _last_debtor_at(ticket: Ticket) -> datetime | None:
    times = [m["at"] for m in handoff_queue().transcript(ticket.conversation_id) if m.get("from") == "debtor"]
    times += [m["at"] for m in ticket.summary.get("last_messages", []) if m.get("from") == "debtor"]
    return max((datetime.fromisoformat(t) for t in times), default=None)


@bp.route("/api/tickets/<int:ticket_id>/reply", methods=["POST"])
@role_required("collector", "supervisor")
def api_reply(ticket_id: int) -> Any:
    ticket = _owned(ticket_id)
    raw = _json_body().get("text")
    if raw is not None and not isinstance(raw, str):
        return _error(400, "bad_text", "'text' must be a string")
    text = (raw or "").strip()
    if not text:
        return _error(400, "empty", "type a message first")
    if len(text) > MAX_REPLY_CHARS:
        return _error(400, "too_long", f"at most {MAX_REPLY_CHARS} characters")
    now = db.utcnow()
    result = deliver(current_app.config, ticket, current_user.username, text, _last_debtor_at(ticket), now)
    if not result.sent:
        return jsonify({"sent": False, "detail": result.detail, "blocked": result.blocked}), 422
    queue = handoff_queue()
    queue.add_message(ticket.conversation_id, "collector", text, by=current_user.username, now=now)
    try:  # the bot's tracker keeps the whole conversation, for the hand-back and for exports
        bot_event = {
            "event": "bot",
            "text": text,
            "timestamp": now.timestamp(),
            "metadata": {"collector": current_user.username},
        }
        rasa_api.append_events(current_app.config, ticket.conversation_id, [bot_event])
    except rasa_api.RasaUnavailable as exc:
        current_app.logger.warning("collector reply not added to the tracker: %s", exc)
    return jsonify({"sent": True, "detail": result.detail, "channel": result.channel})


@bp.route("/api/tickets/<int:ticket_id>/resolve", methods=["POST"])
@role_required("collector", "supervisor")
def api_resolve(ticket_id: int) -> Any:
    ticket = _ticket_or_404(ticket_id)
    body = _json_body()
    outcome = str(body.get("outcome") or "")
    notes = str(body.get("notes") or "")[:MAX_NOTES_CHARS]
    if outcome not in handoff_rules().outcomes:
        return _error(400, "bad_outcome", f"outcome must be one of {', '.join(handoff_rules().outcomes)}")
    try:
        handoff_queue().close(ticket.id, current_user.username, outcome, notes, supervisor=_is_supervisor())
    except HandoffError as exc:
        return _error(409, exc.code, str(exc))
    return jsonify({"resolved": True, "ticket": ticket.id, "outcome": outcome})


@bp.route("/api/tickets/<int:ticket_id>/handback", methods=["POST"])
@role_required("collector", "supervisor")
def api_handback(ticket_id: int) -> Any:
    """Give the conversation back to the bot: the allowed slots (data/handoff.yml
    ``handback_slots``) are set in the tracker, ``handoff_reason`` is cleared, then the pause ends."""
    ticket = _ticket_or_404(ticket_id)
    if not _is_supervisor() and ticket.claimed_by != current_user.username:
        return _error(409, "not_owner", "claim the ticket before handing it back")
    body = _json_body()
    slots = body.get("slots") or {}
    if not isinstance(slots, dict):
        return _error(400, "bad_slots", "'slots' must be an object")
    allowed = set(handoff_rules().handback_slots)
    unknown = sorted(set(slots) - allowed)
    if unknown:
        return _error(400, "bad_slots", f"these slots cannot be set here: {', '.join(unknown)}")
    problems = [p for name, value in slots.items() if (p := slot_value_problem(name, value))]
    if problems:
        return _error(400, "bad_slots", "; ".join(problems))
    if slots.get("identity_verified") and not ticket.account_id:
        # verified means "right party for this account" (RPC); with no account the bot would
        # refuse every account question and still skip verification
        return _error(400, "no_account", "no account is linked to this conversation: nobody can be verified for it")
    notes = str(body.get("notes") or "")[:MAX_NOTES_CHARS]
    # a form the person interrupted (verification, promise) is not resumed: the bot starts afresh
    events: list[dict[str, Any]] = [
        {"event": "active_loop", "name": None},
        {"event": "slot", "name": "requested_slot", "value": None},
        {"event": "slot", "name": "handoff_reason", "value": None},
    ]
    events += [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]
    events.append({"event": "action", "name": "action_listen"})
    try:
        rasa_api.append_events(current_app.config, ticket.conversation_id, events)
    except rasa_api.RasaUnavailable as exc:
        return _error(502, "rasa_unavailable", f"the bot did not take the conversation back: {exc}")
    try:
        handoff_queue().close(ticket.id, current_user.username, "handed_back", notes, supervisor=_is_supervisor())
    except HandoffError as exc:
        return _error(409, exc.code, str(exc))
    return jsonify({"handed_back": True, "ticket": ticket.id, "slots": slots})


@bp.route("/api/conversations/takeover", methods=["POST"])
@role_required("collector", "supervisor")
def api_takeover() -> Any:
    """A collector asks for a live conversation: a ticket (reason ``collector_request``) is
    opened, claimed by the caller, and the bot goes quiet."""
    body = _json_body()
    conversation_id = str(body.get("conversation_id") or "").strip()
    if not conversation_id or len(conversation_id) > 128:
        return _error(400, "bad_conversation", "give the conversation id (a phone number or chat session)")
    try:
        state = rasa_api.tracker(current_app.config, conversation_id)
    except rasa_api.RasaUnavailable as exc:
        return _error(502, "rasa_unavailable", str(exc))
    events = state.get("events") or []
    if not any(e.get("event") == "user" for e in events):
        return _error(404, "no_conversation", f"no conversation {conversation_id!r}")
    from bot.handoff import build_summary

    channel = _channel_from_events(events)
    slots = state.get("slots") or {}
    queue = handoff_queue()
    ticket, _ = queue.open(
        conversation_id=conversation_id,
        channel=channel,
        reason="collector_request",
        account_id=slots.get("account_id"),
        summary=build_summary(events, slots, []),
    )
    try:
        rasa_api.append_events(
            current_app.config,
            conversation_id,
            [{"event": "slot", "name": "handoff_reason", "value": "collector_request"}],
        )
    except rasa_api.RasaUnavailable as exc:
        current_app.logger.warning("handoff_reason not recorded in the tracker: %s", exc)
    if ticket.status == "queued" and not queue.claim(ticket.id, current_user.username):
        return _error(409, "already_claimed", f"ticket {ticket.id} was just taken by someone else")
    return jsonify({"ticket": ticket.id})


def _channel_from_events(events: list[dict[str, Any]]) -> str:
    for event in reversed(events):
        if event.get("event") == "user" and event.get("input_channel"):
            return contact_channel(str(event["input_channel"]))
    return "rest"
