"""Twilio request signatures (Twilio's published vectors) and SMS splitting."""

from __future__ import annotations

import json
import urllib.parse
from types import SimpleNamespace

import pytest

from bot.compliance.lint import sms_segments
from bot.sms import split_for_sms
from channels.twilio_common import TwilioSettings, signature_ok
from scripts.services import ROOT

VECTORS = ROOT.parent / "shared" / "data" / "twilio_signature_vectors.json"


def _request(url: str, params: dict[str, str], signature: str) -> SimpleNamespace:
    parts = urllib.parse.urlsplit(url)
    return SimpleNamespace(
        headers={"X-Twilio-Signature": signature},
        path=parts.path,
        query_string=parts.query,
        form={k: [v] for k, v in params.items()},
        body=urllib.parse.urlencode(params).encode(),
    )


def _settings(url: str, token: str) -> TwilioSettings:
    parts = urllib.parse.urlsplit(url)
    return TwilioSettings("AC1", token, "+15550000000", f"{parts.scheme}://{parts.netloc}", "http://x", True)


def test_published_signature_vectors() -> None:
    if not VECTORS.exists():
        pytest.skip(f"vectors not found at {VECTORS}")
    for vector in json.loads(VECTORS.read_text()):
        settings = _settings(vector["url"], vector["auth_token"])
        assert signature_ok(settings, _request(vector["url"], vector["params"], vector["signature"]))
        tampered = dict(vector["params"], **{next(iter(vector["params"])): "changed"})
        assert not signature_ok(settings, _request(vector["url"], tampered, vector["signature"]))
        assert not signature_ok(settings, _request(vector["url"], vector["params"], ""))
        behind_other_host = _settings(
            "https://elsewhere.example" + urllib.parse.urlsplit(vector["url"]).path, vector["auth_token"]
        )
        assert not signature_ok(behind_other_host, _request(vector["url"], vector["params"], vector["signature"]))


def test_split_keeps_sentences_and_footer_within_segments() -> None:
    texts = ["This is a debt collector. " * 12, "Please tell me your date of birth."]
    parts = split_for_sms(texts, "Reply STOP to opt out.", 2)
    assert len(parts) >= 2
    for part in parts:
        assert part.endswith("Reply STOP to opt out.") and sms_segments(part).segments <= 2
    assert "".join(p.replace(" Reply STOP to opt out.", " ") for p in parts).split() == " ".join(texts).split()


def test_split_unspaced_unicode_text() -> None:
    parts = split_for_sms(["您好" * 100], "回复TD退订", 1)
    assert all(sms_segments(p).encoding == "UCS-2" and sms_segments(p).segments == 1 for p in parts)
    assert "".join(p.replace("回复TD退订", "").strip() for p in parts) == "您好" * 100
    assert split_for_sms(["   "], "x", 1) == []
