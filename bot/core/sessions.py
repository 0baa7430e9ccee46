"""Today's session from the programme, streaks of done days, and when and how to re-test."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from bot.core.programme import Block, Exercise, Programme

ROTATION_DAYS = 7


@dataclass(frozen=True)
class SessionItem:
    block: Block
    exercise: Exercise
    focus: bool


Session = tuple[SessionItem, ...]


def todays_session(programme: Programme, day: date) -> Session:
    """The exercises for `day`, in the programme's block order.

    Every day: the whole first block (the warm-up) and every focus exercise, because those are
    what the user's own restriction needs. The remaining exercises take turns: numbered in
    programme order, exercise i comes on the days where day.toordinal() % P == i % P, with
    P = min(their count, 7). So each one returns every P days, at least once in any 7
    consecutive days, every block is covered every week, and a short list still gives each day
    one extra exercise. The rotation depends only on the date, so it survives restarts and
    shows the same session on every device.
    """
    daily: set[str] = set()
    rotating: list[str] = []
    for n, programme_block in enumerate(programme.blocks):
        for item in programme_block.items:
            if n == 0 or item.focus:
                daily.add(item.exercise.id)
            else:
                rotating.append(item.exercise.id)
    period = min(len(rotating), ROTATION_DAYS)
    today = set(daily)
    if period:
        slot = day.toordinal() % period
        today.update(ex for i, ex in enumerate(rotating) if i % period == slot)
    return tuple(
        SessionItem(b.block, item.exercise, item.focus)
        for b in programme.blocks
        for item in b.items
        if item.exercise.id in today
    )


@dataclass(frozen=True)
class Streak:
    current: int
    best: int


def streaks(done_days: Iterable[date], today: date) -> Streak:
    """Consecutive done days. Today not done yet does not break the streak until it is over.

    `current` counts back from today, or from yesterday if today is not done yet; `best` is the
    longest run ever. Days after `today` (a clock or zone mix-up) are ignored.
    """
    days = {d for d in done_days if d <= today}
    best = run = 0
    previous: date | None = None
    for day in sorted(days):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    current = 0
    day = today if today in days else today - timedelta(days=1)
    while day in days:
        current += 1
        day -= timedelta(days=1)
    return Streak(current, best)


def week_counts(done_days: Iterable[date], today: date, weeks: int = 8) -> list[tuple[date, int]]:
    """Done days per ISO week (Monday first), oldest first, ending with this week."""
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    counts = dict.fromkeys(mondays, 0)
    for day in {d for d in done_days if d <= today}:
        monday = day - timedelta(days=day.weekday())
        if monday in counts:
            counts[monday] += 1
    return list(counts.items())


def retest_due(
    last_test: datetime | None, now: datetime, every: timedelta = timedelta(days=14)
) -> bool:
    """Re-testing more often than the measurement can change only shows noise."""
    return last_test is None or now - last_test >= every


class Trend(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    WITHIN_NOISE = "within_noise"


@dataclass(frozen=True)
class Change:
    delta_cm: float  # after - before: positive is more ankle range
    trend: Trend


def compare_tests(before_cm: float, after_cm: float, noise_cm: float) -> Change:
    """Only a change of at least the test's measurement error counts as real.

    `noise_cm` is `measurement_error_cm` from assessment.toml, the minimal detectable change:
    a smaller difference may be nothing but how the foot was placed that day.
    """
    delta = round(after_cm - before_cm, 1)
    if abs(delta) < noise_cm:
        return Change(delta, Trend.WITHIN_NOISE)
    return Change(delta, Trend.BETTER if delta > 0 else Trend.WORSE)
