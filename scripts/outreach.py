"""Outreach command and scheduler: contact the accounts due under their strategy, through the
compliance gate, and open each SMS conversation in Rasa.

    python -m scripts.outreach --dry-run                     # what would be sent, why the rest wait
    python -m scripts.outreach --at 2026-11-30T21:00:00+00:00
    python -m scripts.outreach --account A-5150 --account A-5151
    python -m scripts.outreach --every 900                   # scheduler: a run every 15 minutes

Settings from the environment: DATABASE_URL; TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
TWILIO_NUMBER, TWILIO_API_BASE_URL, PUBLIC_URL (as the channels); RASA_URL (default
http://127.0.0.1:RASA_PORT) and RASA_API_TOKEN for Rasa's HTTP API.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bot import db
from bot.outreach import RasaOpener, RunResult, TwilioSender, run
from bot.settings import DataFileError
from bot.strategies import strategies

ROOT = Path(__file__).resolve().parent.parent


def _parse_at(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO instant: {value!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a UTC offset, e.g. 2026-11-30T21:00:00+00:00")
    return moment


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
    parser.add_argument("--at", type=_parse_at, help="the run's clock, ISO with offset (default: now)")
    parser.add_argument("--account", action="append", help="only this account (repeatable)")
    parser.add_argument("--no-open", action="store_true", help="send without opening conversations in Rasa")
    parser.add_argument("--every", type=float, help="scheduler: run every N seconds until stopped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        strategies()  # a bad strategy file stops here with the file and field named
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = os.environ
    sender = None
    opener = None
    if not args.dry_run:
        sender = TwilioSender(
            env.get("TWILIO_ACCOUNT_SID", ""),
            env.get("TWILIO_AUTH_TOKEN", ""),
            env.get("TWILIO_NUMBER", ""),
            env.get("TWILIO_API_BASE_URL", "https://api.twilio.com"),
            env.get("PUBLIC_URL", ""),
        )
        if not args.no_open:
            token_file = ROOT / "var" / "rasa_api_token"  # written by `make run`
            token = env.get("RASA_API_TOKEN") or (token_file.read_text().strip() if token_file.exists() else "")
            if not token:
                print("error: RASA_API_TOKEN is not set (or pass --no-open)", file=sys.stderr)
                return 2
            rasa_url = env.get("RASA_URL") or f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}"
            opener = RasaOpener(rasa_url, token)
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
