"""What any match of a regular expression must contain: a cheap test before the costly search.

The safety rules are hundreds of hand-written regexes, and every message is checked against all
of them, although almost no message is a warning sign. `\\b(red|hot)\\b.{0,30}\\b(swollen|puffy)`
can only match a text that contains "swollen" or "puffy"; one search for those few literal
strings rules most texts out before the rule's own regex, with its backtracking, walks every
position of the text. `Scanner` finds the literals of all rules in one pass over the text.

The analysis is conservative: `None` means "no test, always search". A regex that `re._parser`
cannot read is searched as before, so a wrong guess can only cost time, never a missed match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# The parser behind re.compile (Python 3.11+). Private, but tests/core/test_literals.py checks
# that every rule gives the same verdict with and without these tests.
from re import _constants as sre_constants
from re import _parser as sre_parse
from typing import Any

# A set of factors whose shortest member is shorter than this rules out too little to be worth it.
MIN_FACTOR = 2
RARER = 0.3
# Past this many alternatives a prefix is not expanded further (the test would cost too much).
MAX_LEADS = 400

Factors = frozenset[str] | None


def _best(options: Iterable[Factors]) -> Factors:
    """The most selective requirement of a sequence, by a rough chance that a text contains
    one of its factors (each character making a factor about three times rarer)."""
    known = [f for f in options if f and "" not in f]
    return min(known, key=lambda f: sum(RARER ** len(x) for x in f), default=None)


_ZERO_WIDTH = (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT)
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)


class _Reader:
    """Reads one parsed pattern; each group's leads are worked out once, not once for every
    position before it."""

    def __init__(self) -> None:
        self._leads: dict[int, tuple[frozenset[str], bool]] = {}  # by the group's identity

    def lead(self, items: Sequence[tuple[Any, Any]]) -> tuple[frozenset[str], bool]:
        """Strings one of which every match starts with, and whether they are the whole match.

        A prefix tree of keywords compiles to "a(?:che|nkles?)", and "(done|did) (it|damage)
        to" is three groups: read one at a time their factors would be "che" or " to", but
        every match starts with "ache" or "ankle", "done it to" or "did damage to", which rule
        out far more.
        """
        leads = frozenset({""})
        for op, value in items:
            if op is sre_constants.LITERAL:
                leads = frozenset(lead + chr(value) for lead in leads)
                continue
            if op in _ZERO_WIDTH:
                continue
            if op is sre_constants.SUBPATTERN:
                tails, whole = self._group(value[3])
            elif op is sre_constants.BRANCH:
                parts = [self._group(branch) for branch in value[1]]
                tails = frozenset().union(*(t for t, _ in parts))
                whole = all(w for _, w in parts)
            elif op in _REPEATS and value[1] == 1:  # "x?" or "(x)"
                tails, whole = self._group(value[2])
                if value[0] == 0:
                    tails |= {""}
            elif op in _REPEATS and value[0] >= 1:  # "x+": only its first time is known
                tails, whole = self._group(value[2])[0], False
            else:
                return leads, False
            if len(leads) * len(tails) > MAX_LEADS:
                return leads, False
            leads = frozenset(lead + tail for lead in leads for tail in tails)
            if not whole:
                return leads, False
        return leads, True

    def _group(self, group: Sequence[tuple[Any, Any]]) -> tuple[frozenset[str], bool]:
        if id(group) not in self._leads:  # the parsed pattern outlives the reader
            self._leads[id(group)] = self.lead(group)
        return self._leads[id(group)]

    def factors(self, items: Sequence[tuple[Any, Any]]) -> Factors:
        """Strings of which every match of this parsed sequence contains at least one."""
        options: list[Factors] = []
        previous = None
        for n, (op, value) in enumerate(items):
            # The match from here on; inside a run of letters the run's start says more.
            if not (op is sre_constants.LITERAL and previous is sre_constants.LITERAL):
                options.append(self.lead(items[n:])[0])
            previous = op
            if op is sre_constants.SUBPATTERN:
                options.append(self.factors(value[3]))
            elif op is sre_constants.ATOMIC_GROUP:
                options.append(self.factors(value))
            elif op is sre_constants.BRANCH:
                branches = [self.factors(branch) for branch in value[1]]
                if all(branches):
                    options.append(frozenset().union(*branches))  # type: ignore[arg-type]
            elif op in _REPEATS and value[0] >= 1:
                options.append(self.factors(value[2]))
        return _best(options)


def required(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Substrings of which every match of `pattern` contains one, or None if there is no such
    test worth making. Lower case, for text that is already folded."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    try:
        parsed = sre_parse.parse(pattern.pattern)
        found = _Reader().factors(list(parsed))
    except (re.error, RecursionError):  # it compiled, but be safe: no test, just search
        return None
    if not found or min(map(len, found)) < MIN_FACTOR:
        return None
    # "ankles" contains "ankle": a text with the one has the other.
    shortest = min(map(len, found))
    return tuple(
        sorted(
            f
            for f in found
            if not any(
                f[i:j] in found
                for i in range(len(f))
                for j in range(i + shortest, len(f) + (i > 0))
            )
        )
    )


def prefilter(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """The substrings of which a match of `pattern` must contain one, or None (always search)."""
    found = required(pattern)
    return frozenset(found) if found else None


def may_match(needs: frozenset[str] | None, present: frozenset[str]) -> bool:
    """Whether a text whose literals are `present` (Scanner.scan) can match; None: it can."""
    return needs is None or not needs.isdisjoint(present)


class Scanner:
    """Which of many literal substrings a text contains, found in one pass.

    Every rule's test used to be a search of its own over the text; one scan for the
    literals of all rules costs about a fifth of those searches together. A lookahead at
    each position finds the longest literal that starts there, and the shorter literals it
    begins with are counted as found too ("painful" holds "pain").
    """

    def __init__(self, needs: Iterable[frozenset[str] | None]) -> None:
        known = set().union(*(n for n in needs if n))
        self._find = re.compile(f"(?=({alternation(known)}))") if known else None
        self._with_prefixes = {
            w: frozenset(w[:i] for i in range(1, len(w) + 1) if w[:i] in known) for w in known
        }

    def scan(self, text: str) -> frozenset[str]:
        if self._find is None:
            return frozenset()
        found: set[str] = set()
        for match in self._find.finditer(text):
            found |= self._with_prefixes[match.group(1)]
        return frozenset(found)


def alternation(phrases: Iterable[str]) -> str:
    """A regex matching any of `phrases` literally, longest first, as a prefix tree.

    Python's re tries the branches of "ankle|ankles|ache" one by one at every position; as
    "a(?:che|nkles?)" each shared prefix is read once. Hundreds of synonyms and safety keywords
    are checked against messages of up to 4096 characters, so this keeps them fast.
    """
    trie: dict[str, dict] = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        if "" not in node:
            return body
        return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"

    return build(trie)
