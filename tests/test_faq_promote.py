"""Retiring a spent holdout: cases to the tune set, in-scope questions to knowledge/asked.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.faq_bench import load_cases
from bench.faq_promote import promote_questions, retire_cases

HOLDOUT = """# Blind holdout (round 99). Run once: 50% top-1.
asked_on = 2027-01-15

[[case]]
q = "how often do i do the ankle thing, every single day??"
expect = "how-often"
split = "holdout"

[[case]]
q = "How often should I do these exercises?"
expect = "how-often"
split = "holdout"

[[case]]
q = "i heard a pop in my achilles, which stretch first"
expect = "warning"
rule = "achilles-rupture"
split = "holdout"

[[case]]
q = "best pizza near me"
expect = "none"
split = "holdout"
"""


def test_questions_join_the_knowledge_once(tmp_path: Path) -> None:
    holdout, asked, off_topic = (tmp_path / n for n in ("h.toml", "asked.toml", "oos.toml"))
    holdout.write_text(HOLDOUT, "utf-8")
    asked.write_text("# header kept\n\n[asked]\n", "utf-8")
    off_topic.write_text('# kept too\nquestions = [\n    "what is the weather",\n]\n', "utf-8")
    # the second in-scope question reads the same as a phrasing of faq.toml; the warning stays out
    assert promote_questions(holdout, asked, off_topic) == (1, 1)
    assert promote_questions(holdout, asked, off_topic) == (0, 0)  # already there
    assert asked.read_text("utf-8").startswith("# header kept\n")
    assert tomllib.loads(asked.read_text("utf-8"))["asked"] == {
        "how-often": ["how often do i do the ankle thing, every single day??"]
    }
    assert off_topic.read_text("utf-8").startswith("# kept too\n")
    assert tomllib.loads(off_topic.read_text("utf-8"))["questions"] == [
        "what is the weather",
        "best pizza near me",
    ]


def test_cases_join_the_tune_set_as_former_holdout(tmp_path: Path) -> None:
    holdout, tune = tmp_path / "faq_holdout.toml", tmp_path / "faq_eval.toml"
    holdout.write_text(HOLDOUT, "utf-8")
    tune.write_text(
        'asked_on = 2026-12-02\n[[case]]\nq = "best pizza near me"\nexpect = "none"\n'
        'split = "tune"\n'
    )
    assert retire_cases("round 99", holdout, tune) == 3  # the pizza question is there already
    cases = load_cases(tune)
    assert [c.was_holdout for c in cases] == [False, True, True, True]
    # each keeps the day it was written, not the tune file's
    assert [str(c.asked_on) for c in cases] == ["2026-12-02"] + ["2027-01-15"] * 3
    assert {c.split for c in cases} == {"tune"}
    assert "round 99 holdout (spent)\n# Blind holdout (round 99). Run once" in tune.read_text()
