from __future__ import annotations

from bot.core.programme import build_programme
from bot.knowledge import Knowledge

ARTICLE_ORDER = [
    "warm-up",
    "releases",
    "stretches",
    "joint-mobilisation",
    "strengthening",
    "nerve-flossing",
]
DOSES = {
    "ankle-circles": "20 circles in each direction",
    "calf-release": "1-3 minutes per leg",
    "achilles-release": "1-3 minutes per leg",
    "gastrocnemius-stretch": "Hold at least 30 seconds, 3 times",
    "soleus-stretch": "Hold 30 seconds",
    "traction": "Hold 30 seconds, 3 times",
    "banded-mobilisation": "30 repetitions",
    "seated-dorsiflexion-holds": "Hold 10 seconds, 20 times",
    "eccentric-drop": "Hold 5 seconds, then lower slowly; 30 times",
    "nerve-flossing": "20 repetitions",
}


def _focus(knowledge: Knowledge, *factors: str) -> set[str]:
    programme = build_programme(factors, knowledge.blocks, knowledge.exercises)
    return {e.id for e in programme.focus}


def test_blocks_follow_the_article_and_doses_are_exact(knowledge: Knowledge) -> None:
    programme = build_programme([], knowledge.blocks, knowledge.exercises)
    assert [b.block.id for b in programme.blocks] == ARTICLE_ORDER
    doses = {i.exercise.id: i.exercise.dose for b in programme.blocks for i in b.items}
    assert doses == DOSES
    assert programme.focus == ()


def test_focus_follows_the_limiting_factor(knowledge: Knowledge) -> None:
    assert _focus(knowledge, "joint") == {"ankle-circles", "traction", "banded-mobilisation"}
    assert _focus(knowledge, "tendon") == {
        "achilles-release",
        "soleus-stretch",
        "banded-mobilisation",
    }
    assert _focus(knowledge, "muscle-neural") == {
        "calf-release",
        "gastrocnemius-stretch",
        "soleus-stretch",
        "nerve-flossing",
    }


def test_shin_release_joins_only_for_a_shin_restriction(knowledge: Knowledge) -> None:
    def ids(*factors: str) -> set[str]:
        p = build_programme(factors, knowledge.blocks, knowledge.exercises)
        return {i.exercise.id for b in p.blocks for i in b.items}

    assert "shin-release" not in ids("joint")
    assert "shin-release" in ids("shin") and _focus(knowledge, "shin") == {"shin-release"}
