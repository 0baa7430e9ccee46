"""Retire a spent blind holdout: its cases join the tune set, its in-scope questions the knowledge.

Run from the project root, once the holdout has been run (`python -m bench.faq_bench`) and its
figures written into its header: .venv/bin/python -m bench.faq_promote "round 9"

- every case of tests/data/faq_holdout.toml is appended to tests/data/faq_eval.toml under a
  header naming the round, as `split = "tune"` and `was_holdout = true` (exact repeats of a tune
  question are dropped);
- every in-scope question goes into knowledge/asked.toml under its entry, unless it reads the
  same as a phrasing or an asked question already there (the first one wins), names an
  out-of-scope term, or would be answered by a safety rule (it could never reach the FAQ);
- every out-of-scope question goes into knowledge/out_of_scope.toml, unless it is there already
  or reads the same as a phrasing;
- the holdout file is removed: the next round is written blind, by someone else.

Nothing is tuned here; the changes are plain text, to be read in `git diff` before a commit.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from bench.faq_bench import EVAL_FILE, HOLDOUT_FILE, load_cases
from bot.core.faq import most_urgent
from bot.knowledge import DEFAULT_DIR, load_knowledge

ASKED_FILE = DEFAULT_DIR / "asked.toml"
OUT_OF_SCOPE_FILE = DEFAULT_DIR / "out_of_scope.toml"
_CASE = re.compile(r"^\[\[case\]\]\n", re.MULTILINE)


def retire_cases(round_name: str, holdout: Path = HOLDOUT_FILE, tune: Path = EVAL_FILE) -> int:
    """Append the holdout's cases to the tune file, in their own words; the number added."""
    known = {c.q.strip().casefold() for c in load_cases(tune)}
    text = holdout.read_text("utf-8")
    asked_on = tomllib.loads(text).get("asked_on")
    header = text[: _CASE.search(text).start()] if _CASE.search(text) else ""
    blocks = [b.strip() for b in _CASE.split(text)[1:]]
    kept = []
    for block in blocks:
        question = tomllib.loads(f"[[case]]\n{block}")["case"][0]["q"]
        if question.strip().casefold() in known:
            continue
        known.add(question.strip().casefold())
        block = block.replace('split = "holdout"', 'split = "tune"\nwas_holdout = true')
        if asked_on is not None and not re.search(r"^asked_on\b", block, re.MULTILINE):
            block += f"\nasked_on = {asked_on}"  # the tune file's own date is another day
        kept.append(block)
    notes = "".join(f"# {line.lstrip('# ')}".rstrip() + "\n" for line in header.splitlines())
    section = f"\n# {'-' * 64} {round_name} holdout (spent)\n{notes}\n"
    section += "\n".join(f"[[case]]\n{block}\n" for block in kept)
    with tune.open("a", encoding="utf-8") as out:
        out.write(section)
    return len(kept)


def promote_questions(
    cases_path: Path = HOLDOUT_FILE,
    asked_path: Path = ASKED_FILE,
    out_of_scope_path: Path = OUT_OF_SCOPE_FILE,
) -> tuple[int, int]:
    """Add the in-scope questions to asked.toml, the out-of-scope ones to out_of_scope.toml;
    how many went to each."""
    faq = load_knowledge().faq
    matcher = faq.matcher
    asked: dict[str, list[str]] = {
        k: list(v) for k, v in tomllib.loads(asked_path.read_text("utf-8"))["asked"].items()
    }
    off_topic: list[str] = list(tomllib.loads(out_of_scope_path.read_text("utf-8"))["questions"])
    seen = {matcher.key(p) for e in faq.entries for p in e.phrasings}
    seen |= {matcher.key(q) for questions in asked.values() for q in questions}
    listed = {matcher.normalise(q) for q in off_topic}
    added = [0, 0]
    for case in load_cases(cases_path):
        question = " ".join(case.q.split())
        key, normalised = matcher.key(question), matcher.normalise(question)
        if case.expect == "warning" or not key or key in seen:
            continue
        if case.expect == "none":
            if normalised not in listed:
                listed.add(normalised)
                off_topic.append(question)
                added[1] += 1
            continue
        if most_urgent(normalised, faq.rules) or matcher.off_topic_term(normalised):
            continue
        seen.add(key)
        asked.setdefault(case.expect, []).append(question)
        added[0] += 1
    _rewrite(asked_path, "[asked]\n", _asked_body(asked, [e.id for e in faq.entries]))
    body = "".join(f"    {json.dumps(q, ensure_ascii=False)},\n" for q in off_topic) + "]\n"
    _rewrite(out_of_scope_path, "questions = [\n", body)
    return added[0], added[1]


def _asked_body(asked: dict[str, list[str]], order: list[str]) -> str:
    parts = []
    for entry_id in order:
        if questions := asked.get(entry_id):
            lines = "".join(f"    {json.dumps(q, ensure_ascii=False)},\n" for q in questions)
            parts.append(f'"{entry_id}" = [\n{lines}]\n')
    return "".join(parts)


def _rewrite(path: Path, marker: str, body: str) -> None:
    """Keep the file's header (its comments, up to and including `marker`), replace the rest."""
    text = path.read_text("utf-8")
    path.write_text(text[: text.index(marker) + len(marker)] + body, "utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1 or not HOLDOUT_FILE.exists():
        raise SystemExit('usage: python -m bench.faq_promote "round N" (with faq_holdout.toml)')
    asked, off_topic = promote_questions()
    cases = retire_cases(args[0])
    HOLDOUT_FILE.unlink()
    print(
        f"{cases} cases moved to {EVAL_FILE.name}; questions added: {asked} to "
        f"{ASKED_FILE.name}, {off_topic} to {OUT_OF_SCOPE_FILE.name}"
    )


if __name__ == "__main__":
    main()
