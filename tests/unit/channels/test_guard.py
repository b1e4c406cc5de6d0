from channels.guard import MAX_TEXT_CHARS, clean_text
from channels.webchat import sign_session, verify_session


def test_slash_commands_become_plain_text() -> None:
    text, notes = clean_text('/verify_identity{"dob": "1985-04-12"}')
    assert text == "verify identity" and notes["slash_command_neutralised"]
    assert clean_text("/inform@0.99[amount](5)")[0] == "inform"
    text, notes = clean_text("  //  /restart")
    assert not text.startswith("/")
    assert clean_text("I paid 1/2 of it")[1] == {}


def test_odd_input_is_normalised() -> None:
    assert clean_text(None) == ("", {})
    assert clean_text(42)[0] == "42"
    assert clean_text("a\x00b\x07c")[0] == "a b c"
    assert clean_text("\u200b\u200d\ufeff") == ("", {})  # zero-width only: empty
    text, notes = clean_text("x" * (MAX_TEXT_CHARS + 10))
    assert len(text) == MAX_TEXT_CHARS and notes["truncated_from"] == MAX_TEXT_CHARS + 10


def test_session_tokens_cannot_be_forged() -> None:
    key = b"k" * 32
    token = sign_session("abc123", key)
    assert verify_session(token, key) == "abc123"
    assert verify_session("abc123." + "0" * 64, key) is None
    assert verify_session(token, b"other-key") is None
    assert verify_session("abc123", key) is None
    assert verify_session(None, key) is None
    assert verify_session("a.b.c", key) is None


def test_send_time_lint_blocks_prohibited_wording(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from rasa.core.channels.channel import CollectingOutputChannel

    from bot import db
    from bot.compliance import audit
    from bot.context import SenderContext
    from channels.linting import BLOCKED_REPLACEMENT, LintedOutput

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lint.db'}")
    inner = CollectingOutputChannel()
    context = SenderContext(
        sender_id="+16175550101",
        channel="rest",
        phone="+16175550101",
        account_id="A-1001",
        jurisdiction="US-MA",
        time_zone="America/New_York",
        locale="en_US",
        language="en",
        opted_out=frozenset(),
        resolved_at=db.utcnow(),
    )
    out = LintedOutput(inner, "rest", context)
    asyncio.run(out.send_text_message("+16175550101", "Pay now or you will be arrested."))
    asyncio.run(out.send_text_message("+16175550101", "Your balance is $10.00."))
    assert [m["text"] for m in inner.messages] == [BLOCKED_REPLACEMENT, "Your balance is $10.00."]
    with db.session_scope() as session:
        entries = session.query(audit.AuditEntry).all()
        assert [(e.action, e.outcome, e.account_id) for e in entries] == [("bot_reply", "blocked", "A-1001")]
        assert "arrest_or_jail" in entries[0].reasons


def test_json_body_refuses_invalid_utf8_that_a_fast_parser_lets_through() -> None:
    from types import SimpleNamespace

    from channels.guard import json_body

    assert json_body(SimpleNamespace(body=b'{"sender": "a", "message": "hi \\u00e9"}')) == {
        "sender": "a",
        "message": "hi \u00e9",
    }
    # F4 90 80 80 would be U+110000, beyond Unicode: not UTF-8, so not a body
    assert json_body(SimpleNamespace(body=b'{"sender": "a", "message": "\xf4\x90\x80\x80"}')) is None
    assert json_body(SimpleNamespace(body=b"not json")) is None
    assert json_body(SimpleNamespace(body=None)) is None


def test_lone_surrogates_are_neither_a_body_nor_text() -> None:
    from types import SimpleNamespace

    from channels.guard import json_body

    # a JSON escape can name half of a surrogate pair, which no UTF-8 text (nor spaCy) can hold
    for body in (b'{"sender": "a", "message": "hi \\ud800 there"}', b'{"sender": "x\\udfff", "message": "hi"}'):
        assert json_body(SimpleNamespace(body=body)) is None
    # a whole pair is one character (an emoji) and stays
    assert json_body(SimpleNamespace(body=b'{"message": "\\ud83d\\ude00"}')) == {"message": "\U0001f600"}
    assert clean_text("hi \ud800 there") == ("hi  there", {})
    assert clean_text("\udfff") == ("", {})


def test_bearer_check_refuses_wrong_and_hostile_headers() -> None:
    from types import SimpleNamespace

    from channels.guard import bearer_ok

    def request(header: str | None) -> SimpleNamespace:
        return SimpleNamespace(headers={} if header is None else {"Authorization": header})

    assert bearer_ok(request("Bearer s3cret"), "s3cret")
    for header in (None, "", "Bearer wrong", "s3cret", "Bearer s3cret ", "Bearer \u00e9", "Bearer \udfff"):
        assert not bearer_ok(request(header), "s3cret"), header
