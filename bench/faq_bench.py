"""The FAQ matcher against a plain rapidfuzz baseline, on the tune set and the blind holdout.

Run from the project root: .venv/bin/python -m bench.faq_bench
(`--tune-only` leaves tests/data/faq_holdout.toml unread: for use while tuning.)

Sets: "tune" is all of tests/data/faq_eval.toml, the cases tuned on; "former holdout" is its
`was_holdout` part, earlier holdouts that were run once and then tuned on (their in-scope
questions are in knowledge/asked.toml, so their top-1 is a regression check, not a measure);
"holdout" is tests/data/faq_holdout.toml, written by someone else and never looked at while
tuning. Only totals are printed, never a case, so that a run does not spend the holdout.

The baseline is what one would write first: `process.extractOne(question, all_phrasings)` with
rapidfuzz's default scorer (WRatio), no normalisation and a fixed cut-off. It has no safety check,
so it catches no warning sign; the table also shows how many warning messages each side answers
with an FAQ entry instead, which is the harm a missing check does.
The scoring here is also what tests/core/test_faq.py holds to its floors.
"""

from __future__ import annotations

import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rapidfuzz import process

from bot.core.faq import Answer, FaqEntry, NoMatch, Result, Suggestions, WarningSign
from bot.knowledge import load_knowledge

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
EVAL_FILE = DATA / "faq_eval.toml"
HOLDOUT_FILE = DATA / "faq_holdout.toml"
COMMAND = ".venv/bin/python -m bench.faq_bench"
# Just above the 85.5 that WRatio gives any one-word partial match; the best whole number for
# top-1 plus rejection on the tune split (at 85 it rejects nothing, from 88 it answers little).
BASELINE_CUTOFF = 86
REPEATS = 20
SPLITS = ("tune", "holdout")
SETS = ("tune", "former holdout", "holdout")


@dataclass(frozen=True)
class Case:
    q: str
    expect: str  # an entry id, "none" or "warning"
    split: str
    rule: str | None = None
    was_holdout: bool = False  # the first holdout, run once and then moved to "tune"
    # The day it was written: "since September" is a warning sign in December, not in October.
    asked_on: date | None = None


def load_cases(path: Path = EVAL_FILE) -> list[Case]:
    """The file's cases; its top-level `asked_on` date applies to those that give none."""
    data = tomllib.loads(path.read_text("utf-8"))
    if not isinstance(data.get("asked_on"), date):
        raise ValueError(f"{path.name}: needs a top-level asked_on = YYYY-MM-DD (before [[case]])")
    cases = [Case(**{"asked_on": data["asked_on"], **raw}) for raw in data["case"]]
    for case in cases:
        if case.split not in SPLITS:
            raise ValueError(f"{path.name}: {case.q!r}: split must be one of {SPLITS}")
    return cases


def load_sets(*, holdout: bool = True) -> dict[str, list[Case]]:
    """The three sets by name; "holdout" is missing when its file is not there (or not asked for).

    The tune file holds only "tune" cases and the holdout file only "holdout" ones, so that a
    case can never be tuned on and counted as blind at once.
    """
    tune = load_cases(EVAL_FILE)
    if any(c.split != "tune" for c in tune):
        raise ValueError(f'{EVAL_FILE.name}: every case is split = "tune"')
    sets = {"tune": tune, "former holdout": [c for c in tune if c.was_holdout]}
    if holdout and HOLDOUT_FILE.exists():
        blind = load_cases(HOLDOUT_FILE)
        if any(c.split != "holdout" or c.was_holdout for c in blind):
            raise ValueError(f'{HOLDOUT_FILE.name}: every case is split = "holdout"')
        sets["holdout"] = blind
    return sets


@dataclass
class Scores:
    """Counts over one split; the rates are what the floors and the table use."""

    in_scope: int = 0
    top1: int = 0  # a confident answer with the expected entry
    suggested: int = 0  # a "Did you mean" with the expected entry first (not counted in top1)
    out_of_scope: int = 0
    rejected: int = 0
    warnings: int = 0
    caught: int = 0
    right_rule: int = 0  # caught by the labelled rule, of those that name one
    named_rule: int = 0
    warning_answered: int = 0  # a warning message given an FAQ answer or suggestions instead
    false_alarms: int = 0  # a non-warning question answered with a warning

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.in_scope if self.in_scope else 0.0

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def recall(self) -> float:
        return self.caught / self.warnings if self.warnings else 0.0


Predict = Callable[[str, date | None], Result]


def score(predict: Predict, cases: Sequence[Case]) -> Scores:
    s = Scores()
    for case in cases:
        result = predict(case.q, case.asked_on)
        warned = isinstance(result, WarningSign)
        if case.expect == "warning":
            s.warnings += 1
            s.caught += warned
            s.warning_answered += isinstance(result, Answer | Suggestions)
            if case.rule is not None:
                s.named_rule += 1
                s.right_rule += warned and result.rule.id == case.rule
            continue
        s.false_alarms += warned
        if case.expect == "none":
            s.out_of_scope += 1
            s.rejected += isinstance(result, NoMatch)
            continue
        s.in_scope += 1
        s.top1 += isinstance(result, Answer) and result.entry.id == case.expect
        s.suggested += (
            isinstance(result, Suggestions)
            and bool(result.entries)
            and result.entries[0].id == case.expect
        )
    return s


def baseline(
    entries: Sequence[FaqEntry],
    asked: Mapping[str, Sequence[str]] | None = None,
    cutoff: float = BASELINE_CUTOFF,
) -> Predict:
    """Every phrasing and asked question of the knowledge base, as the matcher has them."""
    asked = asked or {}
    pairs = [(p, e) for e in entries for p in (*e.phrasings, *asked.get(e.id, ()))]
    phrasings = [p for p, _ in pairs]
    owner = [e for _, e in pairs]

    def predict(text: str, today: date | None = None) -> Result:
        found = process.extractOne(text, phrasings, score_cutoff=cutoff)
        return NoMatch() if found is None else Answer(owner[found[2]], found[1])

    return predict


def latency_us(
    predict: Callable[[str], object], texts: Sequence[str]
) -> tuple[float, float, float]:
    """Mean, median and 99th percentile in microseconds per question, warm, over REPEATS
    passes. The median shows the typical question when the VM's neighbours make noise."""
    for text in texts:
        predict(text)
    times = []
    for _ in range(REPEATS):
        for text in texts:
            start = time.perf_counter_ns()
            predict(text)
            times.append(time.perf_counter_ns() - start)
    times.sort()
    p99 = times[min(len(times) - 1, len(times) * 99 // 100)]
    return statistics.fmean(times) / 1000, statistics.median(times) / 1000, p99 / 1000


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}% ({part}/{whole})" if whole else "-"


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if set(args) - {"--tune-only"}:
        raise SystemExit(f"usage: {COMMAND} [--tune-only]")
    knowledge = load_knowledge()
    ours = knowledge.faq.matcher.answer
    plain = baseline(knowledge.faq.entries, knowledge.faq.matcher.asked)
    sets = load_sets(holdout="--tune-only" not in args)
    results = {
        name: {label: score(predict, cases) for label, cases in sets.items()}
        for name, predict in (("ours", ours), ("baseline", plain))
    }
    # Timed on the tune questions only: the holdout's are read for its totals and nothing else.
    texts = [c.q for c in sets["tune"]]
    long_text = ("my ankle feels stiff when I squat and " * 120)[:4096]
    today = date.today()

    def dated(text: str) -> Result:  # as the bot calls it: with the day the message was sent
        return ours(text, today)

    timing = {
        "ours": (latency_us(dated, texts), latency_us(dated, [long_text])),
        "baseline": (latency_us(plain, texts), latency_us(plain, [long_text])),
    }

    rows: list[tuple[str, str, str]] = []
    for label in sets:
        o, b = results["ours"][label], results["baseline"][label]
        rows += [
            (f"{label}: top-1, in scope", _pct(o.top1, o.in_scope), _pct(b.top1, b.in_scope)),
            (
                f"{label}: 'Did you mean', expected first",
                _pct(o.suggested, o.in_scope),
                "n/a (no close calls)",
            ),
            (
                f"{label}: out of scope rejected",
                _pct(o.rejected, o.out_of_scope),
                _pct(b.rejected, b.out_of_scope),
            ),
            (
                f"{label}: warning signs caught",
                _pct(o.caught, o.warnings),
                f"{_pct(0, b.warnings)} (no safety check)",
            ),
            (
                f"{label}: ... by the labelled rule",
                _pct(o.right_rule, o.named_rule),
                "n/a",
            ),
            (
                f"{label}: warnings given an FAQ answer",
                _pct(o.warning_answered, o.warnings),
                _pct(b.warning_answered, b.warnings),
            ),
            (f"{label}: false alarms", str(o.false_alarms), str(b.false_alarms)),
        ]
    for label, index in (("question", 0), ("4096-char message", 1)):
        ours, base = timing["ours"][index], timing["baseline"][index]
        for name, o, b in zip(("mean", "median", "p99"), ours, base, strict=True):
            rows.append((f"latency per {label}: {name}", f"{o:8.1f} us", f"{b:8.1f} us"))

    counts = ", ".join(f"{label} {len(cases)}" for label, cases in sets.items())
    print(f"FAQ matching: {counts} questions")
    print(f"tune: {EVAL_FILE.name} (former holdout: its was_holdout cases)")
    if "holdout" in sets:
        print(f"holdout: {HOLDOUT_FILE.name}, blind")
    elif "--tune-only" in args:
        print(f"holdout: {HOLDOUT_FILE.name} left unread (--tune-only)")
    else:
        print(f"holdout: {HOLDOUT_FILE.name} not written yet")
    print(
        f"knowledge: {len(knowledge.faq.entries)} entries, "
        f"{sum(len(e.phrasings) for e in knowledge.faq.entries)} phrasings, "
        f"{sum(map(len, knowledge.faq.matcher.asked.values()))} asked questions, "
        f"{len(knowledge.faq.matcher.out_of_scope)} out-of-scope questions, "
        f"{len(knowledge.faq.rules)} safety rules"
    )
    print(
        "baseline: rapidfuzz.process.extractOne(question, all phrasings and asked questions), "
        f"default scorer "
        f"(WRatio), no normalisation, score_cutoff={BASELINE_CUTOFF}"
    )
    print(
        f"latency: time.perf_counter_ns, {REPEATS} passes over the tune questions, warm; "
        "ours includes the safety check"
    )
    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'ours':<22}  baseline")
    print(f"{'-' * width}  {'-' * 22}  {'-' * 26}")
    for label, ours_cell, base_cell in rows:
        print(f"{label:<{width}}  {ours_cell:<22}  {base_cell}")
    print()
    print(f"command: {COMMAND}{' --tune-only' if '--tune-only' in args else ''}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
