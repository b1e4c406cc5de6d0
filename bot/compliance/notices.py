"""The validation notice (12 CFR 1006.34): generated per account as a PDF laid out after the
CFPB's model form B-1 (texts in ``data/notices/validation_notice_en.yml``), with the itemization
date, the itemization (interest, fees, payments and credits since), the validation period's end
(business days and US federal holidays, :mod:`bot.compliance.validation`), the dispute and
original-creditor prompts and a tear-off response form.

It is sent by e-mail where the debtor gave an address we may use (12 CFR 1006.6(d)(4)) and E-SIGN
consent (15 U.S.C. 7001(c); 12 CFR 1006.42), otherwise queued for mail until the post room marks
it posted. Its sending, not its queueing, is what lifts a dispute hold: when a dispute or a
request for the original creditor is open, sending the notice sends the verification, and only
then is ``verification_sent`` recorded (12 CFR 1006.38(c), (d)(2)).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import yaml
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.compliance.gate import ContactRequest, active_holds
from bot.compliance.profiles import profile_for
from bot.compliance.service import history_for
from bot.compliance.validation import CITATION as PERIOD_CITATION
from bot.compliance.validation import validation_period_end
from bot.mailer import EmailError, EmailSettings, send_email, usable_address
from bot.money import Money
from bot.settings import DATA, contact_for
from bot.texts import texts_for

NOTICE_TEXTS = DATA / "notices"
# the holds under which no notice goes out at all (the debtor asked us to stop, is represented,
# bankrupt, deceased, or in Breathing Space); a dispute's hold is what the notice answers
BLOCKING_HOLDS = {
    "hold_cease_contact",
    "hold_attorney",
    "hold_bankruptcy",
    "hold_deceased",
    "hold_breathing_space",
    "hold_breathing_space_mental_health",
}
LIFTED_BY_NOTICE = ("hold_dispute", "hold_validation_requested")
VERIFICATION_EVENT = "verification_sent"


class NoticeError(RuntimeError):
    """The notice cannot be generated or sent; the message says why."""


@dataclass(frozen=True)
class NoticeContent:
    """Everything the notice says. Money in the account's currency; dates are the debtor's."""

    reference: str
    business_name: str
    mailing_address: str
    phone: str
    email: str
    consumer_name: str
    consumer_address: str
    creditor: str
    product: str
    last_four: str
    itemization_date: date
    itemization_balance: Money
    interest: Money
    fees: Money
    credits: Money
    total: Money
    sent_on: date
    period_end: date
    locale: str


@cache
def notice_texts(language: str = "en") -> dict[str, str]:
    """The notice's texts in ``language`` (English when there is no file for it)."""
    path = NOTICE_TEXTS / f"validation_notice_{language}.yml"
    if not path.exists():
        path = NOTICE_TEXTS / "validation_notice_en.yml"
    raw = yaml.safe_load(path.read_text())
    return {str(k): str(v) for k, v in raw.items()}


def itemization(account: db.Account) -> tuple[date, Money, Money, Money, Money]:
    """(itemization date, balance then, interest, fees, payments and credits since) of the
    account (12 CFR 1006.34(c)(2)(vi)-(viii)); an account with no itemization on file is itemized
    as of today with nothing since."""
    currency = str(account.currency)
    interest = Money(int(account.interest_since_minor or 0), currency)
    fees = Money(int(account.fees_since_minor or 0), currency)
    credits = Money(int(account.credits_since_minor or 0), currency)
    if account.itemization_date is None or account.itemization_balance_minor is None:
        return date.today(), account.balance, Money(0, currency), Money(0, currency), Money(0, currency)
    return account.itemization_date, Money(int(account.itemization_balance_minor), currency), interest, fees, credits


def content_for(account: db.Account, sent_on: date, reference: str | None = None) -> NoticeContent:
    """The notice for ``account`` provided on ``sent_on`` (the debtor's local date)."""
    contact = contact_for(str(account.jurisdiction))
    item_date, item_balance, interest, fees, credits = itemization(account)
    total = Money(item_balance.minor + interest.minor + fees.minor - credits.minor, item_balance.currency)
    debtor = account.debtor
    return NoticeContent(
        reference=reference or f"{account.id}-VN",
        business_name=contact.business_name,
        mailing_address=contact.mailing_address,
        phone=contact.phone,
        email="disputes@example.test",
        consumer_name=str(debtor.full_name),
        consumer_address=str(debtor.mailing_address or debtor.postcode),
        creditor=str(account.creditor or contact.business_name),
        product=str(account.product).replace("_", " "),
        last_four=str(account.last_four),
        itemization_date=item_date,
        itemization_balance=item_balance,
        interest=interest,
        fees=fees,
        credits=credits,
        total=total,
        sent_on=sent_on,
        period_end=validation_period_end(sent_on),
        locale=contact.locale,
    )


def _day(value: date) -> str:
    return value.strftime("%B %-d, %Y")


class _NoticePdf(FPDF):
    def rule(self) -> None:
        self.set_draw_color(90, 90, 90)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)


def render_pdf(content: NoticeContent, language: str = "en") -> bytes:
    """The notice as PDF bytes (US Letter, one page, the tear-off form at the bottom)."""
    t = notice_texts(language)
    fields: dict[str, Any] = {
        "business_name": content.business_name,
        "mailing_address": content.mailing_address,
        "phone": content.phone,
        "email": content.email,
        "creditor": content.creditor,
        "product": content.product,
        "last_four": content.last_four,
        "itemization_date": _day(content.itemization_date),
        "period_end": _day(content.period_end),
        "reference": content.reference,
    }

    def text(key: str) -> str:
        return t[key].format(**fields)

    def money(value: Money, sign: str = "") -> str:
        return f"{sign}{value.format(content.locale)}"

    pdf = _NoticePdf(format="Letter", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_margins(16, 12, 16)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(width / 2, 5, content.business_name)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(width / 2, 5, text("reference"), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(width / 2, 4, f"{content.mailing_address}\n{content.phone}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.multi_cell(width / 2, 4, f"To: {content.consumer_address}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(pdf.l_margin + width / 2, pdf.get_y() - 8)
    pdf.cell(width / 2, 4, _day(content.sent_on), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(width, 7, text("title"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9.5)
    pdf.multi_cell(width, 4.5, text("intro"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 9.5)
    pdf.cell(width, 5, text("our_information"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9.5)
    pdf.multi_cell(width, 4.5, text("account_line"), new_x="LMARGIN", new_y="NEXT")
    rows = [
        (text("itemization_heading"), money(content.itemization_balance), True),
        (text("interest_line"), "", False),
        (t["interest_label"], money(content.interest, "+ "), False),
        (t["fees_label"], money(content.fees, "+ "), False),
        (t["credits_label"], money(content.credits, "- "), False),
        (t["total_label"], money(content.total), True),
    ]
    for label, value, bold in rows:
        pdf.set_font("Helvetica", "B" if bold else "", 9.5)
        indent = 0 if bold or not value else 6
        pdf.set_x(pdf.l_margin + indent)
        pdf.cell(width * 0.72 - indent, 5, label)
        pdf.cell(width * 0.28, 5, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for heading, bodies in (
        ("dispute_heading", ("dispute_call", "dispute_write")),
        ("else_heading", ("original_creditor", "cfpb", "payment_options", "spanish")),
    ):
        pdf.set_font("Helvetica", "B", 10.5)
        pdf.cell(width, 6, text(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9.5)
        for key in bodies:
            pdf.multi_cell(width, 4.5, text(key), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    pdf.set_font("Helvetica", "", 8.5)
    pdf.multi_cell(width, 4, text("contact_line"), new_x="LMARGIN", new_y="NEXT")
    # the tear-off response form
    pdf.ln(3)
    pdf.set_dash_pattern(dash=1.5, gap=1.5)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.set_dash_pattern()
    pdf.ln(1)
    pdf.set_font("Helvetica", "I", 8)
    pdf.cell(width, 4, text("tear_off"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font("Helvetica", "B", 10.5)
    pdf.cell(width / 2, 6, text("form_heading"))
    pdf.set_font("Helvetica", "", 8.5)
    pdf.multi_cell(
        width / 2,
        4,
        f"{content.consumer_address}\n{text('reference')}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 9.5)
    pdf.cell(width, 5, text("form_check"), new_x="LMARGIN", new_y="NEXT")
    boxes = [
        ("form_dispute", 0, False),
        ("form_not_mine", 6, True),
        ("form_amount_wrong", 6, True),
        ("form_other", 6, True),
        ("form_original_creditor", 0, True),
        ("form_enclosed", 0, True),
        ("form_spanish", 0, True),
    ]
    for key, indent, box in boxes:
        x = pdf.l_margin + indent
        if box:
            pdf.rect(x, pdf.get_y() + 1, 3, 3)
        pdf.set_x(x + (5 if box else 0))
        pdf.multi_cell(width - indent - 5, 4.5, text(key), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render_png(pdf: bytes, path: Path, scale: float = 2.0) -> Path:
    """Page 1 of ``pdf`` rendered to a PNG at ``path`` (pypdfium2; ``scale`` 2 is 144 dpi)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=scale).to_pil()
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    finally:
        document.close()
    return path


def _local_today(account: db.Account, now: datetime) -> date:
    return now.astimezone(ZoneInfo(str(account.time_zone))).date()


def _blocking(session: Session, account: db.Account, now: datetime) -> tuple[list[str], list[str]]:
    """(holds that stop any notice, holds the notice answers) in force for the account."""
    request = ContactRequest(str(account.id), str(account.jurisdiction), "email", str(account.time_zone))
    codes = [
        r.code
        for r in active_holds(
            profile_for(str(account.jurisdiction)), request, history_for(session, str(account.id)), now
        )
    ]
    return [c for c in codes if c in BLOCKING_HOLDS], [c for c in codes if c in LIFTED_BY_NOTICE]


def create_notice(session: Session, account: db.Account, now: datetime) -> db.ValidationNotice:
    """Generate the notice for ``account`` as of ``now`` (aware) and decide how it goes: by
    e-mail when the debtor's address may be used (1006.6(d)(4)), they gave E-SIGN consent and
    have not opted out of e-mail; otherwise by mail. Raises :class:`NoticeError` for an account
    outside the US, or when a hold stops all contact (cease, attorney, bankruptcy, deceased)."""
    if not str(account.jurisdiction).startswith("US"):
        raise NoticeError(f"no notice for {account.id}: the validation notice is a US rule (12 CFR 1006.34)")
    blocking, _ = _blocking(session, account, now)
    if blocking:
        raise NoticeError(f"no notice for {account.id}: {', '.join(blocking)}")
    sent_on = _local_today(account, now)
    debtor = account.debtor
    opted_out = (
        session.execute(
            select(db.OptOut.id).where(db.OptOut.address == (debtor.email or "").lower(), db.OptOut.channel == "email")
        ).first()
        is not None
    )
    by_email = (
        debtor.esign_consent_at is not None
        and usable_address(debtor.email, debtor.email_source) is None
        and not opted_out
    )
    row = db.ValidationNotice(
        account_id=str(account.id),
        sent_on=sent_on,
        period_end=validation_period_end(sent_on),
        itemization_date=itemization(account)[0],
        method="email" if by_email else "mail",
        status="queued",
        to_address=str(debtor.email if by_email else (debtor.mailing_address or debtor.postcode)),
        pdf=b"",
    )
    session.add(row)
    session.flush()
    row.pdf = render_pdf(content_for(account, sent_on, f"{account.id}-VN{row.id}"))
    db.log_contact(
        session,
        account_id=str(account.id),
        channel=str(row.method),
        direction="outbound",
        event="validation_notice_created",
        detail=f"VN{row.id} by {row.method}; dispute by {row.period_end.isoformat()} ({PERIOD_CITATION})",
    )
    return row


def _sent(session: Session, notice: db.ValidationNotice, now: datetime, actor: str) -> None:
    """Mark ``notice`` sent; when a dispute (or a request for the original creditor) is open,
    this is the verification being sent, which lifts its hold (12 CFR 1006.38(d)(2))."""
    account = session.get(db.Account, notice.account_id)
    assert account is not None
    _, answered = _blocking(session, account, now)
    notice.status, notice.sent_at = "sent", now
    db.log_contact(
        session,
        account_id=str(notice.account_id),
        channel=str(notice.method),
        direction="outbound",
        event="validation_notice_sent",
        detail=f"VN{notice.id} sha256={hashlib.sha256(notice.pdf).hexdigest()[:16]}",
    )
    if answered:
        db.log_contact(
            session,
            account_id=str(notice.account_id),
            channel=str(notice.method),
            direction="outbound",
            event=VERIFICATION_EVENT,
            detail=f"VN{notice.id} answers {', '.join(answered)} (12 CFR 1006.38(c), (d)(2))",
        )
    audit.record(
        session,
        actor=actor,
        action="validation_notice_sent",
        outcome="recorded",
        account_id=str(notice.account_id),
        reasons=answered,
        detail={"notice": notice.id, "method": notice.method, "period_end": notice.period_end.isoformat()},
    )


def send_notice(
    session: Session, notice: db.ValidationNotice, now: datetime, settings: EmailSettings, actor: str = "notices"
) -> db.ValidationNotice:
    """E-mail a notice queued for e-mail (the PDF attached, the opt-out link in it); a notice for
    mail stays queued for the post room (:func:`mark_mailed`). A refused e-mail is marked failed
    with the error and nothing is lifted."""
    if notice.method != "email" or notice.status == "sent":
        return notice
    account = session.get(db.Account, notice.account_id)
    assert account is not None
    t = texts_for(None, str(account.jurisdiction))
    contact = contact_for(str(account.jurisdiction))
    disclosure = profile_for(str(account.jurisdiction)).disclosures.first.text_for(t.language)
    try:
        send_email(
            settings,
            to=str(notice.to_address),
            subject=t.get("email.notice.subject", business_name=contact.business_name),
            body=t.get(
                "email.notice.body",
                name=str(account.debtor.full_name),
                disclosure=disclosure,
                period_end=_day(notice.period_end),
                phone=contact.phone,
                business_name=contact.business_name,
            ),
            account_id=str(account.id),
            footer=t.get("email.footer"),
            attachments=((f"validation-notice-{account.id}.pdf", bytes(notice.pdf), "application/pdf"),),
        )
    except EmailError as exc:
        notice.status, notice.error = "failed", str(exc)[:1000]
        db.log_contact(
            session,
            account_id=str(account.id),
            channel="email",
            direction="outbound",
            event="email_failed",
            detail=f"VN{notice.id}: {exc}"[:1000],
        )
        return notice
    _sent(session, notice, now, actor)
    db.log_contact(
        session,
        account_id=str(account.id),
        channel="email",
        direction="outbound",
        event="email_sent",
        detail=f"validation notice VN{notice.id}",
    )
    return notice


def mark_mailed(session: Session, notice_id: int, now: datetime, actor: str) -> db.ValidationNotice:
    """The post room posted a notice queued for mail: it is sent now. Raises :class:`NoticeError`
    for an unknown notice or one that is not queued for mail."""
    notice = session.get(db.ValidationNotice, notice_id)
    if notice is None or notice.method != "mail" or notice.status != "queued":
        raise NoticeError(f"no notice VN{notice_id} queued for mail")
    _sent(session, notice, now, actor)
    return cast(db.ValidationNotice, notice)


def issue_notice(
    session: Session, account: db.Account, now: datetime, settings: EmailSettings, actor: str
) -> db.ValidationNotice:
    """Generate the notice and send it: e-mailed at once, or queued for mail."""
    notice = create_notice(session, account, now)
    return send_notice(session, notice, now, settings, actor)


def latest_notice(session: Session, account_id: str) -> db.ValidationNotice | None:
    """The account's most recent notice, or None."""
    row = session.execute(
        select(db.ValidationNotice)
        .where(db.ValidationNotice.account_id == account_id)
        .order_by(db.ValidationNotice.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return cast("db.ValidationNotice | None", row)


def pdf_stream(notice: db.ValidationNotice) -> io.BytesIO:
    """The notice's PDF as a stream (for a download)."""
    return io.BytesIO(bytes(notice.pdf))
