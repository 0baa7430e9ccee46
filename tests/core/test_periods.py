"""Dates named in a message, counted in months to the day it was sent."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.faq import FaqMatcher, WarningSign
from bot.core.periods import _easter, dated, months_since
from bot.knowledge import Knowledge

DEC_2 = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("no change since early september", [3]),
        ("since mid september", [3]),
        ("since late september", [2]),  # about ten weeks
        ("since october", [2]),
        ("since last september", [15]),  # this year's has passed: the one before
        ("since september 2025", [15]),
        ("since christmas", [11]),  # not yet this year: last year's
        ("since easter", [8]),
        ("since the summer", [6]),
        ("ever since new year", [11]),
        ("from the start of the year", [11]),
        ("started in march", [9]),
        ("back in june", [6]),
        ("since before the summer holidays", [6]),
        ("since jan and again since may", [11, 7]),
        ("starting may help", []),  # the verb
        ("since the fall", []),  # as likely a fall as autumn
        ("since the wedding", []),  # no date: left to the rules
        ("my race is in march", []),  # the future, and no "since"
    ],
)
def test_months_since_a_named_date(text: str, months: list[int]) -> None:
    assert months_since(text, DEC_2) == months


def test_easter_moves_with_the_year() -> None:
    assert [_easter(y) for y in (2024, 2025, 2026)] == [
        date(2024, 3, 31),
        date(2025, 4, 20),
        date(2026, 4, 5),
    ]


def test_without_a_day_nothing_is_added() -> None:
    assert dated("since june", None) == "since june"
    assert dated("since june", DEC_2) == "since june for 6 months"


@pytest.fixture(scope="module")
def matcher(knowledge: Knowledge) -> FaqMatcher:
    return knowledge.faq.matcher


@pytest.mark.parametrize(
    ("today", "warned"),
    [(date(2026, 12, 2), True), (date(2026, 10, 2), False), (date(2027, 3, 1), True)],
)
def test_no_progress_since_a_month_depends_on_the_day(
    matcher: FaqMatcher, today: date, warned: bool
) -> None:
    message = "Since early September I've done the routine most days, still zero change. Help?"
    assert isinstance(matcher.answer(message, today), WarningSign) is warned
