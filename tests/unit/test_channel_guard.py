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
