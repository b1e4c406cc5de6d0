"""Serve the console with waitress: ``python -m console.serve`` (CONSOLE_HOST, default
127.0.0.1; CONSOLE_PORT, default 5077). Put it behind the TLS reverse proxy in production."""

from __future__ import annotations

import os

from waitress import serve

from console.app import create_app


def main() -> None:
    """Serve until stopped."""
    serve(
        create_app(),
        host=os.environ.get("CONSOLE_HOST", "127.0.0.1"),
        port=int(os.environ.get("CONSOLE_PORT", "5077")),
        threads=8,
        ident="console",
    )


if __name__ == "__main__":
    main()
