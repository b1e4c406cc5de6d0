"""The crisis patterns of data/hardship/settings.yml in Chinese (no word boundaries in Han text):
wanting to die is caught, idioms that use the same characters are not. Written for this test."""

from __future__ import annotations

import pytest

from bot.hardship import load_settings


def flagged(text: str) -> bool:
    return any(p.search(text.lower()) for p in load_settings().crisis_patterns)


@pytest.mark.parametrize(
    "text",
    [
        "欠这么多钱我真的不想活了",
        "实在活不下去了",
        "我想过自杀",
        "还不上就跳楼算了",
        "已经写好遗书了",
        "家里那瓶安眠药我一直攒着",
        "死了就不用还了吧",
        "i cant go on",
    ],
)
def test_chinese_and_english_crisis_language(text: str) -> None:
    assert flagged(text)


@pytest.mark.parametrize(
    "text", ["想死你了哈哈", "我爸去年走了", "你去死吧", "公司倒闭了我失业了", "烦死了 一直打电话"]
)
def test_same_characters_without_crisis(text: str) -> None:
    assert not flagged(text)
