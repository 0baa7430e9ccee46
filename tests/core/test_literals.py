"""The literal test in front of each safety regex: it may only ever skip a search that fails."""

from __future__ import annotations

import re
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.faq_bench import EVAL_FILE
from bot.core.faq import FaqMatcher, SafetyRule, most_urgent
from bot.core.literals import Scanner, alternation, may_match, prefilter, required
from bot.knowledge import Knowledge


@pytest.mark.parametrize(
    ("pattern", "factors"),
    [
        (r"\b(red|hot)\b.{0,30}\b(swollen|puffy)\b", ("puffy", "swollen")),
        (r"\bcalf\b", ("calf",)),
        # a prefix tree of keywords requires the whole keywords, not their tails
        (rf"\b(?:{alternation(['ache', 'ankle', 'ankles'])})\b", ("ache", "ankle")),
        (r"\bheel (drops?|raises?)\b", ("heel drop", "heel raise")),
        (r"(?:abc)+x?", ("abc",)),
    ],
)
def test_required_substrings(pattern: str, factors: tuple[str, ...]) -> None:
    assert required(re.compile(pattern)) == factors


@pytest.mark.parametrize(
    "pattern",
    [
        r"\b\w+y\b.{0,9}",  # "y" is too short to rule anything out
        r"(?:calf)?\bx",  # optional parts require nothing
        r"(?i)calf",  # case-insensitive: the test would miss "CALF"
        r"calf|\d+",  # one branch requires nothing, so the whole does not
        r"[a-z]+",
    ],
)
def test_no_test_where_nothing_is_required(pattern: str) -> None:
    assert required(re.compile(pattern)) is None
    assert may_match(prefilter(re.compile(pattern)), frozenset())


def test_one_scan_finds_nested_and_overlapping_literals() -> None:
    scanner = Scanner([frozenset({"pain", "painful"}), frozenset({"swell", "well"}), None])
    # "painful" holds "pain"; "swelling" holds "well" one position after "swell"
    assert scanner.scan("a painful swelling") == {"pain", "painful", "swell", "well"}
    assert scanner.scan("all fine") == frozenset()
    assert may_match(frozenset({"well"}), scanner.scan("swelling"))
    assert not may_match(frozenset({"pain"}), scanner.scan("swelling"))


def _plain(rule: SafetyRule, text: str) -> bool:
    """SafetyRule.matches without the literal tests."""
    hit = (rule._any is not None and rule._any.search(text) is not None) or any(
        all(p.search(text) for p in group) for group in rule.together
    )
    return hit and not any(p.search(text) for p in rule.unless)


def test_the_tests_change_no_verdict_on_the_evaluation_set(knowledge: Knowledge) -> None:
    matcher = knowledge.faq.matcher
    texts = [c["q"] for c in tomllib.loads(EVAL_FILE.read_text("utf-8"))["case"]]
    texts += [ex for rule in matcher.rules for ex in rule.examples]
    warned = 0
    for text in map(matcher.normalise, texts):
        for rule in matcher.rules:
            assert rule.matches(text) == _plain(rule, text), (rule.id, text)
            warned += rule.matches(text)
        # the matcher's one scan for all rules agrees with each rule's own
        shared = most_urgent(text, matcher.rules, matcher._scanner)
        assert shared == most_urgent(text, matcher.rules), text
    assert warned > 600  # the set is full of warning signs: this compared real matches


def test_most_rules_get_a_test(matcher: FaqMatcher) -> None:
    with_test = [r.id for r in matcher.rules if r._any_needs is not None]
    assert len(with_test) >= len(matcher.rules) - 3, with_test


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_tests_change_no_verdict_on_generated_messages(
    knowledge: Knowledge, data: st.DataObject
) -> None:
    """Messages made of the rules' own words, where a wrong test would show."""
    matcher = knowledge.faq.matcher
    words = sorted({w for r in matcher.rules for w in re.findall(r"[a-z]+", r.vocabulary())})
    text = " ".join(data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=12)))
    for rule in matcher.rules:
        assert rule.matches(text) == _plain(rule, text), (rule.id, text)
    assert most_urgent(text, matcher.rules, matcher._scanner) == most_urgent(text, matcher.rules)


@pytest.fixture(scope="module")
def matcher(knowledge: Knowledge) -> FaqMatcher:
    return knowledge.faq.matcher
