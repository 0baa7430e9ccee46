from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from bot.chart import (
    BOTH_COLOUR,
    LEFT_COLOUR,
    RIGHT_COLOUR,
    TestPoint,
    _top_cm,
    progress_chart,
)

START = datetime(2025, 11, 3, 9, 30, tzinfo=UTC)
ONE = [TestPoint(START, 6.5, 7.2, False)]
TEN = [  # every ~15 days over five months, crossing a new year
    TestPoint(START + timedelta(days=15 * i), 5 + 0.3 * i, 6 + 0.25 * (i % 4), False)
    for i in range(10)
]
BOTH = [TestPoint(START + timedelta(days=14 * i), 5 + i, 5 + i, True) for i in range(4)]
MIXED = [
    TestPoint(START, 5, 5, True),
    TestPoint(START + timedelta(days=14), 6, 7.5, False),
    TestPoint(START + timedelta(days=30), 7, 7, True),
]


def chart(tests: list[TestPoint]) -> bytes:
    return progress_chart(tests, target_cm=8.0, noise_cm=1.6)


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind, width, height = struct.unpack(">I4sII", png[8:24])
    assert (length, kind) == (13, b"IHDR")
    return width, height


def has_colour(png: bytes, colour: str) -> bool:
    rgb = imread(io.BytesIO(png))[..., :3]
    return bool(np.any(np.all(np.abs(rgb - to_rgb(colour)) < 0.02, axis=-1)))


@pytest.mark.parametrize("tests", [ONE, TEN, BOTH, MIXED], ids=["one", "ten", "both", "mixed"])
def test_a_small_phone_sized_png(tests: list[TestPoint]) -> None:
    png = chart(tests)
    width, height = png_size(png)
    assert 600 <= width <= 1600
    assert 400 <= height <= 1200
    assert imread(io.BytesIO(png)).shape[:2] == (height, width)
    assert len(png) < 150_000


def test_each_leg_is_drawn_in_its_own_colour() -> None:
    png = chart(TEN)
    assert has_colour(png, LEFT_COLOUR)
    assert has_colour(png, RIGHT_COLOUR)
    assert not has_colour(png, BOTH_COLOUR)


def test_same_for_both_tests_are_one_both_point() -> None:
    png = chart(BOTH)
    assert has_colour(png, BOTH_COLOUR)
    assert not has_colour(png, LEFT_COLOUR)
    assert not has_colour(png, RIGHT_COLOUR)
    assert has_colour(chart(MIXED), BOTH_COLOUR)


def test_the_data_changes_the_picture_and_nothing_else_does() -> None:
    assert chart(TEN) == chart(list(reversed(TEN)))
    assert chart(TEN) != chart([*TEN[:-1], TestPoint(TEN[-1].when, 9.5, 7, False)])


def test_the_title_is_drawn() -> None:
    titled = progress_chart(ONE, target_cm=8.0, noise_cm=1.6, title="Your ankles")
    assert titled != chart(ONE)


@pytest.mark.parametrize(
    ("highest", "target", "top"),
    [(6.0, 8.0, 15), (7.0, 8.0, 15), (14.0, 8.0, 18), (3.0, 14.0, 17)],
)
def test_the_y_axis_does_not_zoom_in_on_small_changes(highest, target, top) -> None:
    """6 and 7 cm share one axis, 0-15: a change inside the noise must look small."""
    assert _top_cm(highest, target, 1.6) == top


def test_no_tests_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="at least one test"):
        chart([])
