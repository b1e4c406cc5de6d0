"""E-mail as a channel: notices and reminders sent through SMTP, each with a working opt-out
link (12 CFR 1006.6(e)) that the e-mail channel (channels/email.py) records in the opt-out ledger.

Settings from the environment: SMTP_HOST (default 127.0.0.1), SMTP_PORT (default 8025),
SMTP_USER and SMTP_PASSWORD (login when set), SMTP_STARTTLS ("true" to upgrade the connection),
SMTP_FROM (the sender), PUBLIC_URL (where the opt-out link points) and EMAIL_SECRET (signs the
opt-out links; default a random one kept in var/email_secret, share it between replicas).

Which addresses may be used (``data/email.yml``): one resting on a 12 CFR 1006.6(d)(4)
safe-harbour procedure (``debtors.email_source``), never an employer's (1006.22(f)(3)).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import smtplib
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from pathlib import Path

from bot.settings import DataFileError, read_data_file

ROOT = Path(__file__).resolve().parent.parent
UNSUBSCRIBE_PATH = "/webhooks/email/unsubscribe"


class EmailError(RuntimeError):
    """The SMTP server refused or could not be reached; the message says which."""


@dataclass(frozen=True)
class EmailSettings:
    """SMTP settings (see the module docstring)."""

    host: str
    port: int
    user: str
    password: str
    starttls: bool
    sender: str
    public_url: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> EmailSettings:
        """Settings from ``env`` (default ``os.environ``)."""
        env = dict(os.environ) if env is None else env
        return cls(
            host=env.get("SMTP_HOST", "127.0.0.1"),
            port=int(env.get("SMTP_PORT", "8025")),
            user=env.get("SMTP_USER", ""),
            password=env.get("SMTP_PASSWORD", ""),
            starttls=env.get("SMTP_STARTTLS", "false").lower() == "true",
            sender=env.get("SMTP_FROM", "Example Lending <notices@example.test>"),
            public_url=env.get("PUBLIC_URL", "http://127.0.0.1:5005").rstrip("/"),
        )


@dataclass(frozen=True)
class SafeHarbour:
    """One 12 CFR 1006.6(d)(4) procedure an address may rest on."""

    source: str
    citation: str
    procedure: str


@cache
def email_rules() -> tuple[dict[str, SafeHarbour], tuple[str, ...]]:
    """(safe-harbour procedures by ``email_source``, employers' e-mail domains) from data/email.yml."""
    raw = read_data_file("email.yml")
    table = raw.get("safe_harbour_procedures")
    if not isinstance(table, dict) or not table:
        raise DataFileError("data/email.yml: 'safe_harbour_procedures' must map sources to procedures")
    procedures = {}
    for source, item in table.items():
        if not isinstance(item, dict) or not item.get("citation") or not item.get("procedure"):
            raise DataFileError(f"data/email.yml: safe_harbour_procedures.{source} needs 'citation' and 'procedure'")
        procedures[str(source)] = SafeHarbour(str(source), str(item["citation"]), str(item["procedure"]))
    return procedures, tuple(str(d).lower() for d in raw.get("work_domains") or [])


def usable_address(email: str | None, source: str | None) -> str | None:
    """Why ``email`` may not be written to (None when it may): missing, resting on no
    1006.6(d)(4) procedure, or an employer's address (12 CFR 1006.22(f)(3))."""
    procedures, work_domains = email_rules()
    if not email or "@" not in email:
        return "no_email_address"
    if source not in procedures:
        return "no_safe_harbour_procedure"
    if email.rsplit("@", 1)[1].lower() in work_domains:
        return "work_email_address"
    return None


def _secret() -> bytes:
    env = os.environ.get("EMAIL_SECRET")
    if env:
        return env.encode()
    path = ROOT / "var" / "email_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def unsubscribe_token(address: str, account_id: str | None) -> str:
    """A token naming the address and account that only this deployment can have signed."""
    payload = f"{address.lower()}|{account_id or ''}"
    mac = hmac.new(_secret(), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return urllib.parse.quote(f"{payload}|{mac}", safe="")


def read_unsubscribe_token(token: str) -> tuple[str, str | None] | None:
    """(address, account id) from a token made by :func:`unsubscribe_token`, or None when forged."""
    parts = urllib.parse.unquote(token or "").split("|")
    if len(parts) != 3 or len(token) > 600:
        return None
    address, account_id, mac = parts
    expected = hmac.new(_secret(), f"{address}|{account_id}".encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace")):
        return None
    return address, account_id or None


def unsubscribe_url(settings: EmailSettings, address: str, account_id: str | None) -> str:
    """The opt-out link of an e-mail to ``address`` (12 CFR 1006.6(e))."""
    return f"{settings.public_url}{UNSUBSCRIBE_PATH}?t={unsubscribe_token(address, account_id)}"


def send_email(
    settings: EmailSettings,
    *,
    to: str,
    subject: str,
    body: str,
    account_id: str | None,
    footer: str,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
) -> str:
    """Send one e-mail through SMTP and return its Message-ID. ``footer`` (with an
    ``{unsubscribe_url}`` field) is appended to ``body``, and the same link goes in the
    List-Unsubscribe headers (RFC 2369, RFC 8058 one-click). ``attachments`` are (file name,
    bytes, MIME type such as "application/pdf"). Raises :class:`EmailError`."""
    link = unsubscribe_url(settings, to, account_id)
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[-1].strip("> ") or None)
    message["List-Unsubscribe"] = f"<{link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(f"{body.rstrip()}\n\n{footer.format(unsubscribe_url=link)}\n")
    for name, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.user:
                smtp.login(settings.user, settings.password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailError(f"e-mail to {to} not sent: {exc}") from exc
    return str(message["Message-ID"])
