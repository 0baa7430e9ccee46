"""Parse a knee-to-wall distance typed by a person into centimetres."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_UNITS_CM: dict[str, float] = {
    "": 1.0,
    "cm": 1.0,
    "cms": 1.0,
    "centimeter": 1.0,
    "centimeters": 1.0,
    "centimetre": 1.0,
    "centimetres": 1.0,
    "mm": 0.1,
    "millimeter": 0.1,
    "millimeters": 0.1,
    "millimetre": 0.1,
    "millimetres": 0.1,
    "in": 2.54,
    "inch": 2.54,
    "inches": 2.54,
    '"': 2.54,
    "”": 2.54,
    "''": 2.54,
}

_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-"})
_NUMBER = r"[-+]?\s*\d+(?:[.,]\d+)?|[-+]?\s*[.,]\d+"
_DISTANCE = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>[a-z\"”']*)\s*\.?\s*$")
_RANGE = re.compile(rf"^\s*(?:{_NUMBER})\s*[a-z]*\s*(?:-|to)\s*(?:{_NUMBER})")


class DistanceError(StrEnum):
    """Why a text is not a usable distance; the shell turns each into a helpful reply."""

    NOT_A_NUMBER = "not_number"
    NEGATIVE = "negative"
    ZERO = "zero"
    TOO_LARGE = "too_large"
    UNKNOWN_UNIT = "unknown_unit"
    RANGE = "range"


@dataclass(frozen=True)
class Distance:
    cm: float


@dataclass(frozen=True)
class BadDistance:
    error: DistanceError
    cm: float | None = None


def parse_distance(text: str, max_cm: float) -> Distance | BadDistance:
    """Accept `8`, `8cm`, `8.5 cm`, `8,5`, `85 mm`, `3 in`, `3"`, `3 inches`; bare numbers are cm.

    The value is rounded to the millimetre: the test is not more precise than that.
    """
    cleaned = text.strip().lower()[:64].translate(_DASHES)
    if _RANGE.match(cleaned):
        return BadDistance(DistanceError.RANGE)
    match = _DISTANCE.match(cleaned)
    if match is None:
        return BadDistance(DistanceError.NOT_A_NUMBER)
    unit = match["unit"]
    if unit not in _UNITS_CM:
        return BadDistance(DistanceError.UNKNOWN_UNIT)
    number = re.sub(r"\s", "", match["num"]).replace(",", ".")
    cm = round(float(number) * _UNITS_CM[unit], 1)
    if cm < 0:
        return BadDistance(DistanceError.NEGATIVE, cm)
    if cm == 0:
        return BadDistance(DistanceError.ZERO, cm)
    if cm > max_cm:
        return BadDistance(DistanceError.TOO_LARGE, cm)
    return Distance(cm)
