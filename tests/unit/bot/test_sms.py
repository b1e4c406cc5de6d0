"""SMS economics: GSM-7 wording where the language allows, the opt-out footer once per reply where
the profile allows it (12 CFR 1006.6(e)), and segments counted as Twilio counts them."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.compliance.lint import GSM7_BASIC, GSM7_EXTENDED, gsm7_wording, sms_segments
from bot.compliance.profiles import profile_for
from bot.sms import split_for_sms
from bot.texts import all_texts
from scripts.fake_twilio import billed_segments
from scripts.services import ROOT

FOOTER = "Reply STOP to opt out."


def _gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def test_english_responses_and_texts_are_gsm7() -> None:
    bad = []
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        for name, variants in ((yaml.safe_load(path.read_text()) or {}).get("responses") or {}).items():
            bad += [(name, v["text"]) for v in variants if not _gsm7(v.get("text", ""))]
    bad += [(key, text) for language, key, text in all_texts() if language == "en" and not _gsm7(text)]
    for name in ("handoff.yml", "helplines.yml"):
        raw = yaml.safe_load((ROOT / "data" / name).read_text())
        # "US.zh" and the like are the Chinese texts: UCS-2 whatever their wording
        bad += [(k, v) for k, v in raw.items() if isinstance(v, str) and "." not in k and not _gsm7(v)]
    assert not bad, bad


def test_typographic_characters_are_written_in_gsm7() -> None:
    text = "You’re set – “thanks” … see you"
    assert sms_segments(text).encoding == "UCS-2"
    assert (
        gsm7_wording(text) == 'You\'re set - "thanks" ... see you'
        and sms_segments(gsm7_wording(text)).encoding == "GSM-7"
    )
    assert gsm7_wording("您好…") == "您好…"  # Chinese goes as UCS-2 whatever its punctuation
    # a 228-character confirmation with one ellipsis: 4 segments as UCS-2, 2 in GSM-7
    confirmation = "Done: your arrangement is set up. " + "x" * 180 + " … more"
    assert sms_segments(confirmation).segments == 4
    (body,) = split_for_sms([confirmation], FOOTER, 4, footer_per_reply=True)
    assert sms_segments(body).encoding == "GSM-7" and sms_segments(body).segments == 2


def test_the_footer_goes_once_per_reply_where_the_profile_says_so() -> None:
    assert profile_for("US-MA").sms_footer_per_reply and profile_for("UK").sms_footer_per_reply
    assert not profile_for("CN").sms_footer_per_reply  # every message carries the unsubscribe
    texts = [("First part of a long reply. " * 5).strip(), ("Second part, also long. " * 5).strip()]
    each = split_for_sms(texts, FOOTER, 1)
    once = split_for_sms(texts, FOOTER, 1, footer_per_reply=True)
    assert all(b.endswith(FOOTER) for b in each)
    assert [b.endswith(FOOTER) for b in once] == [False] * (len(once) - 1) + [True]
    assert sum(sms_segments(b).segments for b in once) <= sum(sms_segments(b).segments for b in each)
    assert all(sms_segments(b).segments <= 1 for b in once)
    # a 155-character reply part no longer needs a second segment for a footer it does not carry
    part = "y" * 155
    parts = split_for_sms([part, "Short end."], FOOTER, 1, footer_per_reply=True)
    assert parts[0] == part and sms_segments(parts[0]).segments == 1 and parts[-1].endswith(FOOTER)


@given(
    st.text(
        alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENDED) + ["é", "…", "’", "您", "😀", "€"]), max_size=400
    )
)
def test_segments_are_counted_as_twilio_bills_them(text: str) -> None:
    counted = sms_segments(text)
    assert (counted.encoding, counted.segments) == billed_segments(text)


def test_segment_boundaries_never_cut_a_character() -> None:
    # 152 septets then an escaped character (two septets): it is not cut, it starts the second part
    assert sms_segments("a" * 152 + "€" + "a" * 10).segments == 2
    assert sms_segments("a" * 306).segments == 2 and sms_segments("a" * 307).segments == 3
    assert sms_segments("a" * 152 + "€" + "a" * 153).segments == 3  # the € starts the second part
    assert sms_segments("a" * 66 + "😀" + "a" * 10).segments == 2
    assert sms_segments("a" * 133 + "😀").segments == 3  # the surrogate pair starts the third part
