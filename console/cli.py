"""Console administration: ``python -m console.cli create-user NAME --role collector``."""

from __future__ import annotations

import argparse
import getpass
import sys

from bot import db
from console.models import ROLES, UserError, create_user, ensure_tables


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 done, 1 refused, 2 bad arguments)."""
    parser = argparse.ArgumentParser(prog="python -m console.cli", description="Collector console users")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-user", help="add a console user (asks for the password)")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, default="collector")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)

    if args.command == "create-user":
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Again: "):
                print("the passwords differ", file=sys.stderr)
                return 1
        ensure_tables()
        try:
            with db.session_scope() as session:
                create_user(session, args.username, password, args.role)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"created {args.role} {args.username!r} in {db.database_url()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
