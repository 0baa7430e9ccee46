"""How long ago a dated period began, from the day the message was sent.

"No change since early September" is about 3 months on 2 December and 1 month on 2 October,
and the clinical notes' "no improvement after about 3 months" turns on that difference. Regexes
cannot know the date, so this reads the dates people name after "since", "from", "started
in" or "back in" (a month, a holiday or a season, with "early", "mid" or "late", "last" and a
year) and counts whole months up to `today`. Undated events ("since the wedding") are left to
the safety rules.
"""

from __future__ import annotations

import re
from datetime import date

_MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# Fixed days of the year. Seasons start on their meteorological first day, northern hemisphere:
# the longer reading of "since the summer", since missing a warning costs more than a needless
# suggestion to get checked.
_DAYS = {
    "new year": (1, 1),
    "new years": (1, 1),
    "the new year": (1, 1),
    "the start of the year": (1, 1),
    "the beginning of the year": (1, 1),
    "valentines": (2, 14),
    "valentines day": (2, 14),
    "spring": (3, 1),
    "summer": (6, 1),
    "autumn": (9, 1),
    "fall": (9, 1),
    "halloween": (10, 31),
    "thanksgiving": (11, 22),
    "winter": (12, 1),
    "christmas": (12, 25),
    "xmas": (12, 25),
}
_PART_DAY = {"early": 1, "the start of": 1, "the beginning of": 1, "mid": 15}
_PART_DAY |= {"the middle of": 15, "late": 24, "the end of": 24}
_ALT = "|".join(sorted((*_MONTHS, *_DAYS, "easter"), key=len, reverse=True))
_PARTS = "|".join(sorted(_PART_DAY, key=len, reverse=True))
_DATED = re.compile(
    r"\b(?P<trigger>ever since|since|from|start(?:ed|ing)?(?: in| back in| around| at)?"
    r"|began(?: in)?|begun(?: in)?|back in|back at|back around)"
    rf" (?:before |after )?(?:(?P<part>{_PARTS}) )?(?P<last>last |the |this past )?(?P<name>{_ALT})"
    r"(?: (?P<year>(?:19|20)\d\d))?\b"
)
# "May" is a month only after these; after "from" or "starting" it is as likely the verb.
_MAY_AFTER = frozenset({"ever since", "since", "back in", "back at", "started in", "starting in"})
DAYS_PER_MONTH = 30.44


def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = h + m - 7 * ((a + 11 * h + 22 * m) // 451) + 114
    return date(year, n // 31, n % 31 + 1)


def _on(name: str, part: str | None, year: int) -> date:
    if name == "easter":
        return _easter(year)
    if name in _MONTHS:
        return date(year, _MONTHS[name], _PART_DAY.get(part or "", 1))
    return date(year, *_DAYS[name])


def months_since(text: str, today: date) -> list[int]:
    """Whole months (rounded) from each date `text` names after "since" and the like to `today`.

    `text` is normalised (lower case, no punctuation). A date without a year is its latest
    occurrence up to `today`; "last" takes the one before when this year's has passed.
    """
    found = []
    for m in _DATED.finditer(text):
        name, part = m["name"], m["part"]
        if name == "may" and m["trigger"] not in _MAY_AFTER:
            continue  # "starting may help", "from may be"
        if name == "fall" and m["last"] == "the ":
            continue  # "since the fall" is as likely a fall as autumn
        if m["year"]:
            start = _on(name, part, int(m["year"]))
        else:
            start = _on(name, part, today.year)
            if start > today:
                start = _on(name, part, today.year - 1)
            elif m["last"] == "last " and name in _MONTHS:
                start = _on(name, part, start.year - 1)
        if start <= today:
            found.append(round((today - start).days / DAYS_PER_MONTH))
    return found


def dated(text: str, today: date | None) -> str:
    """`text` with "for N months" added for each date it names, for the safety rules to read."""
    if today is None:
        return text
    months = months_since(text, today)
    return " ".join((text, *(f"for {n} months" for n in months))) if months else text
