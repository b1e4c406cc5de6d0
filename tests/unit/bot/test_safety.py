"""The crisis rule: one setting in SafetyPolicy's entry of config.yml, read by the policy and
by the handoff channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.safety_policy import CONFIG, POLICY_NAME, CrisisRule, crisis_rule


def _parse(top: str, ranking: dict[str, float], crisis: bool = False) -> dict[str, Any]:
    return {
        "intent": {"name": top, "confidence": ranking.get(top, 0.0)},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking.items()],
        "hardship": {"crisis": crisis},
    }


def test_channel_reads_the_policy_entry_of_config_yml() -> None:
    entry = next(p for p in yaml.safe_load(CONFIG.read_text())["policies"] if p["name"] == POLICY_NAME)
    rule = crisis_rule()
    assert (rule.intent, rule.ranking_threshold) == (entry["crisis_intent"], entry["crisis_ranking_threshold"])
    assert rule.intent == "express_distress" and 0 < rule.ranking_threshold < 1


def test_rule_matches_top_intent_ranking_or_flag() -> None:
    rule = CrisisRule("express_distress", 0.3)
    assert rule.matches(_parse("express_distress", {"express_distress": 0.2}))
    assert rule.matches(_parse("greet", {"greet": 0.6, "express_distress": 0.3}))
    assert not rule.matches(_parse("greet", {"greet": 0.71, "express_distress": 0.29}))
    assert rule.matches(_parse("greet", {"greet": 0.9}, crisis=True))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"crisis_ranking_threshold": 0.25}, "'crisis_intent'"),
        ({"crisis_intent": "express_distress"}, "'crisis_ranking_threshold'"),
        ({"crisis_intent": "express_distress", "crisis_ranking_threshold": 1.5}, "from 0 to 1"),
        ({"crisis_intent": "", "crisis_ranking_threshold": 0.25}, "intent name"),
    ],
)
def test_bad_or_missing_setting_names_the_key(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CrisisRule.from_config(entry)


def test_config_without_the_policy_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("policies:\n  - name: RulePolicy\n")
    with pytest.raises(ValueError, match="SafetyPolicy"):
        crisis_rule(config)


def test_tuning_sweep_counts_catches_and_false_alarms() -> None:
    from scripts.tune_crisis import Parsed, recommend, sweep

    crisis = [
        Parsed("flagged", _parse("greet", {"greet": 0.9}, crisis=True)),
        Parsed("ranked", _parse("greet", {"express_distress": 0.5})),
    ]
    ordinary = [
        Parsed("vague", _parse("nlu_fallback", {"express_distress": 0.45})),
        Parsed("hi", _parse("greet", {"greet": 1.0})),
    ]
    rows = sweep({"crisis": crisis, "held_out": ordinary, "not_crisis": []}, "express_distress", [0.25, 0.5, 0.55])
    assert [(r["threshold"], r["crisis_caught"], r["false_alarms_held_out"]) for r in rows] == [
        (0.25, 2, 1),
        (0.5, 2, 0),
        (0.55, 1, 0),
    ]
    assert rows[2]["missed"] == ["ranked"]
    assert recommend(rows, 0.25)["threshold"] == 0.5  # type: ignore[index]
    assert recommend(rows, 0.5) is None  # nothing does better than the configured threshold


def test_helpline_by_jurisdiction_and_language() -> None:
    from bot.safety import helpline_for

    cn = helpline_for("CN")
    assert "12356" in cn.line and "010-82951332" in cn.line and cn.line.isascii()
    zh = helpline_for("CN", "zh")
    assert "12356" in zh.line and "010-82951332" in zh.line and "心理援助热线" in zh.line
    assert "120" in zh.emergency and "急救" in zh.emergency
    assert helpline_for("CN", "zh-CN").line == zh.line and helpline_for("CN", "zh_CN").line == zh.line
    assert "988" in helpline_for("US-MA", "zh").line and "自杀" in helpline_for("US-MA", "zh").line
    assert (
        helpline_for("US-MA").line
        == "In the US you can call or text 988 (Suicide & Crisis Lifeline) at any time, free."
    )
    assert (
        helpline_for("UK", "fr").line == "In the UK you can call Samaritans free on 116 123 at any time."
    )  # no French text
    assert helpline_for("XX", "zh").line.startswith("请立即联系") and helpline_for(None).line.startswith(
        "Please contact"
    )
    assert helpline_for("US").emergency.startswith("If you are in immediate danger")


def test_chinese_helplines_pass_the_china_content_lint() -> None:
    from bot.compliance.lint import lint
    from bot.compliance.profiles import profile_for
    from bot.safety import helpline_for

    for jurisdiction in ("CN", "US", "UK", None):
        for language in ("zh", "en"):
            assert not lint(helpline_for(jurisdiction, language).text, profile_for("CN"), "webchat").violations
