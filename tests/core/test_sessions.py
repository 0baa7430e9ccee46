from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.core.programme import (
    Block,
    Exercise,
    Item,
    Programme,
    ProgrammeBlock,
    build_programme,
)
from bot.core.sessions import (
    Change,
    Streak,
    Trend,
    compare_tests,
    retest_due,
    streaks,
    todays_session,
    week_counts,
)
from bot.knowledge import Knowledge

FACTOR_SETS = [(), ("joint",), ("tendon",), ("muscle-neural",), ("shin",), ("joint", "tendon")]
START = date(2026, 3, 2)  # a Monday


def _exercise(exercise_id: str, block: str) -> Exercise:
    return Exercise(
        exercise_id, block, exercise_id.title(), "10 reps", "", ("Do it",), (), (), (), False, ""
    )


def _programme(blocks: dict[str, list[tuple[str, bool]]]) -> Programme:
    return Programme(
        tuple(
            ProgrammeBlock(
                Block(block_id, block_id.title(), ""),
                tuple(Item(_exercise(e, block_id), focus) for e, focus in items),
            )
            for block_id, items in blocks.items()
        )
    )


def _ids(programme: Programme, day: date) -> list[str]:
    return [item.exercise.id for item in todays_session(programme, day)]


@pytest.mark.parametrize("factors", FACTOR_SETS)
def test_any_seven_days_cover_every_exercise_and_block(
    knowledge: Knowledge, factors: tuple[str, ...]
) -> None:
    programme = build_programme(factors, knowledge.blocks, knowledge.exercises)
    everything = {i.exercise.id for b in programme.blocks for i in b.items}
    blocks = {b.block.id for b in programme.blocks}
    for offset in range(21):
        week = [START + timedelta(days=offset + n) for n in range(7)]
        sessions = [todays_session(programme, day) for day in week]
        assert {i.exercise.id for s in sessions for i in s} == everything
        assert {i.block.id for s in sessions for i in s} == blocks


@pytest.mark.parametrize("factors", FACTOR_SETS)
def test_warm_up_and_focus_every_day(knowledge: Knowledge, factors: tuple[str, ...]) -> None:
    programme = build_programme(factors, knowledge.blocks, knowledge.exercises)
    focus = {e.id for e in programme.focus}
    for n in range(14):
        ids = set(_ids(programme, START + timedelta(days=n)))
        assert "ankle-circles" in ids
        assert focus <= ids


def test_focus_for_the_joint_is_in_every_session(knowledge: Knowledge) -> None:
    programme = build_programme(["joint"], knowledge.blocks, knowledge.exercises)
    for n in range(7):
        session = todays_session(programme, START + timedelta(days=n))
        focus = {i.exercise.id for i in session if i.focus}
        assert focus == {"ankle-circles", "traction", "banded-mobilisation"}


@pytest.mark.parametrize("factors", FACTOR_SETS)
def test_session_keeps_programme_order_flags_and_doses(
    knowledge: Knowledge, factors: tuple[str, ...]
) -> None:
    programme = build_programme(factors, knowledge.blocks, knowledge.exercises)
    order = [i.exercise.id for b in programme.blocks for i in b.items]
    flags = {i.exercise.id: i.focus for b in programme.blocks for i in b.items}
    block_of = {i.exercise.id: b.block for b in programme.blocks for i in b.items}
    doses = {e.id: e.dose for e in knowledge.exercises}
    for n in range(7):
        session = todays_session(programme, START + timedelta(days=n))
        ids = [i.exercise.id for i in session]
        assert ids == sorted(ids, key=order.index)
        for item in session:
            assert item.focus == flags[item.exercise.id]
            assert item.block == block_of[item.exercise.id]
            assert item.exercise.dose == doses[item.exercise.id]


def test_the_session_of_a_day_never_changes(knowledge: Knowledge) -> None:
    first = build_programme(["tendon"], knowledge.blocks, knowledge.exercises)
    again = build_programme(["tendon"], knowledge.blocks, knowledge.exercises)
    for n in range(7):
        day = START + timedelta(days=n)
        assert todays_session(first, day) == todays_session(again, day)


def test_the_extra_exercises_change_from_day_to_day(knowledge: Knowledge) -> None:
    programme = build_programme(["joint"], knowledge.blocks, knowledge.exercises)
    sessions = {tuple(_ids(programme, START + timedelta(days=n))) for n in range(7)}
    assert len(sessions) == 7


def test_a_short_rotation_gives_one_extra_every_day_and_repeats_sooner() -> None:
    programme = _programme(
        {"warm-up": [("circles", False)], "main": [("a", False), ("b", False), ("c", True)]}
    )
    rotating = {"a", "b"}
    days = [set(_ids(programme, START + timedelta(days=n))) for n in range(6)]
    for ids in days:
        assert {"circles", "c"} <= ids
        assert len(ids & rotating) == 1
    assert days[0] != days[1]
    assert all(days[n] == days[n + 2] for n in range(4))


def test_a_long_rotation_spreads_evenly() -> None:
    programme = _programme(
        {"warm-up": [("circles", False)], "main": [(f"e{n}", False) for n in range(10)]}
    )
    extras = [len(_ids(programme, START + timedelta(days=n))) - 1 for n in range(7)]
    assert sum(extras) == 10
    assert set(extras) == {1, 2}


def test_only_a_warm_up_is_the_same_every_day() -> None:
    programme = _programme({"warm-up": [("circles", False), ("rocks", False)]})
    for n in range(7):
        assert _ids(programme, START + timedelta(days=n)) == ["circles", "rocks"]


def test_an_empty_programme_is_an_empty_session() -> None:
    assert todays_session(Programme(()), START) == ()


# --- streaks -----------------------------------------------------------------------------

TODAY = date(2026, 3, 15)


def _days(*offsets: int) -> list[date]:
    """Days counted back from TODAY: 0 is today, 1 yesterday."""
    return [TODAY - timedelta(days=n) for n in offsets]


def test_no_days_no_streak() -> None:
    assert streaks([], TODAY) == Streak(0, 0)


def test_current_counts_back_from_today() -> None:
    assert streaks(_days(0, 1, 2), TODAY) == Streak(3, 3)


def test_today_not_done_yet_keeps_yesterdays_streak() -> None:
    assert streaks(_days(1, 2, 3), TODAY) == Streak(3, 3)


def test_a_missed_day_breaks_the_streak() -> None:
    assert streaks(_days(2, 3, 4), TODAY) == Streak(0, 3)
    assert streaks(_days(0, 2, 3, 4), TODAY) == Streak(1, 3)


def test_best_is_the_longest_run_ever() -> None:
    done = _days(0, 1, 10, 11, 12, 13, 14, 20)
    assert streaks(done, TODAY) == Streak(2, 5)


def test_duplicates_and_future_days_do_not_count() -> None:
    done = [*_days(0, 0, 1), TODAY + timedelta(days=1), TODAY + timedelta(days=2)]
    assert streaks(iter(done), TODAY) == Streak(2, 2)


def test_streak_across_a_month_end() -> None:
    done = [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
    assert streaks(done, date(2026, 3, 1)) == Streak(3, 3)


def test_week_counts_are_iso_weeks_oldest_first() -> None:
    today = date(2026, 3, 18)  # Wednesday
    done = [
        date(2026, 3, 16),  # this week's Monday
        date(2026, 3, 18),
        date(2026, 3, 15),  # last week's Sunday
        date(2026, 3, 9),  # last week's Monday
        date(2026, 3, 9),  # counted once
        date(2026, 1, 20),  # week of 19 January: the oldest of 8 weeks
        date(2026, 1, 18),  # a week too old
        date(2026, 3, 19),  # tomorrow
    ]
    counts = week_counts(done, today)
    assert len(counts) == 8
    assert counts[0] == (date(2026, 1, 26), 0)
    assert counts[-2:] == [(date(2026, 3, 9), 2), (date(2026, 3, 16), 2)]
    assert all(monday.weekday() == 0 for monday, _ in counts)
    assert [m for m, _ in counts] == sorted(m for m, _ in counts)
    assert sum(c for _, c in counts) == 4


def test_week_counts_window_size() -> None:
    today = date(2026, 3, 16)  # Monday
    counts = week_counts([date(2026, 2, 23), today], today, weeks=4)
    assert counts == [
        (date(2026, 2, 23), 1),
        (date(2026, 3, 2), 0),
        (date(2026, 3, 9), 0),
        (date(2026, 3, 16), 1),
    ]


# --- re-testing --------------------------------------------------------------------------

NOW = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)


def test_retest_due() -> None:
    assert retest_due(None, NOW)
    assert not retest_due(NOW - timedelta(days=13, hours=23), NOW)
    assert retest_due(NOW - timedelta(days=14), NOW)
    assert retest_due(NOW - timedelta(days=30), NOW)
    assert not retest_due(NOW - timedelta(days=8), NOW, every=timedelta(days=10))
    assert retest_due(NOW - timedelta(days=10), NOW, every=timedelta(days=10))


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (5.0, 6.0, Change(1.0, Trend.WITHIN_NOISE)),
        (6.0, 5.0, Change(-1.0, Trend.WITHIN_NOISE)),
        (5.0, 6.5, Change(1.5, Trend.WITHIN_NOISE)),
        (5.0, 5.0, Change(0.0, Trend.WITHIN_NOISE)),
        (5.0, 6.6, Change(1.6, Trend.BETTER)),  # exactly the minimal detectable change
        (8.0, 9.6, Change(1.6, Trend.BETTER)),  # 9.6 - 8.0 is 1.5999... in floating point
        (6.6, 5.0, Change(-1.6, Trend.WORSE)),
        (4.0, 9.5, Change(5.5, Trend.BETTER)),
        (9.5, 4.0, Change(-5.5, Trend.WORSE)),
    ],
)
def test_compare_tests_against_the_measurement_error(
    knowledge: Knowledge, before: float, after: float, change: Change
) -> None:
    noise = knowledge.thresholds.measurement_error_cm
    assert noise == 1.6
    assert compare_tests(before, after, noise) == change
