"""The money and date entity extractor passes the conversation's language to bot.extraction."""

from __future__ import annotations

from typing import Any

from rasa.shared.nlu.training_data.message import Message

from policies.money_date_extractor import MoneyDateExtractor


def _entities(text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    extractor = MoneyDateExtractor({"default_currency": "CNY", "time_zone": "Asia/Shanghai", "date_order": "YMD"})
    data: dict[str, Any] = {"text": text}
    if metadata is not None:
        data["metadata"] = metadata
    (message,) = extractor.process([Message(data=data)])
    return [e for e in message.get("entities") if e["entity"] in ("amount", "date", "recurrence")]


def test_chinese_text_gives_amount_date_and_schedule_entities_at_their_offsets() -> None:
    text = "每月15号还三千五"
    found = {e["entity"]: e for e in _entities(text)}
    assert found["amount"]["value"] == {"amount": "3500.00", "currency": "CNY"}
    assert text[found["amount"]["start"] : found["amount"]["end"]] == "三千五"
    assert text[found["date"]["start"] : found["date"]["end"]] == "15号"
    assert found["recurrence"]["value"]["rrule"] == "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=15"


def test_the_sender_contexts_language_reads_chinese_shorthand() -> None:
    assert [e["entity"] for e in _entities("2.5w")] == []
    (amount,) = _entities("2.5w", {"sender": {"language": "zh"}})
    assert amount["value"] == {"amount": "25000.00", "currency": "CNY"}
    assert [e["entity"] for e in _entities("2.5w", {"sender": "garbled"})] == []
