"""Command line for the system of record: ``python -m bot.cli --help``."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone

from bot import db
from bot.money import Money
from bot.outreach.portfolio import count_accounts, iter_generate, load_into


def iso_instant(value: str) -> datetime:
    """argparse type: an ISO 8601 instant with a UTC offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO instant: {value!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a UTC offset, e.g. 2026-11-29T21:00:00+00:00")
    return moment


def _payment_date(value: str) -> date:
    """argparse type: a date YYYY-MM-DD that is not after today (a payment already received)."""
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from exc
    if day > date.today():
        raise argparse.ArgumentTypeError(f"{value} is in the future; record a payment once it is received")
    return day


def _count(value: str) -> int:
    """argparse type: a number of accounts, 0 or more (digits, "_" allowed: 1_000_000)."""
    try:
        count = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of accounts: {value!r}") from exc
    if count < 0:
        raise argparse.ArgumentTypeError("the number of accounts cannot be negative")
    return count


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot.cli", description="Collections system of record")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load-portfolio", help="load the synthetic demo portfolio (fixture accounts included)")
    load.add_argument("--if-empty", action="store_true", help="do nothing when accounts already exist")
    load.add_argument("--count", type=_count, help="generated accounts besides the fixtures (default: the spec's, 240)")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    show = sub.add_parser("account", help="show one account and its promises to pay")
    show.add_argument("account_id")
    show.add_argument("--log", action="store_true", help="also print the contact log")
    gate = sub.add_parser("gate", help="ask the compliance gate whether an outbound contact is allowed now")
    gate.add_argument("account_id")
    gate.add_argument("--channel", default="sms", choices=["sms", "voice", "email"])
    gate.add_argument(
        "--at", type=iso_instant, help="ISO instant with offset, e.g. 2026-11-29T21:00:00+00:00 (default: now)"
    )
    gate.add_argument("--phone", help="the typed number to call or text (default: the debtor's mobile)")
    notice = sub.add_parser("notice", help="generate the validation notice (12 CFR 1006.34) and send it")
    notice.add_argument("account_id")
    notice.add_argument("--at", type=iso_instant, help="ISO instant with offset (default: now)")
    notice.add_argument("--png", help="also render page 1 to this PNG file")
    mailed = sub.add_parser("notice-mailed", help="the post room posted a validation notice queued for mail")
    mailed.add_argument("notice_id", type=int)
    space = sub.add_parser("breathing-space", help="record a UK Breathing Space moratorium (SI 2020/1311)")
    space.add_argument("account_id")
    space.add_argument("--reference", required=True, help="the Insolvency Service's reference")
    space.add_argument("--type", required=True, choices=["standard", "mental_health"])
    space.add_argument("--start", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    ended = sub.add_parser("breathing-space-ended", help="a mental health crisis treatment ended (+30 days)")
    ended.add_argument("account_id")
    ended.add_argument("--on", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    scra = sub.add_parser("scra-documents", help="SCRA orders or written notice received (50 U.S.C. 3937(b))")
    scra.add_argument("account_id")
    pay = sub.add_parser("payment", help="record a payment received; it keeps open promises it covers")
    pay.add_argument("account_id")
    pay.add_argument("amount", help="major units in the account currency, more than 0 and at most the balance")
    pay.add_argument("--on", type=_payment_date, help="payment date YYYY-MM-DD, not in the future (default: today)")
    pay.add_argument(
        "--overpayment", action="store_true", help="accept an amount above the balance (the balance becomes 0)"
    )
    kpis = sub.add_parser("kpis", help="KPIs from the stored conversations and the system of record")
    kpis.add_argument("--since", default="7d", help="7d, 12h, 2w or an ISO date (UTC); default 7d")
    kpis.add_argument("--format", default="table", choices=["table", "csv"])
    kpis.add_argument("--by", choices=["day", "channel", "segment"], help="one row per group, then the total")
    kpis.add_argument(
        "--sender-prefix", action="append", default=[], help="count only sender ids starting with this (repeatable)"
    )
    schema_cmd = sub.add_parser("db", help="schema migrations (Alembic) and the bot's PostgreSQL role")
    schema_cmd.add_argument("action", choices=["upgrade", "current", "grant"])
    schema_cmd.add_argument("--role", help="grant: the PostgreSQL role the bot connects as")
    rebuild = sub.add_parser("rebuild-analytics", help="empty the analytics tables and replay the event log into them")
    rebuild.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    if args.command == "db":
        return _db(args.action, args.role)
    if args.command == "rebuild-analytics":
        from bot.analytics import rebuild as rebuild_analytics

        with db.session_scope() as session:
            written = rebuild_analytics(session, progress=not args.quiet)
        print(f"rebuilt {written} conversation rows from the event log in {db.database_url()}")
        return 0
    if args.command == "kpis":
        return _kpis(args.since, args.format, args.by, tuple(args.sender_prefix))

    if args.command == "load-portfolio":
        with db.session_scope() as session:
            if args.if_empty and count_accounts(session):
                print(f"portfolio present: {count_accounts(session)} accounts in {db.database_url()}")
                return 0
            try:
                added = load_into(session, iter_generate(count=args.count), progress=not args.quiet)
            except ValueError as exc:  # the spec's phone ranges cannot hold that many
                print(f"error: {exc}", file=sys.stderr)
                return 2
            total = count_accounts(session)
        print(f"loaded {added} accounts ({total} in total) into {db.database_url()}")
        return 0

    if args.command == "account":
        with db.session_scope() as session:
            account = session.get(db.Account, args.account_id.upper())
            if account is None:
                print(f"no account {args.account_id}", file=sys.stderr)
                return 1
            print(
                f"{account.id}  {account.debtor.full_name}  {account.debtor.phone_e164}  {account.balance}  "
                f"{account.days_past_due} DPD  {account.jurisdiction}  {account.time_zone}"
            )
            for p in session.query(db.PromiseToPay).filter_by(account_id=account.id).order_by(db.PromiseToPay.id):
                print(f"  PTP-{p.id}  {p.amount}  due {p.due_date}  {p.status}  via {p.channel}")
            for a in session.query(db.Arrangement).filter_by(account_id=account.id).order_by(db.Arrangement.id):
                plan_total = Money(int(a.total_minor), str(a.currency))
                print(f"  ARR-{a.id}  {a.kind}  {a.frequency or ''}  {plan_total}  {a.status}  via {a.channel}")
            for o in session.query(db.OptOut).filter_by(account_id=account.id).order_by(db.OptOut.id):
                print(f"  opt-out  {o.channel}  {o.address}  at {o.at:%Y-%m-%d %H:%M}")
            if args.log:
                for c in session.query(db.ContactLog).filter_by(account_id=account.id).order_by(db.ContactLog.id):
                    print(f"  {c.at:%Y-%m-%d %H:%M:%S}  {c.channel:<8} {c.event:<24} {c.detail or ''}")
        return 0
    if args.command == "payment":
        from bot.money import MoneyError
        from bot.repayment.arrangements import record_payment

        with db.session_scope() as session:
            account = session.get(db.Account, args.account_id.upper())
            if account is None:
                print(f"no account {args.account_id}", file=sys.stderr)
                return 1
            try:
                amount = Money.of(args.amount, str(account.currency))
                paid_on = args.on or date.today()
                kept = record_payment(
                    session,
                    account_id=str(account.id),
                    amount=amount,
                    paid_on=paid_on,
                    overpayment=args.overpayment,
                )
            except (MoneyError, ValueError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"{account.id}: {amount} received; balance {account.balance}; kept {kept or 'no promise'}")
        return 0
    if args.command == "gate":
        from bot.compliance.service import gate_contact

        now = args.at or datetime.now(timezone.utc)
        with db.session_scope() as session:
            account = session.get(db.Account, args.account_id.upper())
            if account is None:
                print(f"no account {args.account_id}", file=sys.stderr)
                return 1
            phone = None
            if args.phone:
                phone = session.query(db.PhoneNumber).filter_by(debtor_id=account.debtor_id, e164=args.phone).first()
                if phone is None:
                    print(f"{args.phone} is not a number of {account.id}", file=sys.stderr)
                    return 1
            decision = gate_contact(session, account, args.channel, now, actor="cli", phone=phone)
        print(decision.outcome + (f" until {decision.defer_until.isoformat()}" if decision.defer_until else ""))
        for reason in decision.reasons:
            print(f"  {reason.code}: {reason.citation} {reason.detail}".rstrip())
        return 0
    return _compliance_command(args)


def _compliance_command(args: argparse.Namespace) -> int:
    """notice, notice-mailed, breathing-space, breathing-space-ended, scra-documents."""
    from pathlib import Path

    from bot.compliance.breathing_space import BreathingSpaceError, record_breathing_space, record_treatment_ended
    from bot.compliance.notices import NoticeError, issue_notice, mark_mailed, render_png
    from bot.mailer import EmailSettings

    now = datetime.now(timezone.utc)
    with db.session_scope() as session:
        if args.command == "notice-mailed":
            try:
                notice = mark_mailed(session, args.notice_id, now, actor="cli")
            except NoticeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"VN{notice.id} posted to {notice.to_address}")
            return 0
        account = session.get(db.Account, args.account_id.upper())
        if account is None:
            print(f"no account {args.account_id}", file=sys.stderr)
            return 1
        if args.command == "notice":
            try:
                notice = issue_notice(session, account, args.at or now, EmailSettings.from_env(), actor="cli")
            except NoticeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(
                f"VN{notice.id} for {account.id}: {notice.method} to {notice.to_address}, {notice.status}; "
                f"dispute by {notice.period_end.isoformat()}" + (f" ({notice.error})" if notice.error else "")
            )
            if args.png:
                print(f"page 1: {render_png(bytes(notice.pdf), Path(args.png))}")
            return 0 if notice.status != "failed" else 1
        if args.command == "breathing-space":
            try:
                record_breathing_space(
                    session,
                    account_id=str(account.id),
                    reference=args.reference,
                    kind=args.type,
                    start=args.start or date.today(),
                    actor="cli",
                )
            except BreathingSpaceError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"{account.id}: Breathing Space ({args.type}) {args.reference} recorded")
            return 0
        if args.command == "breathing-space-ended":
            record_treatment_ended(session, account_id=str(account.id), ended=args.on or date.today(), actor="cli")
            print(f"{account.id}: crisis treatment ended; the moratorium ends 30 days later")
            return 0
        if args.command == "scra-documents":
            db.log_contact(
                session,
                account_id=str(account.id),
                channel="mail",
                direction="inbound",
                event="scra_documents_received",
                detail="orders or written notice received (50 U.S.C. 3937(b))",
            )
            print(f"{account.id}: SCRA documents received")
            return 0
    return 2


def _db(action: str, role: str | None) -> int:
    """``db upgrade`` (newest revision), ``db current`` (revision and newest), ``db grant --role R``."""
    from sqlalchemy import create_engine

    from bot import schema

    engine = create_engine(db.database_url(), future=True)
    try:
        if action == "upgrade":
            print(f"database at revision {schema.upgrade(engine)} ({db.database_url()})")
        elif action == "current":
            with engine.connect() as conn:
                print(f"database at revision {schema.current_revision(conn)}; newest {schema.head_revision()}")
        else:
            if not role:
                print("error: db grant needs --role NAME", file=sys.stderr)
                return 2
            schema.grant_app_role(engine, role)
            print(f"granted {role}: read and write, audit_log INSERT and SELECT only")
    except (schema.SchemaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _kpis(since_text: str, fmt: str, by: str | None, prefixes: tuple[str, ...]) -> int:
    """Print the KPI table or CSV; exit code 2 on a bad --since, 1 when the database is unreachable."""
    import csv

    from sqlalchemy.exc import SQLAlchemyError
    from tabulate import tabulate

    from bot.kpis import COLUMNS, format_value, parse_since
    from bot.ops import Scope, kpi_report

    try:
        since = parse_since(since_text, datetime.now(timezone.utc))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        with db.session_scope() as session:
            rows = kpi_report(session, Scope(prefixes, since), by)
    except SQLAlchemyError as exc:
        print(f"cannot read the analytics tables ({exc}); set DATABASE_URL", file=sys.stderr)
        return 1
    header = [by or "group", *(c[0] for c in COLUMNS), "handoff_reasons"]
    table = [
        [
            row.group,
            *(format_value(getattr(row, attr), kind) for _, attr, kind in COLUMNS),
            " ".join(f"{k}={v}" for k, v in sorted(row.handoff_reasons.items())),
        ]
        for row in rows
    ]
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        # CSV carries raw fractions (0-1) so a spreadsheet can compute with them
        for row in rows:
            writer.writerow(
                [
                    row.group,
                    *(
                        "" if (v := getattr(row, attr)) is None else (round(v, 6) if kind != "int" else v)
                        for _, attr, kind in COLUMNS
                    ),
                    " ".join(f"{k}={v}" for k, v in sorted(row.handoff_reasons.items())),
                ]
            )
    else:
        print(f"KPIs since {since:%Y-%m-%d %H:%M} UTC")
        print(tabulate(table, headers=header, tablefmt="simple"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
