"""Send one inbound SMS to the running bot as Twilio would and print the replies, as the debtor's
phone would show them: through the local fake of Twilio when it runs (which, like Twilio's
Advanced Opt-Out, answers STOP, START and HELP itself before passing them on), else as a signed
webhook straight to the bot; the replies are the local fake's record of what was sent.

    .venv/bin/python -m scripts.sms +16175550101 "hi"
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
import uuid

from twilio.request_validator import RequestValidator

from bot.verification import sender_phone
from scripts.services import base_env


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    phone, text = argv
    env = base_env()
    fake = f"http://127.0.0.1:{env['FAKE_TWILIO_PORT']}/fake/messages"
    before = len(json.load(urllib.request.urlopen(fake, timeout=5)))
    try:
        inbound = urllib.request.Request(
            f"http://127.0.0.1:{env['FAKE_TWILIO_PORT']}/fake/inbound",
            data=json.dumps({"from": phone, "to": env["TWILIO_NUMBER"], "body": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(inbound, timeout=30).read()
    except OSError:
        _post_webhook(env, phone, text)  # no local fake of Twilio: straight to the bot
    deadline = time.monotonic() + 15
    number = sender_phone(phone) or phone

    def replies() -> list[dict[str, str]]:  # only this number's: other conversations may be going on
        return [m for m in json.load(urllib.request.urlopen(fake, timeout=5))[before:] if m.get("to") == number]

    while time.monotonic() < deadline:
        if replies():
            time.sleep(0.5)
            for message in replies():
                print(f"> {message['body']}")
            return 0
        time.sleep(0.2)
    print("(no reply within 15 s)")
    return 1


def _post_webhook(env: dict[str, str], phone: str, text: str) -> None:
    """The inbound SMS as a signed Twilio webhook, straight to the bot's SMS channel."""
    url = f"{env['PUBLIC_URL']}/webhooks/twilio_sms/webhook"
    params = {
        "From": phone,
        "To": env["TWILIO_NUMBER"],
        "Body": text,
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "NumMedia": "0",
    }
    signature = RequestValidator(env["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    request = urllib.request.Request(
        f"http://127.0.0.1:{env['RASA_PORT']}/webhooks/twilio_sms/webhook",
        data=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    urllib.request.urlopen(request, timeout=30).read()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
