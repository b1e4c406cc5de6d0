from datetime import date

from bot.verification import (
    IdentityRecord,
    parse_account_reference,
    parse_phone,
    second_factor_matches,
    sender_phone,
)

US = IdentityRecord(date(1985, 4, 12), "02139", "4821")
UK = IdentityRecord(date(1982, 2, 28), "SW1A 1AA", "9034")
BOTH = ("postcode", "account_last_four")


def test_second_factor_postcode_or_last_four() -> None:
    assert second_factor_matches(US, "02139", BOTH)
    assert second_factor_matches(US, "my zip is 02139-1234", BOTH)
    assert second_factor_matches(US, "last four 4821", BOTH)
    assert second_factor_matches(UK, "sw1a1aa", BOTH)
    assert second_factor_matches(UK, "postcode SW1A 1AA thanks", BOTH)


def test_second_factor_rejects_near_misses() -> None:
    assert not second_factor_matches(US, "2139", BOTH)  # part of the ZIP is not the last four
    assert not second_factor_matches(US, "48211", BOTH)
    assert not second_factor_matches(US, "02138", BOTH)
    assert not second_factor_matches(US, "4821", ("postcode",))


def test_references_and_phones() -> None:
    assert parse_account_reference("my account is a-1001") == "A-1001"
    assert parse_account_reference("A 2001") == "A-2001"
    assert parse_account_reference("no reference") is None
    assert parse_phone("call me on (617) 555-0101") == "+16175550101"
    assert sender_phone("+447700900101") == "+447700900101"
    assert sender_phone("webchat-abc") is None
    assert sender_phone("+1") is None


def test_full_width_digits_are_the_same_postcode() -> None:
    # a phone keyboard in Chinese input mode types "６０６０１": it must not count as a wrong answer
    record = IdentityRecord(date_of_birth=date(1972, 7, 20), postcode="60601", last_four="4471")
    assert second_factor_matches(record, "６０６０１", ("postcode",))
    assert second_factor_matches(record, "my zip is ６０６０１", ("postcode",))
    assert not second_factor_matches(record, "６０６０２", ("postcode",))
