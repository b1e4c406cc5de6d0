"""Account compliance pages: the validation notice (shown as its page 1, downloaded as PDF,
generated and sent, marked posted), UK Breathing Space recorded with the Insolvency Service
reference, SCRA documents received, and the account's holds and typed phone numbers.

Collectors and supervisors; every form is a POST with the CSRF token and is audited.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from bot import db
from bot.compliance.breathing_space import (
    KINDS,
    BreathingSpaceError,
    breathing_space_status,
    record_breathing_space,
    record_treatment_ended,
)
from bot.compliance.gate import ContactRequest, active_holds
from bot.compliance.limitations import status as limitation_status
from bot.compliance.notices import NoticeError, issue_notice, mark_mailed, render_png
from bot.compliance.profiles import profile_for
from bot.compliance.scra import RECEIVED as SCRA_RECEIVED
from bot.compliance.scra import scra_status
from bot.compliance.service import history_for
from bot.mailer import EmailSettings
from console import records
from console.auth import role_required

bp = Blueprint("compliance", __name__)


def _session() -> Any:
    return db.session_scope(current_app.config["DATABASE_URL"])


def _actor() -> str:
    return f"collector:{current_user.username}"


@bp.route("/accounts")
@role_required("collector", "supervisor")
def find_account() -> Any:
    reference = (request.args.get("id") or "").strip().upper()
    if reference:
        return redirect(url_for("compliance.account_page", account_id=reference))
    return render_template("account_find.html")


@bp.route("/accounts/<account_id>")
@role_required("collector", "supervisor")
def account_page(account_id: str) -> Any:
    now = datetime.now(timezone.utc)
    with _session() as session:
        account = session.get(db.Account, account_id.upper())
        if account is None:
            abort(404)
        history = history_for(session, str(account.id))
        profile = profile_for(str(account.jurisdiction))
        request_ = ContactRequest(str(account.id), str(account.jurisdiction), "sms", str(account.time_zone))
        holds = [
            f"{r.code.removeprefix('hold_')} ({r.citation})" for r in active_holds(profile, request_, history, now)
        ]
        limitation = limitation_status(account, now.date())
        notices = (
            session.query(db.ValidationNotice).filter_by(account_id=account.id).order_by(db.ValidationNotice.id.desc())
        )
        view = {
            "id": account.id,
            "name": account.debtor.full_name,
            "jurisdiction": account.jurisdiction,
            "balance": account.balance.format("en_GB" if str(account.jurisdiction) == "UK" else "en_US"),
            "email": account.debtor.email or "none",
            "esign": account.debtor.esign_consent_at.date().isoformat() if account.debtor.esign_consent_at else "none",
            "address": account.debtor.mailing_address or account.debtor.postcode,
            "phones": [f"{p.e164} ({p.kind})" for p in account.debtor.phones],
            "holds": holds,
            "breathing_space": breathing_space_status(history, now),
            "scra": scra_status(history),
            "time_barred": limitation.time_barred,
            "limitation": limitation,
            "uk": str(account.jurisdiction).startswith("UK"),
            "us": str(account.jurisdiction).startswith("US"),
            "arrangements": records.arrangements_of(session, str(account.id)),
            "promises": records.promises_of(session, str(account.id)),
            "opted_out": records.opt_outs_of(session, str(account.id), account.debtor.phone_e164),
            "notices": [
                {
                    "id": n.id,
                    "sent_on": n.sent_on,
                    "period_end": n.period_end,
                    "method": n.method,
                    "status": n.status,
                    "to": n.to_address,
                    "error": n.error,
                }
                for n in notices
            ],
        }
    return render_template("account.html", account=view, kinds=list(KINDS))


def _notice(session: Any, account_id: str, notice_id: int) -> db.ValidationNotice:
    notice = session.get(db.ValidationNotice, notice_id)
    if notice is None or notice.account_id != account_id.upper():
        abort(404)
    return notice  # type: ignore[no-any-return]


@bp.route("/accounts/<account_id>/notices/<int:notice_id>.pdf")
@role_required("collector", "supervisor")
def notice_pdf(account_id: str, notice_id: int) -> Any:
    with _session() as session:
        notice = _notice(session, account_id, notice_id)
        data = bytes(notice.pdf)
    name = f"validation-notice-{account_id.upper()}-VN{notice_id}.pdf"
    return Response(data, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/accounts/<account_id>/notices/<int:notice_id>.png")
@role_required("collector", "supervisor")
def notice_png(account_id: str, notice_id: int) -> Any:
    import tempfile
    from pathlib import Path

    with _session() as session:
        data = bytes(_notice(session, account_id, notice_id).pdf)
    with tempfile.TemporaryDirectory() as tmp:
        path = render_png(data, Path(tmp) / "page1.png", scale=1.5)
        return Response(path.read_bytes(), mimetype="image/png")


@bp.route("/accounts/<account_id>/notices", methods=["POST"])
@role_required("collector", "supervisor")
def send_notice(account_id: str) -> Any:
    with _session() as session:
        account = session.get(db.Account, account_id.upper())
        if account is None:
            abort(404)
        try:
            notice = issue_notice(session, account, datetime.now(timezone.utc), EmailSettings.from_env(), _actor())
            flash(f"Validation notice VN{notice.id}: {notice.method}, {notice.status}.")
        except NoticeError as exc:
            flash(str(exc), "error")
    return redirect(url_for("compliance.account_page", account_id=account_id.upper())), 303


@bp.route("/accounts/<account_id>/notices/<int:notice_id>/mailed", methods=["POST"])
@role_required("collector", "supervisor")
def notice_mailed(account_id: str, notice_id: int) -> Any:
    with _session() as session:
        _notice(session, account_id, notice_id)
        try:
            mark_mailed(session, notice_id, datetime.now(timezone.utc), _actor())
            flash(f"VN{notice_id} marked posted.")
        except NoticeError as exc:
            flash(str(exc), "error")
    return redirect(url_for("compliance.account_page", account_id=account_id.upper())), 303


@bp.route("/accounts/<account_id>/breathing-space", methods=["POST"])
@role_required("collector", "supervisor")
def breathing_space(account_id: str) -> Any:
    try:
        start = date.fromisoformat(request.form.get("start") or date.today().isoformat())
        with _session() as session:
            record_breathing_space(
                session,
                account_id=account_id.upper(),
                reference=request.form.get("reference", ""),
                kind=request.form.get("type", ""),
                start=start,
                actor=_actor(),
            )
        flash("Breathing Space recorded: collection contact stops and interest and charges are frozen.")
    except (BreathingSpaceError, ValueError) as exc:
        flash(f"Not recorded: {exc}", "error")
    return redirect(url_for("compliance.account_page", account_id=account_id.upper())), 303


@bp.route("/accounts/<account_id>/breathing-space/ended", methods=["POST"])
@role_required("collector", "supervisor")
def breathing_space_ended(account_id: str) -> Any:
    try:
        ended = date.fromisoformat(request.form.get("ended") or date.today().isoformat())
    except ValueError as exc:
        flash(f"Not recorded: {exc}", "error")
    else:
        with _session() as session:
            record_treatment_ended(session, account_id=account_id.upper(), ended=ended, actor=_actor())
        flash("Crisis treatment end recorded: the moratorium ends 30 days later.")
    return redirect(url_for("compliance.account_page", account_id=account_id.upper())), 303


@bp.route("/accounts/<account_id>/scra-documents", methods=["POST"])
@role_required("collector", "supervisor")
def scra_documents(account_id: str) -> Any:
    with _session() as session:
        if session.get(db.Account, account_id.upper()) is None:
            abort(404)
        db.log_contact(
            session,
            account_id=account_id.upper(),
            channel="mail",
            direction="inbound",
            event=SCRA_RECEIVED,
            detail=f"orders or written notice received by {current_user.username} (50 U.S.C. 3937(b))",
        )
    flash("SCRA documents recorded.")
    return redirect(url_for("compliance.account_page", account_id=account_id.upper())), 303
