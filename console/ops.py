"""Ops pages (supervisor role): KPI dashboard with charts, the review queue of messages NLU was
unsure about (labelled into ``data/nlu/``), and a conversation viewer with export to a Rasa test
story.

Everything here is SQL over the analytics tables and the event log in the system of record
(``bot/ops.py``); nothing reads the tracker store. Settings (``create_app`` config):
DATABASE_URL, OPS_SENDER_PREFIXES (count only these sender ids; all when empty), OPS_NLU_DIR
(default ``data/nlu``), OPS_REVIEW_THRESHOLD (top intent confidence below which a message is
queued; default the FallbackClassifier threshold of ``config.yml``), OPS_REVIEW_DAYS (how far
back the queue looks; default 30).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError
from wtforms import HiddenField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from bot import db
from bot.analytics import Summary
from bot.kpis import COLUMNS, Conversation, KpiRow, UserMessage, format_value
from bot.nlu_review import (
    DISMISSED,
    NLU_DIR,
    LabelError,
    append_example,
    intents_by_file,
    looks_like_identity_answer,
    record_review,
)
from bot.ops import Scope, conversation_list, conversations_of, kpi_report, kpi_reports, review_copies, review_queue
from bot.ops import conversation as load_conversation
from console import charts
from console.auth import role_required

bp = Blueprint("ops", __name__, url_prefix="/ops")
PERIODS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}
ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def _fallback_threshold() -> float:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    for component in config.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3))
    return 0.3


def _period() -> tuple[str, datetime]:
    period = request.args.get("since", "7d")
    if period not in PERIODS:
        period = "7d"
    return period, datetime.now(timezone.utc) - timedelta(days=PERIODS[period])


def _scope(since: datetime | None) -> Scope:
    return Scope(tuple(current_app.config.get("OPS_SENDER_PREFIXES") or ()), since)


def _nlu_dir() -> Path:
    return Path(current_app.config.get("OPS_NLU_DIR") or NLU_DIR)


@contextmanager
def _session() -> Iterator[Any]:
    with db.session_scope(current_app.config["DATABASE_URL"]) as session:
        yield session


def _unavailable(exc: Exception) -> tuple[str, int]:
    current_app.logger.error("ops: analytics store unreachable: %s", exc)
    message = "The analytics store (the database) cannot be reached right now; try again in a minute."
    return render_template("error.html", message=message), 503


def _report(since: datetime, by: str | None) -> list[KpiRow]:
    with _session() as session:
        return kpi_report(session, _scope(since), by)


@bp.route("/")
@role_required("supervisor")
def index() -> Any:
    """Tiles, the tables by channel and segment and the four charts (inline SVG images), all from
    one pass over the period's conversations (``bot.ops.kpi_reports``)."""
    period, since = _period()
    try:
        with _session() as session:
            reports = kpi_reports(session, _scope(since), ["channel", "segment", "day"])
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    total = reports["total"][-1]
    tiles = [(header, format_value(getattr(total, attr), kind)) for header, attr, kind in COLUMNS]
    images = {
        name: "data:image/svg+xml;base64," + base64.b64encode(draw(reports["day"])).decode()
        for name, draw in CHARTS.items()
    }
    return render_template(
        "ops/dashboard.html",
        period=period,
        periods=list(PERIODS),
        tiles=tiles,
        columns=COLUMNS,
        by_channel=reports["channel"],
        by_segment=reports["segment"],
        format_value=format_value,
        total=total,
        images=images,
    )


CHARTS = {
    "rates": lambda rows: charts.rates_over_time(rows[:-1]),
    "volume": lambda rows: charts.volume_over_time(rows[:-1]),
    "csat": lambda rows: charts.csat_over_time(rows[:-1]),
    "handoffs": lambda rows: charts.handoff_reasons(rows[-1]),
}


@bp.route("/charts/<name>.svg")
@role_required("supervisor")
def chart(name: str) -> Any:
    if name not in CHARTS:
        abort(404)
    _, since = _period()
    try:
        rows = _report(since, "day")
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    response = Response(CHARTS[name](rows), mimetype="image/svg+xml")
    # matplotlib's SVG carries its own style element; it is an image, never a document with script
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "no-store"
    return response


class ReviewForm(FlaskForm):  # type: ignore[misc]
    """One queued message: the text as it will be added (editable, e.g. to remove personal data)
    and the intent it should have had."""

    key = HiddenField(validators=[DataRequired(), Length(max=200)])
    text = StringField("Example", validators=[DataRequired(), Length(max=300)])
    intent = SelectField("Intent", choices=[])
    label = SubmitField("Add to training data")
    dismiss = SubmitField("Dismiss")


def _queue(limit: int = 100) -> tuple[list[UserMessage], int]:
    since = datetime.now(timezone.utc) - timedelta(days=int(current_app.config.get("OPS_REVIEW_DAYS") or 30))
    threshold = float(current_app.config.get("OPS_REVIEW_THRESHOLD") or _fallback_threshold())
    with _session() as session:
        messages, total = review_queue(session, _scope(since), threshold, limit=limit)
    # a date of birth in any form ("march 7th 99") stays out of the queue, not only a full date
    shown = [m for m in messages if not looks_like_identity_answer(m.text)]
    return shown, total - (len(messages) - len(shown))


def _queued(key: str) -> tuple[UserMessage, list[str]] | None:
    """The queued message with ``key`` and the keys of every queued copy of its text (``key``
    among them), if it is still in the queue."""
    since = datetime.now(timezone.utc) - timedelta(days=int(current_app.config.get("OPS_REVIEW_DAYS") or 30))
    threshold = float(current_app.config.get("OPS_REVIEW_THRESHOLD") or _fallback_threshold())
    with _session() as session:
        found, _ = review_queue(session, _scope(since), threshold, key=key, limit=1)
        if not found:
            return None
        copies = review_copies(session, _scope(since), threshold, found[0].text)
    return found[0], sorted(set(copies) | {key})


def ranking(message: Any, shown: int = 3) -> list[tuple[str, float]]:
    """The message's top real intents with their confidences (``nlu_fallback`` is not one: it
    only says the top intent was below the threshold)."""
    return [(name, conf) for name, conf in message.ranking if name != "nlu_fallback"][:shown]


@bp.route("/review", methods=["GET", "POST"])
@role_required("supervisor")
def review() -> Any:
    intents = sorted(intents_by_file(_nlu_dir()))
    if request.method == "POST":
        form = ReviewForm()
        form.intent.choices = [(i, i) for i in intents]
        if not form.validate_on_submit():
            errors = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
            flash(f"Nothing changed: {errors or 'the form was incomplete'}.", "error")
            return redirect(url_for("ops.review")), 303
        try:
            found = _queued(form.key.data)
        except SQLAlchemyError as exc:
            return _unavailable(exc)
        if found is None:
            flash("That message is no longer in the queue (already reviewed?).", "error")
            return redirect(url_for("ops.review")), 303
        queued, copies = found
        try:
            with _session() as session:
                # one row stands for every copy of the text: the decision covers them all
                if form.dismiss.data:
                    for key in copies:
                        record_review(
                            session,
                            key=key,
                            text=queued.text,
                            intent=DISMISSED,
                            reviewer=current_user.username,
                            file=None,
                        )
                    flash("Dismissed." if len(copies) == 1 else f"Dismissed ({len(copies)} identical messages).")
                else:
                    path = append_example(form.intent.data, form.text.data, _nlu_dir())
                    for key in copies:
                        record_review(
                            session,
                            key=key,
                            text=form.text.data,
                            intent=form.intent.data,
                            reviewer=current_user.username,
                            file=path.name,
                        )
                    flash(
                        f"Added “{' '.join(form.text.data.split())}” to {path.name} as {form.intent.data}. "
                        "Review and commit the change, then retrain."
                    )
        except LabelError as exc:
            flash(f"Not added: {exc}.", "error")
        return redirect(url_for("ops.review")), 303
    try:
        messages, total = _queue()
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    forms = []
    for message in messages:
        form = ReviewForm(formdata=None, key=message.key, text=message.text, intent=message.best_guess())
        form.intent.choices = [(i, i) for i in intents]
        forms.append((message, form))
    return render_template("ops/review.html", forms=forms, total=total, ranking=ranking)


@bp.route("/conversations")
@role_required("supervisor")
def conversations() -> Any:
    period, since = _period()
    query = request.args.get("q", "").strip()[:128]
    try:
        with _session() as session:
            found, total = conversation_list(session, _scope(since), query)
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    return render_template(
        "ops/conversations.html", conversations=found, total=total, q=query, period=period, periods=PERIODS
    )


def _one(sender_id: str) -> tuple[list[Summary], int, Conversation]:
    """The sender's conversations, the index asked for (``n``, default the latest) and that
    conversation with its events from the event log."""
    with _session() as session:
        sessions = conversations_of(session, sender_id)
        if not sessions:
            abort(404)
        try:
            index = int(request.args.get("n", len(sessions) - 1))
        except ValueError:
            abort(400, "n must be a session number")
        if not 0 <= index < len(sessions):
            abort(404)
        return sessions, index, load_conversation(session, sessions[index])


@bp.route("/conversations/<path:sender_id>/story.yml")
@role_required("supervisor")
def export_story(sender_id: str) -> Any:
    try:
        _, index, found = _one(sender_id)
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    from console.stories import export_test_story  # imports Rasa: only when a story is exported

    text = export_test_story(found, name=f"conversation {sender_id} #{index + 1}")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in sender_id)[:60]
    return Response(
        text,
        mimetype="application/x-yaml",
        headers={"Content-Disposition": f'attachment; filename="test_story_{safe}_{index + 1}.yml"'},
    )


@bp.route("/conversations/<path:sender_id>")
@role_required("supervisor")
def conversation(sender_id: str) -> Any:
    try:
        sessions, index, found = _one(sender_id)
    except SQLAlchemyError as exc:
        return _unavailable(exc)
    return render_template(
        "ops/conversation.html",
        sessions=sessions,
        index=index,
        conversation=found,
        lines=_lines(found),
    )


def _lines(conversation: Conversation) -> list[dict[str, Any]]:
    """Transcript lines: debtor and bot messages, actions and slots as system notes."""
    out: list[dict[str, Any]] = []
    for event in conversation.events:
        kind = event.get("event")
        at = datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)
        if kind == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            meta = f"{intent.get('name')} {float(intent.get('confidence') or 0):.2f}"
            out.append({"who": "debtor", "text": event.get("text") or "", "meta": meta, "at": at})
        elif kind == "bot" and event.get("text"):
            out.append({"who": "bot", "text": event.get("text"), "meta": "", "at": at})
        elif kind == "action" and event.get("name") not in ("action_listen", "action_session_start"):
            out.append({"who": "system", "text": f"action {event.get('name')}", "meta": "", "at": at})
        elif kind == "slot" and event.get("name") in (
            "handoff_reason",
            "csat_score",
            "identity_verified",
            "account_id",
            "arrangement_id",
        ):
            out.append({"who": "system", "text": f"{event.get('name')} = {event.get('value')}", "meta": "", "at": at})
    return out
