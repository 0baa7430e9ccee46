from __future__ import annotations

import pytest

from bot.core.distance import BadDistance, Distance, DistanceError, parse_distance


@pytest.mark.parametrize(
    ("text", "cm"),
    [
        ("8", 8.0),
        ("8cm", 8.0),
        ("8.5 cm", 8.5),
        ("8,5", 8.5),
        ("85 mm", 8.5),
        ("3 in", 7.6),
        ('3"', 7.6),
        ("3 inches", 7.6),
        ("  12 CM  ", 12.0),
        (".5", 0.5),
        ("10 centimetres", 10.0),
        ("8.", 8.0),
    ],
)
def test_accepted_forms_are_stored_in_cm(text: str, cm: float) -> None:
    assert parse_distance(text, 30) == Distance(cm)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("eight", DistanceError.NOT_A_NUMBER),
        ("", DistanceError.NOT_A_NUMBER),
        ("👣", DistanceError.NOT_A_NUMBER),
        ("-3", DistanceError.NEGATIVE),
        ("\u22123 cm", DistanceError.NEGATIVE),
        ("0", DistanceError.ZERO),
        ("0 mm", DistanceError.ZERO),
        ("31", DistanceError.TOO_LARGE),
        ("85", DistanceError.TOO_LARGE),
        ("8 feet", DistanceError.UNKNOWN_UNIT),
        ("8-10", DistanceError.RANGE),
        ("8 to 10 cm", DistanceError.RANGE),
        ("8" * 5000, DistanceError.TOO_LARGE),
        ("x" * 5000, DistanceError.NOT_A_NUMBER),
    ],
)
def test_rejections_say_why(text: str, error: DistanceError) -> None:
    result = parse_distance(text, 30)
    assert isinstance(result, BadDistance) and result.error is error


def test_the_limit_is_inclusive() -> None:
    assert parse_distance("30", 30) == Distance(30.0)
    assert parse_distance("301 mm", 30) == BadDistance(DistanceError.TOO_LARGE, 30.1)
