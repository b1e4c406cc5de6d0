"""What the servers expose: with the default settings the action server (no authentication, it
answers with account data for any tracker it is sent) and the Rasa server listen on loopback only."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Bot

LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as in /proc/net/tcp*) with a socket listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == LISTEN:
                found.add(address)
    return found


def test_action_and_rasa_servers_listen_on_loopback_only(bot: Bot) -> None:
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    for name in ("ACTION_PORT", "RASA_PORT"):
        addresses = listening_addresses(int(bot.env[name]))
        assert addresses, f"nothing listens on {name}"
        assert addresses <= loopback, f"{name} listens on {addresses}"
