"""Outreach command and scheduler: contact the accounts due under their strategy, through the
compliance gate, and open each SMS conversation in Rasa.

    python -m scripts.outreach --dry-run                     # what would be sent, why the rest wait
    python -m scripts.outreach --at 2026-11-30T21:00:00+00:00
    python -m scripts.outreach --account A-5150 --account A-5151
    python -m scripts.outreach --every 900                   # scheduler: a run every 15 minutes

Settings from the environment, with the same defaults as ``make run`` (scripts/services.py
``base_env``), so a run next to ``make run`` needs none: DATABASE_URL; TWILIO_ACCOUNT_SID,
TWILIO_AUTH_TOKEN, TWILIO_NUMBER (local development values); TWILIO_API_BASE_URL (default the
local fake of Twilio's API, http://127.0.0.1:FAKE_TWILIO_PORT, FAKE_TWILIO_PORT default 8099);
PUBLIC_URL (default http://127.0.0.1:RASA_PORT, where delivery statuses are sent); RASA_URL
(default http://127.0.0.1:RASA_PORT, RASA_PORT default 5005) and RASA_API_TOKEN (default the one
``make run`` keeps in var/rasa_api_token) for Rasa's HTTP API.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

from sqlalchemy import select

from bot import db
from bot.cli import iso_instant
from bot.outreach.campaigns import RasaOpener, RunResult, run
from bot.outreach.strategies import strategies
from bot.settings import DataFileError
from bot.telephony import TwilioSender, TwilioSettings
from scripts.services import base_env


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from exc
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    return seconds


def unknown_accounts(references: list[str]) -> list[str]:
    """The account references (any case) that are not in the system of record, as given."""
    wanted = {ref.strip().upper(): ref for ref in references}
    with db.session_scope() as session:
        known = set(session.execute(select(db.Account.id).where(db.Account.id.in_(list(wanted)))).scalars())
    return [ref for key, ref in wanted.items() if key not in known]


def report(result: RunResult, dry_run: bool, out: object = sys.stdout) -> None:
    """Print the sends (with the texts on a dry run) and the deferrals counted by reason."""
    verb = "would send" if dry_run else "sent"
    for a in result.attempts:
        if a.outcome == "send":
            print(
                f"{verb:>10} {a.channel:<5} {a.account_id} {a.phone} [{a.strategy}; {a.segment}] {a.reason}", file=out
            )  # type: ignore[call-overload]
            if dry_run:
                for body in result.messages.get(a.account_id, []):
                    print(f"{'':>17}| {body}", file=out)  # type: ignore[call-overload]
    total = sum(result.sent.values())
    deferred = sum(1 for a in result.attempts if a.outcome != "send")
    print(f"\n{verb}: {total} ({', '.join(f'{c} {n}' for c, n in sorted(result.sent.items())) or 'none'})", file=out)  # type: ignore[call-overload]
    print(f"deferred or held: {deferred} accounts; by reason:", file=out)  # type: ignore[call-overload]
    for code, n in result.deferred.most_common():
        print(f"  {n:>5}  {code}", file=out)  # type: ignore[call-overload]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.outreach", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent; send and record nothing")
    parser.add_argument("--at", type=iso_instant, help="the run's clock, ISO with offset (default: now)")
    parser.add_argument("--account", action="append", help="only this account (repeatable)")
    parser.add_argument("--no-open", action="store_true", help="send without opening conversations in Rasa")
    parser.add_argument("--every", type=_positive_seconds, help="scheduler: run every N seconds (> 0) until stopped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.account and (unknown := unknown_accounts(args.account)):
        parser.error(f"unknown account: {', '.join(unknown)}")
    try:
        strategies()  # a bad strategy file stops here with the file and field named
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sender = None
    opener = None
    if not args.dry_run:
        env = base_env()  # make run's defaults: the local fake of Twilio, the Rasa server on RASA_PORT
        sender = TwilioSender(TwilioSettings.from_env(env))
        if not args.no_open:
            rasa_url = env.get("RASA_URL") or f"http://127.0.0.1:{env['RASA_PORT']}"
            opener = RasaOpener(rasa_url, env["RASA_API_TOKEN"])
    while True:
        now = args.at or datetime.now(timezone.utc)
        with db.session_scope() as session:
            result = run(session, now, sender, opener, args.account, progress=not args.quiet)
        print(f"outreach run at {now.isoformat()} over {len(result.attempts)} accounts")
        report(result, args.dry_run)
        if not args.every:
            return 0
        try:
            time.sleep(args.every)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
