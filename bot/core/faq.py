"""Answer free-text questions from the curated FAQ, after checking them for warning signs.

Order matters: a message that describes a warning sign gets a clinician's advice even when it
also reads like an FAQ question ("my achilles popped, which stretch should I do?"). Only then
is the text fuzzy-matched against every phrasing of every entry. Everything here is pure: the
entries, rules and synonyms come from `bot.knowledge`, and nothing touches Telegram or storage.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import numpy as np
from rapidfuzz import fuzz, process

from bot.core import literals, periods
from bot.core.literals import alternation

# Telegram caps a message at 4096 characters. The safety check reads all of it (a warning sign
# can come late in a long story); the FAQ match reads the first and the last words, where the
# question is: "my ankle is stiff, <a story>, what should a normal person get?"
MAX_MESSAGE_CHARS = 4096
MAX_QUERY_WORDS = 24

# Decision, on a 0-100 score. The best entry is answered when it reaches CONFIDENT and leads the
# runner-up by MARGIN; from CLOSE_CALL up the bot asks "Did you mean" with up to MAX_SUGGESTIONS
# entries; below, the question is out of scope. Tuned on tests/data/faq_eval.toml (all "tune")
# and on leave-one-phrasing-out runs over the knowledge base, never on the holdout in
# tests/data/faq_holdout.toml. A lower bar answers more questions outright for a few more wrong
# answers: at 40 and 1, 585 of the 599 tune questions in scope are answered right and 6 wrong
# (579 and 4 at 42 and 2). A question with a single topic word ("calf") scores high on every
# entry that uses the word, so its best entry must lead by SINGLE_WORD_MARGIN.
CONFIDENT = 40.0
MARGIN = 1.0
CLOSE_CALL = 36.0
SINGLE_WORD_MARGIN = 5.0
MAX_SUGGESTIONS = 3

# Scoring (see FaqMatcher). Word overlap and character similarity share the score half and half;
# within word overlap, the whole entry's vocabulary counts for ENTRY_SHARE and the single best
# phrasing for the rest, so a question may combine words from several phrasings of one entry.
WORD_SHARE = 0.5
ENTRY_SHARE = 0.6
# A word no phrasing uses weighs as much as the rarest word they do (times UNKNOWN_WEIGHT), so
# "wifi" or "pizza" sink a match. A term listed as not covered ("hip", "plantar fasciitis")
# weighs three times more: it is known to be off topic.
UNKNOWN_WEIGHT = 1.0
NOT_COVERED_WEIGHT = 3.0
# The score is scaled by (share of the question's weight that the knowledge base knows) ** this.
KNOWN_SHARE_POWER = 1.0
# A word the phrasings never use is corrected to the nearest one they do at this similarity;
# shorter words are left alone ("plain" is not a typo of "pain").
SPELLING = 85.0
SPELLING_MIN_LENGTH = 6
# The safety check also reads typos of its own words ("swolen"), in this many first words.
MAX_SPELLED_WORDS = 300
# Only these get the (slower) character score, CHARACTERS: the best phrasings by word overlap,
# the out-of-scope questions sharing the most words, and the curated phrasings closest by plain
# character ratio (a typo the spelling step missed; asked questions are too long for that).
# More word candidates change no answer of tests/data/faq_eval.toml; they only cost time.
CHARACTERS = fuzz.token_set_ratio
WORD_CANDIDATES = 20
OUT_OF_SCOPE_CANDIDATES = 8
CHARACTER_CANDIDATES = 10

# Stand-ins in match keys; normalised text never contains "_", so they can't clash with a word.
_NOT_COVERED = "_notcovered"
# "my hips are fine": a not-covered term said to be fine is context, not the question's topic.
_FINE = (
    r"(?P<fine>(?: and \w+)? (?:is|are|feel|feels|seem|seems|look|looks)"
    r"(?: totally| completely| perfectly)?"
    r" (?:fine|ok|okay|good|normal|straight|healthy|perfect)\b)?"
)
_NUMBER = "_number"

# Words that carry no topic. Question words stay: "why" and "how long" separate entries.
_STOPWORDS = """
    a an the i me my mine myself im ive id ill you your yours u ur we our us it its itself this
    that these those is are am was were be been being do does did doing done have has had having
    to of in on at for with from by about as into onto and or but so if then than just really very
    quite bit can could should would will shall may might must there here some any please hi hello
    hey thanks thank thx get got gets getting also still even ever again too like way thing things
    kind sort lot lots ones them they their he she his her him hers theres thats isnt arent u r
    actually basically anyway guys mate ago last year years month months time times
    want wants tell put try trying go going gonna wanna let lets say see seem seems
    something anything everything someone somebody stuff maybe probably sure yes under over
    before after during through while since much help helps helpful helping er erm um umm uh
    uhm hmm ah oh
"""
STOPWORDS = frozenset(_STOPWORDS.split())
# Kept because they tell entries apart, but a question made of nothing else has no topic.
QUESTION_WORDS = frozenset({"what", "how", "why", "when", "where", "which", "who"})
# Everyday words. One that no phrasing uses would otherwise count against a match as an
# unknown, probably off-topic word ("what exactly is dorsiflexion", "I keep hearing about..."):
# these weigh only GENERIC_WEIGHT of the rarest word. A word the phrasings do use keeps its own
# weight, so this list may be broad; it holds no topic a question could be about.
_GENERIC = """
    actual actually basic basically exactly precisely roughly approximately almost nearly quite
    rather pretty fairly super extra totally completely fully entirely absolutely definitely
    certainly surely clearly obviously seriously honestly literally generally usually normally
    typically often sometimes always mostly mainly especially particularly specifically simply
    further farther later lately recently currently already anymore anyway anyways though
    although however because whether whatever whenever wherever unless instead otherwise
    either neither else together alone apart each whole entire full half single simple plain
    easy easily proper properly correct correctly wrong true real certain possible likely main
    general particular specific overall various several another own new old young same
    english language word words term terms plain question questions answer answers idea ideas
    advice tip tips info information issue issues situation case fact example moment
    while yesterday today tomorrow tonight morning evening weekend everyone everybody anybody
    people person folk folks myself yourself ourselves themselves guy someone anyone nothing
    hear heard hearing listen read reading saw seen watch watched notice noticed wonder wondering
    wondered think thinking thought guess suppose supposed supposedly assume wear wearing wore
    keep keeps kept set start started starting begin began manage managed happen happens
    happened seem seemed appear appears become became ask asking asked understand understood
    learn learned remember forget forgot find found bring brought spend spent leave came
    gotta kinda sorta dunno yeah yep nope btw fyi pls plz who whom whose told tells telling
    lol lmao haha hahaha omg idk bro dude bruh tho
    said says enter entered type typed input send sending submit doctor doctors gp mild hard
    related relation connected connection sign signs
    good great nice fine best better worst cool awesome weird strange odd funny little big
    small large huge tiny long short quick quickly slow slowly fast soon early late
    constantly regularly daily nowadays
"""
GENERIC_WEIGHT = 0.0

_APOSTROPHES = str.maketrans({"\u2019": "", "\u2018": "", "'": "", "`": "", "\u00b4": ""})
# "foot's", "it's": the "s" goes with the apostrophe, so "my foot's gone blue" says "foot".
_POSSESSIVE = re.compile(r"(?<=[a-z])['\u2019]s\b")
_NUMBER_UNIT = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")
_NOT_WORD = re.compile(r"[^a-z0-9./]+")
_STRAY_DOT = re.compile(r"(?<!\d)[./]|[./](?!\d)")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z]{5,}")  # words of a rule, for the spelling of warning words


def _fold(text: str) -> str:
    """Lower case, accents stripped, apostrophes dropped, punctuation to spaces, repeats cut."""
    text = text[:MAX_MESSAGE_CHARS]
    if not text.isascii():  # most messages are: skip the per-character pass
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    text = _POSSESSIVE.sub("", text).translate(_APOSTROPHES)
    text = _NUMBER_UNIT.sub(" ", text)
    text = _STRAY_DOT.sub(" ", _NOT_WORD.sub(" ", text))
    text = _REPEATS.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Synonyms:
    """Rewrites variants (typos, slang, other spellings) to one canonical form, longest first."""

    canonical_of: Mapping[str, str] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        # Canonical forms map to themselves so that "foam roller" is not rewritten again by
        # its variant "roller".
        keys = {**{c: c for c in self.canonical_of.values()}, **self.canonical_of}
        object.__setattr__(self, "canonical_of", keys)
        if keys:
            object.__setattr__(self, "_pattern", re.compile(rf"\b(?:{alternation(keys)})\b"))

    @classmethod
    def from_groups(cls, groups: Mapping[str, Iterable[str]]) -> Synonyms:
        """`{"achilles": ["achillies", "achilis"]}`; both sides are normalised first."""
        canonical_of: dict[str, str] = {}
        for canonical, variants in groups.items():
            for variant in variants:
                canonical_of[_fold(variant)] = _fold(canonical)
        return cls(canonical_of)

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.canonical_of[m.group(0)], text)


def normalise(text: str, synonyms: Synonyms | None = None) -> str:
    """The form both questions and phrasings are compared in.

    "Achillies  TENDON, can't dorsi-flex 8cm!" -> "achilles tendon cant dorsiflexion 8 cm"
    (with the knowledge base's synonyms).
    """
    folded = _fold(text)
    return synonyms.apply(folded) if synonyms is not None else folded


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    PROMPT = "prompt"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """0 is the most urgent."""
        return _URGENCY_RANK[self]


_URGENCY_RANK = {urgency: n for n, urgency in enumerate(Urgency)}


@dataclass(frozen=True)
class FaqEntry:
    id: str
    topic: str
    title: str
    phrasings: tuple[str, ...]
    answer: str
    source: str
    related: tuple[str, ...] = ()
    exercises: tuple[str, ...] = ()


@dataclass(frozen=True)
class SafetyRule:
    """A warning sign. `keywords` are normalised phrases, `patterns` regexes; `together` holds
    groups of regexes that must all match; any `unless` regex cancels the rule."""

    id: str
    title: str
    urgency: Urgency
    advice: str
    source: str
    keywords: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    unless: tuple[re.Pattern[str], ...] = ()
    together: tuple[tuple[re.Pattern[str], ...], ...] = ()
    examples: tuple[str, ...] = ()
    _any: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    # Substrings a match must contain (bot.core.literals): most messages skip most rules.
    _any_needs: frozenset[str] | None = field(init=False, repr=False, compare=False, default=None)
    _together_needs: tuple[tuple[frozenset[str] | None, ...], ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    _scanner: literals.Scanner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One pass over the text instead of one per pattern: a long message costs less.
        parts = [p.pattern for p in self.patterns]
        if self.keywords:
            parts.insert(0, rf"\b(?:{alternation(self.keywords)})\b")
        if parts:
            pattern = re.compile("|".join(f"(?:{p})" for p in parts))
            object.__setattr__(self, "_any", pattern)
            object.__setattr__(self, "_any_needs", literals.prefilter(pattern))
        needs = tuple(tuple(literals.prefilter(p) for p in group) for group in self.together)
        object.__setattr__(self, "_together_needs", needs)
        object.__setattr__(self, "_scanner", literals.Scanner(self.needs()))

    def needs(self) -> list[frozenset[str] | None]:
        """Every literal test of the rule, for a Scanner shared by all rules."""
        return [self._any_needs, *(n for group in self._together_needs for n in group)]

    def vocabulary(self) -> str:
        """Every word the rule's keywords and regexes spell out, for spelling correction."""
        sources = [p.pattern for p in (*self.patterns, *(p for g in self.together for p in g))]
        return " ".join((*self.keywords, *sources))

    def matches(self, normalised: str, present: frozenset[str] | None = None) -> bool:
        """`present`: the literals the text holds, from a Scanner over all rules' needs()."""
        if present is None:
            present = self._scanner.scan(normalised)
        may = literals.may_match
        hit = (
            self._any is not None
            and may(self._any_needs, present)
            and self._any.search(normalised) is not None
        ) or any(
            all(may(n, present) for n in needs) and all(p.search(normalised) for p in group)
            for group, needs in zip(self.together, self._together_needs, strict=True)
        )
        return hit and not any(p.search(normalised) for p in self.unless)


@dataclass(frozen=True)
class Answer:
    entry: FaqEntry
    score: float


@dataclass(frozen=True)
class Suggestions:
    """A close call: the bot asks "Did you mean…" with one button per entry, best first."""

    entries: tuple[FaqEntry, ...]
    scores: tuple[float, ...] = ()


@dataclass(frozen=True)
class NoMatch:
    pass


@dataclass(frozen=True)
class WarningSign:
    rule: SafetyRule


Result = Answer | Suggestions | NoMatch | WarningSign


# "never injured", "no pain", "haven't had any surgery", "does stretching prevent injuries": a
# warning word that is denied or only feared is not a warning sign. Only these words are
# denied this way: "not able to walk" still is one.
_DENIED = re.compile(
    r"\b(?:(?:never|not|no|nothing|zero|without|havent|hasnt|hadnt|didnt|doesnt|dont|wasnt|"
    r"werent|isnt|arent)"
    r"(?: (?:been|had|have|any|ever|an|a|previous|prior|past|real|major|serious|really|very|"
    r"that|too|at all|particularly|actually|actual|overly|badly|seriously|properly|ankle|"
    r"ankles|foot|feet|calf|achilles|heel|leg))*"
    r"|(?:prevent\w*|avoid\w*|to stop|reduc\w*|lower\w*)"
    r"(?: (?:the|a|an|any|risk|chance|of|future|getting))*)"
    r" (?:injur\w*|hurt|damag\w*|surger\w*|operat\w*|fractur\w*|broken|sprain\w*|pain|"
    r"painful|swelling|swollen|brace|cast|tingl\w*|numb\w*|pins and needles|diabet\w*|"
    r"neuropath\w*|circulation problems?|click\w*|bruis\w*|sharp|redness|edema|oedema)"
    r"(?: (?:or|and|nor) (?:tingl\w*|numb\w*|pins and needles|pain|swelling|hurt|click\w*))*\b"
)


def most_urgent(
    normalised: str, rules: Sequence[SafetyRule], scanner: literals.Scanner | None = None
) -> WarningSign | None:
    """The most urgent rule the normalised text triggers; file order breaks ties. `scanner`,
    built from the rules' needs(), finds what each rule looks for in one pass."""
    normalised = _DENIED.sub(" ", normalised)
    present = scanner.scan(normalised) if scanner is not None else None
    best: SafetyRule | None = None
    for rule in rules:
        if (best is None or rule.urgency.rank < best.urgency.rank) and rule.matches(
            normalised, present
        ):
            best = rule
    return WarningSign(best) if best is not None else None


def check_safety(
    text: str, rules: Sequence[SafetyRule], synonyms: Synonyms | None = None
) -> WarningSign | None:
    """Whether a message describes a warning sign; `synonyms` must be the ones rules expect."""
    return most_urgent(normalise(text, synonyms), rules)


_SUFFIXES = ("ations", "ation", "ments", "ment", "ness", "ions", "ion", "ing", "ate", "ed", "er")
_SUFFIXES += ("ly", "s")
_UNDOUBLE_AFTER = frozenset({"ing", "ed"})
_DOUBLED = re.compile(r"([bdgkmnprt])\1$")  # not "ll", "ss", "ff": "rolled", "stuffed"
# Words the suffix strip would turn into another topic word: "number" is not "numb".
_UNSTEMMED = {"number": "number", "numbers": "number"}


def _strips(word: str, suffix: str) -> bool:
    """Whether `suffix` comes off `word`; "ss" is not a plural ("stiffness", "press")."""
    if suffix == "s" and word.endswith("ss"):
        return False
    return word.endswith(suffix) and len(word) - len(suffix) >= 3


@functools.lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A crude suffix strip, the same on both sides: "stiffness", "rotation", "measured" meet
    "stiff", "rotate", "measure". Numbers and short words are left alone."""
    if len(word) <= 4 or not word.isalpha():
        return word
    if word in _UNSTEMMED:
        return _UNSTEMMED[word]
    if word.endswith("ies"):
        return word[:-3] + "y"
    for suffixes in (_SUFFIXES, _SUFFIXES[:-1]):  # "lowering" -> "lower" -> "low", not past "s"
        suffix = next((x for x in suffixes if _strips(word, x)), "")
        word = word[: len(word) - len(suffix)]
        if suffix in _UNDOUBLE_AFTER and len(word) > 3 and _DOUBLED.search(word):
            word = word[:-1]  # "dropped", "running" meet "drop", "run"
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


class FaqMatcher:
    """Built once at start-up: phrasings are normalised and indexed here, not per question.

    Questions are short, so plain string similarity mostly measures shared filler ("how do I").
    A question is therefore scored against each phrasing two ways, and an entry takes its best:
    - words: how much of the question the phrasing (and the entry as a whole) covers, and how
      much of the phrasing the question covers, each word weighted by how few entries use it:
      "structural" decides, "ankle" hardly counts, and a word the knowledge base never uses
      counts against the match;
    - characters: rapidfuzz's token_set_ratio, for word order and near-misses.

    Questions the FAQ does not answer (`out_of_scope`, "how often should I stretch my
    hamstrings") are scored the same way, each on its own: a question at least as close to one
    of them as to any entry is out of scope, however many topic words it shares with an entry.
    """

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        rules: Sequence[SafetyRule] = (),
        synonyms: Synonyms | None = None,
        *,
        confident: float = CONFIDENT,
        close_call: float = CLOSE_CALL,
        margin: float = MARGIN,
        not_covered: Iterable[str] = (),
        everyday: Iterable[str] = (),
        out_of_scope: Iterable[str] = (),
        asked: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.entries = tuple(entries)
        self.rules = tuple(rules)
        self.synonyms = synonyms or Synonyms()
        self.confident, self.close_call, self.margin = confident, close_call, margin
        compounds = sorted(
            {c for c in self.synonyms.canonical_of.values() if " " in c}, key=len, reverse=True
        )
        self._compounds = re.compile(rf"\b(?:{alternation(compounds)})\b") if compounds else None
        # Every phrasing belongs to a slot: one per entry, then one per out-of-scope question.
        self._keys: list[str] = []
        slot_of: list[int] = []
        self.asked = {entry_id: tuple(qs) for entry_id, qs in (asked or {}).items()}
        typo_index: list[int] = []  # the curated phrasings, where a typo is looked up
        for slot, entry in enumerate(self.entries):
            for phrasing in entry.phrasings:
                typo_index.append(len(self._keys))
                self._keys.append(self._key_of(self.normalise(phrasing)))
                slot_of.append(slot)
            for question in self.asked.get(entry.id, ()):
                self._keys.append(self._key_of(self.normalise(question)))
                slot_of.append(slot)
        used_by: dict[str, set[int]] = {}
        for slot, key in zip(slot_of, self._keys, strict=True):
            for word in key.split():
                used_by.setdefault(word, set()).add(slot)
        # Weights come from the entries alone: an off-topic question using "stretch" does not
        # make the word any less telling between entries.
        total = len(self.entries)
        self._weight = {w: math.log(1 + total / len(slots)) for w, slots in used_by.items()}
        self._vocabulary = sorted(self._weight)
        rarest = max(self._weight.values(), default=1.0)
        self._unknown = UNKNOWN_WEIGHT * rarest
        self._generic_weight = GENERIC_WEIGHT * rarest
        everyday = tuple(everyday)
        generic = frozenset(stem(w) for w in (*_GENERIC.split(), *everyday))
        self._generic = generic - self._weight.keys()
        self._off_topic = NOT_COVERED_WEIGHT * rarest
        self.not_covered = tuple(not_covered)
        self._not_covered = (
            re.compile(rf"\b(?:{alternation(self.not_covered)})\b{_FINE}")
            if self.not_covered
            else None
        )
        self._corrections: dict[str, str] = {}
        self._answerable = len(self._keys)  # keys before this one belong to entries
        self._typo_index = typo_index
        self._typo_keys = [self._keys[i] for i in typo_index]
        # Out-of-scope questions are keyed as a user's question would be, each its own slot.
        self.out_of_scope = tuple(out_of_scope)
        for n, question in enumerate(self.out_of_scope):
            self._keys.append(self.query_key(self.normalise(question)))
            slot_of.append(total + n)
            for word in self._keys[-1].split():
                used_by.setdefault(word, set()).add(total + n)
        postings: dict[str, list[int]] = {}
        for index, key in enumerate(self._keys):
            for word in set(key.split()):
                postings.setdefault(word, []).append(index)
        self._postings = {w: np.array(ix, dtype=np.intp) for w, ix in postings.items()}
        self._mass = np.array([sum(map(self._weight_of, set(k.split()))) for k in self._keys])
        self._slots = total + len(self.out_of_scope)
        self._slot_of = np.array(slot_of, dtype=np.intp)  # of each key
        self._used_by = {w: np.array(sorted(s), dtype=np.intp) for w, s in used_by.items()}
        # Spelling for the safety check: words the rules look for, and every word the FAQ and
        # its scope use, so that a typo is only read as a warning word when it is closest to one
        # ("who painted the mona lisa" is not "fainted").
        self._alarm_words = sorted(
            {w for rule in self.rules for w in _WORD.findall(rule.vocabulary())}
        )
        self._plain_words = sorted(
            (
                {w for pair in self.synonyms.canonical_of.items() for w in " ".join(pair).split()}
                | {w for e in self.entries for p in e.phrasings for w in self.normalise(p).split()}
                | {w for phrase in self.not_covered for w in phrase.split()}
                | {w for q in self.out_of_scope for w in self.normalise(q).split()}
                | set(_GENERIC.split())
                | set(everyday)
            )
            - set(self._alarm_words)
        )
        self._known_words = frozenset(self._alarm_words) | frozenset(self._plain_words)
        self._alarm_initial: dict[str, list[str]] = {}
        for w in self._alarm_words:
            self._alarm_initial.setdefault(w[0], []).append(w)
        self._alarm_spelling: dict[str, str] = {}
        self._scanner = literals.Scanner(n for rule in self.rules for n in rule.needs())

    def normalise(self, text: str) -> str:
        return normalise(text, self.synonyms)

    def off_topic_term(self, normalised: str) -> str | None:
        """The first term listed as not covered ("plantar fasciitis") that the text names."""
        if self._not_covered is None:
            return None
        found = (m for m in self._not_covered.finditer(normalised) if not m["fine"])
        return next((m.group(0) for m in found), None)

    def key(self, text: str) -> str:
        """What a phrasing is matched as: two phrasings with one key are the same question."""
        return self._key_of(self.normalise(text))

    def _key_of(self, normalised: str) -> str:
        """Topic words only; a multi-word term ("how often", "knee to wall") is one word, and
        every number is the same word: "is 7 cm good" asks what "is 8 cm good" asks."""
        if self._compounds is not None:
            normalised = self._compounds.sub(lambda m: m.group(0).replace(" ", ""), normalised)
        return " ".join(
            _NUMBER if w[0].isdigit() else stem(w) for w in normalised.split() if w not in STOPWORDS
        )

    def _correct(self, word: str) -> str:
        """A word the phrasings never use is replaced by the nearest one they do, if close."""
        if word in self._weight or len(word) < SPELLING_MIN_LENGTH or not word.isalpha():
            return word
        if word not in self._corrections:
            if len(self._corrections) > 10_000:
                self._corrections.clear()
            found = process.extractOne(
                word, self._vocabulary, scorer=fuzz.ratio, processor=None, score_cutoff=SPELLING
            )
            self._corrections[word] = found[0] if found else word
        return self._corrections[word]

    def query_key(self, normalised: str) -> str:
        """Topic words of the question, typos corrected; a not-covered term becomes a marker."""
        words = normalised.split()
        if len(words) > MAX_QUERY_WORDS:
            half = MAX_QUERY_WORDS // 2
            words = words[:half] + words[-half:]
        text = " ".join(words)
        if self._compounds is not None:  # "bad knee to wall score" is about the test
            text = self._compounds.sub(lambda m: m.group(0).replace(" ", ""), text)
        if self._not_covered is not None:
            text = self._not_covered.sub(lambda m: " " if m["fine"] else f" {_NOT_COVERED} ", text)
        words = self._key_of(text).split()
        return " ".join(dict.fromkeys(self._correct(w) for w in words))

    def ranked(self, text: str, limit: int = MAX_SUGGESTIONS) -> list[tuple[FaqEntry, float]]:
        """Entries by their best-matching phrasing, best first (FAQ only, no safety check)."""
        return self._ranked(self._scores(self.query_key(self.normalise(text))), limit)

    def _ranked(self, scores: np.ndarray | None, limit: int) -> list[tuple[FaqEntry, float]]:
        if scores is None:
            return []
        entries = scores[: len(self.entries)]
        top = [i for i in np.argsort(-entries, kind="stable")[:limit].tolist() if entries[i] >= 0]
        return [(self.entries[i], float(entries[i])) for i in top]

    def _weight_of(self, word: str) -> float:
        if word == _NOT_COVERED:
            return self._off_topic
        if word in self._weight:
            return self._weight[word]
        return self._generic_weight if word in self._generic else self._unknown

    def _scores(self, key: str) -> np.ndarray | None:
        """Each slot's best score (entries, then out-of-scope questions); -1 if not scored."""
        words = key.split()
        if not set(words) - QUESTION_WORDS:
            return None
        weights = [self._weight_of(w) for w in words]
        query_mass = sum(weights)
        if query_mass <= 0:
            return None
        known = sum(wt for w, wt in zip(words, weights, strict=True) if w in self._weight)
        # Word overlap with every phrasing, and with every entry's vocabulary as a whole: one
        # numpy add per query word instead of a Python loop over its postings.
        shared = np.zeros(len(self._keys))
        covered = np.zeros(self._slots)
        for word, weight in zip(words, weights, strict=True):
            if word in self._postings:
                shared[self._postings[word]] += weight
                covered[self._used_by[word]] += weight
        # F1 of recall (shared / query) and precision (shared / phrasing), simplified.
        by_words = 2 * shared / (query_mass + self._mass)
        # Candidates: the best phrasings by words, the out-of-scope questions sharing the most
        # words, and the closest strings by characters (a typo the spelling step missed). Only
        # these get the costlier character score.
        hit = np.flatnonzero(shared)
        hit, off_topic = np.split(hit, [np.searchsorted(hit, self._answerable)])
        entry_share = covered[self._slot_of] / query_mass
        words_score = (1 - ENTRY_SHARE) * by_words + ENTRY_SHARE * entry_share
        best_words = np.argsort(-words_score[hit], kind="stable")[:WORD_CANDIDATES]
        candidates = set(hit[best_words].tolist())
        nearest = np.argsort(-by_words[off_topic], kind="stable")[:OUT_OF_SCOPE_CANDIDATES]
        candidates.update(off_topic[nearest].tolist())
        if known < query_mass:  # only a word the knowledge base does not know can be a typo
            candidates.update(
                self._typo_index[i]
                for _, _, i in process.extract(
                    key,
                    self._typo_keys,
                    scorer=fuzz.ratio,
                    processor=None,
                    limit=CHARACTER_CANDIDATES,
                )
            )
        ordered = np.fromiter(candidates, dtype=np.intp, count=len(candidates))
        # One C call for all candidates instead of one Python call each.
        characters = process.cdist(
            [key], [self._keys[i] for i in ordered], scorer=CHARACTERS, processor=None, dtype=float
        )[0]
        slots = self._slot_of[ordered]
        damping = 100 * (known / query_mass) ** KNOWN_SHARE_POWER
        scores = damping * (WORD_SHARE * words_score[ordered] + (1 - WORD_SHARE) * characters / 100)
        best = np.full(self._slots, -1.0)
        np.maximum.at(best, slots, scores)
        return best

    def match(self, text: str) -> Answer | Suggestions | NoMatch:
        """The FAQ side alone: a confident answer, a close call, or nothing."""
        return self._decide(self.query_key(self.normalise(text)))

    def _decide(self, key: str) -> Answer | Suggestions | NoMatch:
        scores = self._scores(key)
        ranked = self._ranked(scores, MAX_SUGGESTIONS)
        if scores is None or not ranked or ranked[0][1] < self.close_call:
            return NoMatch()
        top_entry, top = ranked[0]
        # As close to a question the FAQ does not answer as to any it does: out of scope.
        if scores[len(self.entries) :].max(initial=-1.0) >= top:
            return NoMatch()
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        # One topic word ("calf", "when will I see results") scores high wherever it is used,
        # so its best entry must lead by more to be answered outright.
        single = len(set(key.split()) - QUESTION_WORDS) == 1
        margin = max(self.margin, SINGLE_WORD_MARGIN) if single else self.margin
        if top >= self.confident and top - runner_up >= margin:
            return Answer(top_entry, top)
        close = [(e, s) for e, s in ranked if s >= self.close_call]
        return Suggestions(tuple(e for e, _ in close), tuple(s for _, s in close))

    def _alarm_typo(self, word: str) -> str:
        """The warning word `word` is a typo of ("swolen", "fractered"), or `word` itself.

        Only when that word is closer than any word the FAQ uses: "planter" is as close to
        "plantar" (not covered) as to "plaster" (a cast), so it stays "planter". And only a
        warning word with the same first letter, which people seldom mistype: "heels rising"
        is not bruising; and not when the word only adds an ending ("tibial" nerve).
        """
        if word not in self._alarm_spelling:
            if len(self._alarm_spelling) > 10_000:
                self._alarm_spelling.clear()
            same_initial = self._alarm_initial.get(word[0], ())
            alarm = process.extractOne(
                word, same_initial, scorer=fuzz.ratio, processor=None, score_cutoff=SPELLING
            )
            plain = process.extractOne(
                word, self._plain_words, scorer=fuzz.ratio, processor=None, score_cutoff=SPELLING
            )
            # a warning word with an ending ("tibial" nerve) is another word, not a typo of it
            typo = (
                alarm is not None
                and (plain is None or alarm[1] > plain[1])
                and not word.startswith(alarm[0])
            )
            self._alarm_spelling[word] = alarm[0] if alarm is not None and typo else word
        return self._alarm_spelling[word]

    def check_spelled(self, normalised: str) -> WarningSign | None:
        """The safety check, then again with likely typos of warning words corrected.

        Synonyms catch the typos people make in FAQ words; a warning sign can come in any
        spelling ("my ankle is swolen"), and missing one costs more than a needless warning.
        """
        warning = most_urgent(normalised, self.rules, self._scanner)
        if warning is not None or not self._alarm_words:
            return warning
        words = normalised.split()
        fixed = [
            self._alarm_typo(w)
            if n < MAX_SPELLED_WORDS
            and len(w) >= SPELLING_MIN_LENGTH
            and w.isalpha()
            and w not in self._known_words
            and w not in STOPWORDS
            else w
            for n, w in enumerate(words)
        ]
        return most_urgent(" ".join(fixed), self.rules, self._scanner) if fixed != words else None

    def answer(self, text: str, today: date | None = None) -> Result:
        """Warning signs first, then the FAQ. `today` is the day the message was sent: the
        safety rules need it to tell how long "since September" is."""
        normalised = self.normalise(text)
        warning = self.check_spelled(periods.dated(normalised, today))
        if warning is not None:
            return warning
        return self._decide(self.query_key(normalised))
