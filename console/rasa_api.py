"""The few calls the console makes to the Rasa server's HTTP API (``--enable-api``, token auth)
and to the web chat channel."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class RasaUnavailable(RuntimeError):
    """The Rasa server did not accept the call (down, wrong token, bad request)."""


def _post(url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 15) -> Any:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise RasaUnavailable(f"{url.split('?')[0]} answered {exc.code}: {detail}") from exc
    except (OSError, ValueError) as exc:
        raise RasaUnavailable(f"{url.split('?')[0]} unreachable: {exc}") from exc


def append_events(config: dict[str, Any], conversation_id: str, events: list[dict[str, Any]]) -> None:
    """Append Rasa events (their JSON form) to a conversation's tracker.
    Raises :class:`RasaUnavailable`."""
    query = urllib.parse.urlencode({"token": config["RASA_API_TOKEN"]})
    path = urllib.parse.quote(conversation_id, safe="+")
    _post(f"{config['RASA_URL']}/conversations/{path}/tracker/events?{query}", events)


def tracker(config: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """The conversation's tracker as JSON. Raises :class:`RasaUnavailable`."""
    query = urllib.parse.urlencode({"token": config["RASA_API_TOKEN"]})
    path = urllib.parse.quote(conversation_id, safe="+")
    url = f"{config['RASA_URL']}/conversations/{path}/tracker?{query}"
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            return dict(json.loads(resp.read()))
    except (OSError, ValueError) as exc:
        raise RasaUnavailable(f"tracker of {conversation_id} not readable: {exc}") from exc


def webchat_send(config: dict[str, Any], session_id: str, text: str, by: str | None = None) -> bool:
    """Push a collector's message (from ``by``) to a web chat session; True when a browser is
    connected to it (else the chat shows it when the debtor returns). Raises :class:`RasaUnavailable`."""
    answer = _post(
        f"{config['RASA_URL']}/webhooks/webchat/collector_message",
        {"session_id": session_id, "text": text, "by": by},
        headers={"Authorization": f"Bearer {config['RASA_API_TOKEN']}"},
    )
    return bool((answer or {}).get("delivered"))


def rest_keep(config: dict[str, Any], sender: str, text: str, by: str | None = None) -> None:
    """Keep a collector's message (from ``by``) for a REST conversation: the client gets it the
    next time it calls (channels/rest.py). Raises :class:`RasaUnavailable`."""
    _post(
        f"{config['RASA_URL']}/webhooks/rest/collector_message",
        {"sender": sender, "text": text, "by": by},
        headers={"Authorization": f"Bearer {config['RASA_API_TOKEN']}"},
    )
