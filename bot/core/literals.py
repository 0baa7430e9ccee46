"""What any match of a regular expression must contain: a cheap test before the costly search.

The safety rules are hundreds of hand-written regexes, and every message is checked against all
of them, although almost no message is a warning sign. `\\b(red|hot)\\b.{0,30}\\b(swollen|puffy)`
can only match a text that contains "swollen" or "puffy"; a few substring tests (in C) can rule
that out before Python's backtracking engine walks every position of the text.

The analysis is conservative: `None` means "no test, always search". A regex that `re._parser`
cannot read is searched as before, so a wrong guess can only cost time, never a missed match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

try:  # CPython 3.11+; private, so everything here degrades to "no test" without it.
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover
    sre_parse = None  # type: ignore[assignment]

# A set of factors whose shortest member is shorter than this rules out too little to be worth it.
MIN_FACTOR = 2
# Past this many alternatives a prefix is not expanded further (the test would cost too much).
MAX_LEADS = 400

Factors = frozenset[str] | None


def _best(options: Iterable[Factors]) -> Factors:
    """The most selective requirement of a sequence: its longest shortest factor."""
    known = [f for f in options if f]
    return max(known, key=lambda f: (min(map(len, f)), -len(f)), default=None)


def _lead(items: list[tuple[object, object]]) -> frozenset[str]:
    """Strings one of which every match starts with ("" if nothing is known).

    A prefix tree of keywords compiles to "a(?:che|nkles?)": its factors alone would be "che"
    and "nkle", but the matches start with "ache" or "ankle", which rule out far more.
    """
    run: list[str] = []
    for op, value in items:
        if op is sre_constants.LITERAL:
            run.append(chr(value))  # type: ignore[arg-type]
            continue
        if op is sre_constants.AT:  # zero width
            continue
        head = "".join(run)
        if op is sre_constants.SUBPATTERN:
            tails = _lead(list(value[3]))  # type: ignore[index]
        elif op is sre_constants.BRANCH:
            tails = frozenset().union(*(_lead(list(b)) for b in value[1]))  # type: ignore[index]
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and value[0] >= 1:  # type: ignore[index]
            tails = _lead(list(value[2]))  # type: ignore[index]
        else:
            tails = frozenset({""})
        if len(tails) > MAX_LEADS:
            return frozenset({head})
        return frozenset({head + t for t in tails})
    return frozenset({"".join(run)})


def _factors(items: list[tuple[object, object]]) -> Factors:
    """Strings of which every match of this parsed sequence contains at least one."""
    options: list[Factors] = []
    run: list[str] = []
    for op, value in items:
        if op is sre_constants.LITERAL:
            run.append(chr(value))  # type: ignore[arg-type]
            continue
        if op in (sre_constants.SUBPATTERN, sre_constants.BRANCH):
            options.append(_lead([(op, value)]))  # prefixed by the run, if any
            if run:
                options[-1] = frozenset("".join(run) + lead for lead in options[-1])
        if run:
            options.append(frozenset({"".join(run)}))
            run = []
        if op is sre_constants.SUBPATTERN:
            options.append(_factors(list(value[3])))  # type: ignore[index]
        elif op is sre_constants.ATOMIC_GROUP:
            options.append(_factors(list(value)))  # type: ignore[arg-type]
        elif op is sre_constants.BRANCH:
            branches = [_factors(list(b)) for b in value[1]]  # type: ignore[index]
            if all(branches):
                options.append(frozenset().union(*branches))  # type: ignore[arg-type]
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and value[0] >= 1:  # type: ignore[index]
            options.append(_factors(list(value[2])))  # type: ignore[index]
        # Anything else (AT, ANY, IN, CATEGORY, lookarounds, optional parts) requires nothing.
    if run:
        options.append(frozenset({"".join(run)}))
    return _best(options)


def required(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Substrings of which every match of `pattern` contains one, or None if there is no such
    test worth making. Lower case, for text that is already folded."""
    if sre_parse is None or pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    try:
        found = _factors(list(sre_parse.parse(pattern.pattern)))
    except (re.error, RecursionError):  # it compiled, but be safe: no test, just search
        return None
    if not found or min(map(len, found)) < MIN_FACTOR:
        return None
    return tuple(sorted(found))


def prefilter(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """A search for the required substrings of `pattern`, as one prefix tree (a few times
    faster than testing each substring with `in`), or None."""
    found = required(pattern)
    return re.compile(alternation(found)) if found else None


def may_match(test: re.Pattern[str] | None, text: str) -> bool:
    return test is None or test.search(text) is not None


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
