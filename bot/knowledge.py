"""Load and validate the curated content in `knowledge/`.

Content is data so that a physiotherapist can edit it without touching code. Everything is
checked once at start-up; a problem stops the bot with one line naming the file and the entry.
"""

from __future__ import annotations

import html
import os
import re
import string
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.assessment import Leg, Thresholds
from bot.core.faq import (
    FaqEntry,
    FaqMatcher,
    SafetyRule,
    Synonyms,
    Urgency,
    alternation,
    most_urgent,
    normalise,
)
from bot.core.programme import Block, Exercise
from bot.core.timezones import load_aliases

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "knowledge"
_ALLOWED_TAGS = {"b", "i", "u", "s", "code"}


class KnowledgeError(Exception):
    """A knowledge file is missing, malformed or inconsistent."""


class _Table:
    """Typed access to one TOML table; every error names the file and the entry."""

    def __init__(self, file: Path, entry: str, data: Mapping[str, Any]) -> None:
        self.file, self.entry, self.data = file, entry, data

    def error(self, problem: str) -> KnowledgeError:
        return KnowledgeError(f"{self.file.name}: {self.entry}: {problem}")

    def str(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"'{key}' must be a non-empty string")
        return value.strip()

    def optional_str(self, key: str) -> str | None:
        return self.str(key) if key in self.data else None

    def strs(self, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.data.get(key, [] if allow_empty else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(f"'{key}' must be a list of non-empty strings")
        if not value and not allow_empty:
            raise self.error(f"'{key}' must not be empty")
        return tuple(v.strip() for v in value)

    def bool(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self.error(f"'{key}' must be true or false")
        return value

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(f"'{key}' must be a positive number")
        return float(value)

    def ref(self, key: str, known: Iterable[str], what: str) -> str:
        value = self.str(key)
        if value not in known:
            raise self.error(f"'{key}' names unknown {what} '{value}'")
        return value


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise KnowledgeError(f"{path.name}: file not found in {path.parent}") from None
    except tomllib.TOMLDecodeError as e:
        raise KnowledgeError(f"{path.name}: not valid TOML: {e}") from None


def tables(path: Path, data: Mapping[str, Any], key: str) -> list[_Table]:
    """The `[[key]]` entries of a file, each wrapped with its id for error messages."""
    raw = data.get(key)
    if not isinstance(raw, list) or not raw:
        raise KnowledgeError(f"{path.name}: needs at least one [[{key}]] entry")
    result, seen = [], set()
    for n, entry in enumerate(raw, 1):
        table = _Table(path, f"{key} #{n}", entry)
        entry_id = table.str("id")
        table.entry = f"{key} '{entry_id}'"
        if entry_id in seen:
            raise table.error("duplicate id")
        seen.add(entry_id)
        result.append(table)
    return result


_TAG = re.compile(r"<(/?)([a-z]+)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+);")


def check_html(text: str, allowed: Collection[str] = _ALLOWED_TAGS) -> str | None:
    """Telegram rejects a whole message over one bad tag, so texts are checked before use."""
    stack: list[str] = []
    for match in _TAG.finditer(text):
        closing, tag = match.groups()
        if tag not in allowed:
            return f"tag <{tag}> is not allowed"
        if not closing:
            stack.append(tag)
        elif not stack or stack.pop() != tag:
            return f"</{tag}> does not close the open tag"
    if stack:
        return f"<{stack[-1]}> is never closed"
    rest = _ENTITY.sub("", _TAG.sub("", text))
    return next((f"unescaped '{ch}'" for ch in "<>&" if ch in rest), None)


class Messages:
    """The bot's own wording, from messages.toml, filled with `text(key, **values)`."""

    def __init__(self, path: Path, data: Mapping[str, Any]) -> None:
        self._texts: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str) or not value.strip():
                raise KnowledgeError(f"{path.name}: {key}: must be a non-empty string")
            try:
                list(string.Formatter().parse(value))
            except ValueError as e:
                raise KnowledgeError(f"{path.name}: {key}: bad placeholder: {e}") from None
            if problem := check_html(value):
                raise KnowledgeError(f"{path.name}: {key}: {problem}")
            self._texts[key] = value.strip()
        self._path = path

    def __contains__(self, key: str) -> bool:
        return key in self._texts

    def keys(self) -> Iterable[str]:
        return self._texts.keys()

    def placeholders(self, key: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self._texts[key]) if name}

    def __call__(self, key: str, **values: object) -> str:
        """Values are escaped: they come from users or other content, never markup."""
        escaped = {k: html.escape(str(v), quote=False) for k, v in values.items()}
        return self._texts[key].format(**escaped)


@dataclass(frozen=True)
class Location:
    id: str
    label: str
    factor: str | None


@dataclass(frozen=True)
class Factor:
    id: str
    name: str
    explanation: str
    source: str


@dataclass(frozen=True)
class Topic:
    id: str
    title: str


@dataclass(frozen=True)
class FaqBase:
    """The FAQ, its topics and synonyms, and the warning-sign rules checked before it."""

    topics: tuple[Topic, ...]
    entries: tuple[FaqEntry, ...]
    rules: tuple[SafetyRule, ...]
    synonyms: Synonyms
    not_covered: tuple[str, ...]
    # Built once while loading (it is also how phrasings are checked against each other).
    matcher: FaqMatcher = field(compare=False, repr=False)

    def entry(self, entry_id: str) -> FaqEntry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def in_topic(self, topic_id: str) -> tuple[FaqEntry, ...]:
        return tuple(e for e in self.entries if e.topic == topic_id)


@dataclass(frozen=True)
class Knowledge:
    blocks: tuple[Block, ...]
    exercises: tuple[Exercise, ...]
    thresholds: Thresholds
    test_steps: tuple[str, ...]
    leg_names: Mapping[Leg, str]
    locations: tuple[Location, ...]
    factors: Mapping[str, Factor]
    text: Messages
    faq: FaqBase
    zone_aliases: Mapping[str, str]

    def exercise(self, exercise_id: str) -> Exercise | None:
        return next((e for e in self.exercises if e.id == exercise_id), None)

    def block(self, block_id: str) -> Block | None:
        return next((b for b in self.blocks if b.id == block_id), None)

    def location(self, location_id: str) -> Location | None:
        return next((loc for loc in self.locations if loc.id == location_id), None)

    @property
    def factor_of(self) -> dict[str, str | None]:
        return {loc.id: loc.factor for loc in self.locations}


def _load_exercises(
    path: Path, factors: Iterable[str]
) -> tuple[tuple[Block, ...], tuple[Exercise, ...]]:
    data = load_toml(path)
    blocks = tuple(
        Block(t.str("id"), t.str("title"), t.str("purpose")) for t in tables(path, data, "block")
    )
    exercises = []
    factors = set(factors)
    for t in tables(path, data, "exercise"):
        targets = t.strs("targets", allow_empty=True)
        only_for = t.strs("only_for", allow_empty=True)
        for f in (*targets, *only_for):
            if f not in factors:
                raise t.error(f"unknown factor '{f}' (known: {', '.join(sorted(factors))})")
        exercises.append(
            Exercise(
                id=t.str("id"),
                block=t.ref("block", [b.id for b in blocks], "block"),
                name=t.str("name"),
                dose=t.str("dose"),
                equipment=t.str("equipment"),
                steps=t.strs("steps"),
                cautions=t.strs("cautions", allow_empty=True),
                targets=targets,
                only_for=only_for,
                ground=t.bool("ground"),
                source=t.str("source"),
            )
        )
    for block in blocks:
        if not any(e.block == block.id for e in exercises):
            raise KnowledgeError(f"{path.name}: block '{block.id}': has no exercises")
    return blocks, tuple(exercises)


def load_knowledge(directory: Path | None = None) -> Knowledge:
    """Read every knowledge file; raise KnowledgeError naming the file and entry on a problem."""
    directory = directory or Path(os.environ.get("KNOWLEDGE_DIR", DEFAULT_DIR))
    path = directory / "assessment.toml"
    data = load_toml(path)
    root = _Table(path, "top level", data)
    th = _Table(path, "[thresholds]", data.get("thresholds") or {})
    thresholds = Thresholds(
        th.number("target_cm"),
        th.number("asymmetry_cm"),
        th.number("measurement_error_cm"),
        th.number("max_cm"),
    )
    legs = _Table(path, "[legs]", data.get("legs") or {})
    factors = {
        t.str("id"): Factor(t.str("id"), t.str("name"), t.str("explanation"), t.str("source"))
        for t in tables(path, data, "factor")
    }
    locations = tuple(
        Location(
            t.str("id"),
            t.str("label"),
            t.ref("factor", factors, "factor") if "factor" in t.data else None,
        )
        for t in tables(path, data, "location")
    )
    blocks, exercises = _load_exercises(directory / "exercises.toml", factors)
    return Knowledge(
        blocks=blocks,
        exercises=exercises,
        thresholds=thresholds,
        test_steps=root.strs("test_steps"),
        leg_names={leg: legs.str(leg.value) for leg in Leg},
        locations=locations,
        factors=factors,
        text=Messages(directory / "messages.toml", load_toml(directory / "messages.toml")),
        faq=load_faq(directory, [e.id for e in exercises]),
        zone_aliases=_load_zone_aliases(directory / "timezone_aliases.toml"),
    )


def _load_zone_aliases(path: Path) -> dict[str, str]:
    try:
        return load_aliases(load_toml(path))
    except ValueError as e:
        raise KnowledgeError(f"{path.name}: {e}") from None


# Short enough for a button and for a phone screen; only the tags that FAQ answers need.
MAX_TITLE_CHARS = 40
MAX_ANSWER_CHARS = 800
MIN_PHRASINGS = 3
_FAQ_TAGS = {"b", "i"}


def _load_synonyms(path: Path, raw: object) -> Synonyms:
    """A variant names one canonical form, and is not itself canonical (no chains)."""
    if not isinstance(raw, dict):
        raise KnowledgeError(f"{path.name}: [synonyms] must be a table of lists")
    groups: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for canonical, variants in raw.items():
        table = _Table(path, f"synonym '{canonical}'", {"variants": variants})
        groups[canonical] = table.strs("variants")
        for variant in groups[canonical]:
            folded = normalise(variant)
            if folded in owner and owner[folded] != canonical:
                raise table.error(f"variant '{variant}' is also listed under '{owner[folded]}'")
            owner[folded] = canonical
    for canonical in groups:
        if owner.get(normalise(canonical), canonical) != canonical:
            raise KnowledgeError(
                f"{path.name}: synonym '{canonical}': is itself a variant of "
                f"'{owner[normalise(canonical)]}'"
            )
    return Synonyms.from_groups(groups)


_TERM = re.compile(r"\{([a-z_]+)\}")


def _load_terms(path: Path, raw: object, synonyms: Synonyms) -> dict[str, str]:
    """`[terms]`: named word lists that rules share, written `{name}` in a regex.

    One list of body parts or of severity words, used by many rules, keeps the rules readable
    and makes a word added once count everywhere. Items are regexes over normalised text; plain
    words are normalised like keywords (synonyms applied) so that "sore" is written as people
    type it. A term may use the terms above it (`{pain}` in a list of lingering pains).
    """
    if not isinstance(raw, dict):
        raise KnowledgeError(f"{path.name}: [terms] must be a table of lists")
    terms: dict[str, str] = {}
    for name, items in raw.items():
        table = _Table(path, f"term '{name}'", {"items": items})
        if not re.fullmatch(r"[a-z_]+", name):
            raise table.error("a term's name is lower-case letters and '_'")
        items = table.strs("items")
        words = [normalise(i, synonyms) for i in items if re.fullmatch(r"[\w' -]+", i)]
        regexes = [
            _with_terms(i, terms, table, "{{{name}}} must be a term defined above it")
            for i in items
            if not re.fullmatch(r"[\w' -]+", i)
        ]
        terms[name] = "(?:" + "|".join([alternation(words)] * bool(words) + regexes) + ")"
        try:
            re.compile(terms[name])
        except re.error as e:
            raise table.error(f"bad regular expression: {e}") from None
    return terms


def _with_terms(pattern: str, terms: Mapping[str, str], t: _Table, unknown: str) -> str:
    """`pattern` with each `{name}` replaced by its term; an unknown name is `t`'s error,
    worded by `unknown` (a format string of `name`)."""

    def term(match: re.Match[str]) -> str:
        if match.group(1) not in terms:
            raise t.error(unknown.format(name=match.group(1)))
        return terms[match.group(1)]

    return _TERM.sub(term, pattern)


def _regexes(
    t: _Table, key: str, terms: Mapping[str, str] | None = None
) -> tuple[re.Pattern[str], ...]:
    terms = terms or {}
    compiled = []
    for pattern in t.strs(key, allow_empty=True):
        expanded = _with_terms(pattern, terms, t, key + ": unknown term {{{name}}} (see [terms])")
        try:
            compiled.append(re.compile(expanded))
        except re.error as e:
            raise t.error(f"{key}: bad regular expression {pattern!r}: {e}") from None
    return tuple(compiled)


def _groups(
    t: _Table, key: str, terms: Mapping[str, str]
) -> tuple[tuple[re.Pattern[str], ...], ...]:
    raw = t.data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(g, list) and len(g) > 1 for g in raw):
        raise t.error(f"'{key}' must be a list of lists of two or more regular expressions")
    return tuple(_regexes(_Table(t.file, t.entry, {key: g}), key, terms) for g in raw)


def _load_rules(path: Path, synonyms: Synonyms) -> tuple[SafetyRule, ...]:
    data = load_toml(path)
    terms = _load_terms(path, data.get("terms", {}), synonyms)
    rules = []
    for t in tables(path, data, "rule"):
        urgency = t.str("urgency")
        if urgency not in set(Urgency):
            raise t.error(f"unknown urgency '{urgency}' (known: {', '.join(Urgency)})")
        keywords = tuple(normalise(k, synonyms) for k in t.strs("keywords", allow_empty=True))
        patterns = _regexes(t, "patterns", terms)
        together = _groups(t, "together", terms)
        if not keywords and not patterns and not together:
            raise t.error("needs at least one keyword, pattern or together group")
        advice = t.str("advice")
        if problem := check_html(advice, _FAQ_TAGS):
            raise t.error(f"advice: {problem}")
        rule = SafetyRule(
            id=t.str("id"),
            title=t.str("title"),
            urgency=Urgency(urgency),
            advice=advice,
            source=t.str("source"),
            keywords=keywords,
            patterns=patterns,
            unless=_regexes(t, "unless", terms),
            together=together,
            examples=t.strs("examples"),
        )
        for example in rule.examples:
            if not rule.matches(normalise(example, synonyms)):
                raise t.error(f"example {example!r} does not trigger the rule")
        rules.append(rule)
    return tuple(rules)


def _load_entry(t: _Table, topics: Collection[str]) -> FaqEntry:
    title = t.str("title")
    if len(title) > MAX_TITLE_CHARS:
        raise t.error(f"title is {len(title)} characters, at most {MAX_TITLE_CHARS} fit a button")
    phrasings = t.strs("phrasings")
    if len(phrasings) < MIN_PHRASINGS:
        raise t.error(f"needs at least {MIN_PHRASINGS} phrasings")
    answer = t.str("answer")
    if problem := check_html(answer, _FAQ_TAGS):
        raise t.error(f"answer: {problem}")
    if len(answer) > MAX_ANSWER_CHARS:
        raise t.error(f"answer is {len(answer)} characters, at most {MAX_ANSWER_CHARS}")
    return FaqEntry(
        id=t.str("id"),
        topic=t.ref("topic", topics, "topic"),
        title=title,
        phrasings=phrasings,
        answer=answer,
        source=t.str("source"),
        related=t.strs("related", allow_empty=True),
        exercises=t.strs("exercises", allow_empty=True),
    )


def _load_everyday(path: Path) -> tuple[str, ...]:
    words = load_toml(path).get("words")
    if not isinstance(words, str):
        raise KnowledgeError(f"{path.name}: 'words' must be a string of words")
    found = tuple(words.split())
    for word in found:
        if not re.fullmatch(r"[a-z]+", word):
            raise KnowledgeError(f"{path.name}: '{word}' is not a lower-case word")
    return found


def _load_out_of_scope(path: Path) -> tuple[str, ...]:
    questions = load_toml(path).get("questions")
    if not isinstance(questions, list) or not all(isinstance(q, str) and q for q in questions):
        raise KnowledgeError(f"{path.name}: 'questions' must be a list of non-empty strings")
    seen: set[str] = set()
    for question in questions:
        if (folded := normalise(question)) in seen:
            raise KnowledgeError(f"{path.name}: question '{question}' is listed twice")
        seen.add(folded)
    return tuple(questions)


def _load_asked(path: Path, ids: Collection[str]) -> dict[str, tuple[str, ...]]:
    asked = load_toml(path).get("asked", {})
    if not isinstance(asked, dict):
        raise KnowledgeError(f"{path.name}: [asked] must be a table of entry ids")
    for entry_id, questions in asked.items():
        table = _Table(path, f"entry '{entry_id}'", {"questions": questions})
        if entry_id not in ids:
            raise table.error("is not an entry of faq.toml")
        asked[entry_id] = table.strs("questions")
    return asked


def load_faq(directory: Path, exercise_ids: Collection[str]) -> FaqBase:
    """Read faq.toml, asked.toml, safety.toml, everyday_words.toml and out_of_scope.toml; raise
    KnowledgeError naming the file and entry.

    Besides the shape of each entry this checks what fuzzy matching cannot survive: two entries
    sharing a phrasing, and a phrasing that a safety rule would always intercept.
    """
    path = directory / "faq.toml"
    data = load_toml(path)
    synonyms = _load_synonyms(path, data.get("synonyms", {}))
    topics = tuple(Topic(t.str("id"), t.str("title")) for t in tables(path, data, "topic"))
    entry_tables = tables(path, data, "entry")
    entries = [_load_entry(t, [topic.id for topic in topics]) for t in entry_tables]
    rules = _load_rules(directory / "safety.toml", synonyms)
    scope = _Table(path, "[scope]", data.get("scope") or {})
    not_covered = tuple(normalise(t, synonyms) for t in scope.strs("not_covered", allow_empty=True))
    ids = {e.id for e in entries}
    # Questions people asked, matched like the entry's own phrasings.
    asked = _load_asked(directory / "asked.toml", ids)
    everyday = _load_everyday(directory / "everyday_words.toml")
    out_of_scope = _load_out_of_scope(directory / "out_of_scope.toml")
    matcher = FaqMatcher(
        entries,
        rules,
        synonyms,
        not_covered=not_covered,
        everyday=everyday,
        out_of_scope=out_of_scope,
        asked=asked,
    )
    seen: dict[str, tuple[str, str]] = {}
    for t, entry in zip(entry_tables, entries, strict=True):
        for related in entry.related:
            if related not in ids or related == entry.id:
                raise t.error(f"related names unknown entry '{related}'")
        for exercise in entry.exercises:
            if exercise not in exercise_ids:
                raise t.error(f"exercises names '{exercise}', which is not in exercises.toml")
        asked_table = _Table(directory / "asked.toml", f"entry '{entry.id}'", {})
        for phrasing, table in [(p, t) for p in entry.phrasings] + [
            (p, asked_table) for p in asked.get(entry.id, ())
        ]:
            # Matching ignores stopwords and word endings: compare what it actually compares.
            key = matcher.key(phrasing)
            if key in seen:
                other_id, other = seen[key]
                where = "this entry" if other_id == entry.id else f"entry '{other_id}'"
                raise table.error(
                    f"phrasing '{phrasing}' matches the same words as '{other}' of {where}"
                )
            seen[key] = (entry.id, phrasing)
            key = normalise(phrasing, synonyms)
            if term := matcher.off_topic_term(key):
                raise table.error(f"phrasing '{phrasing}' uses '{term}', listed as not covered")
            if warning := most_urgent(key, rules):
                raise table.error(
                    f"phrasing '{phrasing}' triggers safety rule '{warning.rule.id}' "
                    "and could never be answered"
                )
    for question in out_of_scope:
        if found := seen.get(matcher.key(question)):
            raise KnowledgeError(
                f"out_of_scope.toml: question '{question}' matches the same words as "
                f"'{found[1]}' of entry '{found[0]}'"
            )
    for topic in topics:
        if not any(e.topic == topic.id for e in entries):
            raise KnowledgeError(f"{path.name}: topic '{topic.id}': has no entries")
    return FaqBase(topics, tuple(entries), rules, synonyms, not_covered, matcher)
