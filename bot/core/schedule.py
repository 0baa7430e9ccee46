"""Daily reminders at a wall-clock time in the user's own time zone.

Instants are aware datetimes in UTC; only the schedule speaks local time. Every occurrence is
recomputed from the zone's rules, so 07:30 stays 07:30 local on both sides of a DST change.
Nothing here reads the clock: `now` is always a parameter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EVERY_DAY: frozenset[int] = frozenset(range(7))
WEEKDAYS: frozenset[int] = frozenset(range(5))
WEEKENDS: frozenset[int] = frozenset({5, 6})
DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Real offsets run from -12:00 (Baker Island) to +14:00 (Line Islands).
MIN_OFFSET = timedelta(hours=-12)
MAX_OFFSET = timedelta(hours=14)
_FIXED_ZONE = re.compile(r"^UTC([+-])(\d{2}):(\d{2})$")
# "localtime" is the server's own zone, the others placeholders: never a user's zone.
NOT_USER_ZONES = frozenset({"", "localtime", "Factory", "posixrules"})


@dataclass(frozen=True)
class Schedule:
    """`zone` is an IANA name ("Europe/Berlin") or a fixed offset ("UTC+05:30")."""

    local_time: time
    zone: str
    days: frozenset[int] = EVERY_DAY  # Monday = 0
    paused: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days <= EVERY_DAY:
            raise ValueError(f"days must be 0 (Monday) to 6 (Sunday), got {sorted(self.days)}")
        if self.local_time.tzinfo is not None:
            raise ValueError("local_time is a wall-clock time: it must not carry a tzinfo")
        zone_info(self.zone)


def format_offset(offset: timedelta) -> str:
    """The one spelling of a fixed zone, "UTC+05:30", that `zone_info` reads back."""
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def is_fixed_zone(zone: str) -> bool:
    """Fixed offsets come from the typed-local-time fallback and never follow daylight saving."""
    return _FIXED_ZONE.match(zone) is not None


def zone_info(zone: str) -> tzinfo:
    """A fixed "UTC±HH:MM" offset or an IANA zone; ValueError names the zone otherwise."""
    if match := _FIXED_ZONE.match(zone):
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
        if int(minutes) >= 60 or not MIN_OFFSET <= offset <= MAX_OFFSET:
            raise ValueError(f"fixed offset {zone!r} is outside UTC-12:00..UTC+14:00")
        return timezone(offset, zone)
    try:
        if zone in NOT_USER_ZONES:
            raise ZoneInfoNotFoundError(zone)
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {zone!r}: expected an IANA name like 'Europe/Berlin' "
            "or a fixed offset like 'UTC+05:30'"
        ) from None


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _occurrence(schedule: Schedule, tz: tzinfo, day: date) -> datetime:
    # fold=0 is the whole DST policy; see next_due.
    return datetime.combine(day, schedule.local_time, tzinfo=tz).astimezone(UTC)


def next_due(schedule: Schedule, after: datetime) -> datetime | None:
    """The first reminder strictly after `after`, in UTC; None when paused or on no days.

    DST policy, the one RFC 5545 (iCalendar), java.time and Temporal use, and what plain
    `datetime.combine(...).astimezone(UTC)` gives with fold=0, so no special cases:
    - a time skipped by spring-forward (02:30 in Berlin on the last Sunday of March) is read
      with the offset in force before the gap and so fires one gap-length later (03:30 local),
      exactly 24 hours after the day before's reminder;
    - a time that happens twice at fall-back fires once, at the first occurrence.
    A whole local day that a zone skipped (Samoa, 30 Dec 2011) lands on the same instant as the
    next day's reminder, so it is sent once.
    """
    _aware(after, "after")
    if schedule.paused or not schedule.days:
        return None
    tz = zone_info(schedule.zone)
    local_day = after.astimezone(tz).date()
    # From yesterday: a time in a gap that spans midnight resolves into the next day.
    candidates = (
        _occurrence(schedule, tz, day)
        for day in (local_day + timedelta(days=n) for n in range(-1, 9))
        if day.weekday() in schedule.days
    )
    return min(c for c in candidates if c > after)


def snoozed(now: datetime, minutes: int = 60) -> datetime:
    """When a snoozed reminder comes back; a one-off that does not move the schedule."""
    _aware(now, "now")
    if minutes <= 0:
        raise ValueError("snooze minutes must be positive")
    return (now + timedelta(minutes=minutes)).astimezone(UTC)


def local_date(zone: str, now: datetime) -> date:
    """The user's today, which decides today's session, streaks and skipping."""
    _aware(now, "now")
    return now.astimezone(zone_info(zone)).date()


def skip_today(schedule: Schedule, now: datetime) -> datetime | None:
    """The next reminder on a later local date than `now`'s, even if today's is still ahead."""
    tomorrow = local_date(schedule.zone, now) + timedelta(days=1)
    # Where a zone skips local midnight this is the end of the gap, still before any of
    # tomorrow's reminders.
    start = datetime.combine(tomorrow, time(0), tzinfo=zone_info(schedule.zone))
    return next_due(schedule, start.astimezone(UTC) - timedelta(microseconds=1))


@dataclass(frozen=True)
class SendNow:
    """Send the missed reminder now, then schedule `then` (None: nothing more is due)."""

    then: datetime | None


@dataclass(frozen=True)
class Reschedule:
    """Do not send; schedule `at` instead (None: nothing is due, e.g. reminders paused)."""

    at: datetime | None


Decision = SendNow | Reschedule


def catch_up(due: datetime, now: datetime, schedule: Schedule, grace: timedelta) -> Decision:
    """After downtime: a reminder late by at most `grace` is still useful, an older one is noise.

    Stale reminders are dropped, not queued, so a long outage never ends in a burst of them.
    A reminder that is not due yet is left where it is.
    """
    _aware(due, "due")
    _aware(now, "now")
    if grace < timedelta(0):
        raise ValueError("grace must not be negative")
    if schedule.paused:
        return Reschedule(None)
    if now < due:
        return Reschedule(due.astimezone(UTC))
    following = next_due(schedule, now)
    if now - due <= grace:
        return SendNow(following)
    return Reschedule(following)


class TimeError(StrEnum):
    """Why a text is not a time of day; the shell turns each into a helpful reply."""

    EMPTY = "empty"
    NOT_A_TIME = "not_time"
    BAD_HOUR = "bad_hour"
    BAD_MINUTE = "bad_minute"
    BAD_AM_PM = "bad_am_pm"  # am/pm with an hour outside 1-12, e.g. "13pm"


@dataclass(frozen=True)
class BadTime:
    error: TimeError


_TIME_WORDS = {
    "noon": time(12),
    "12 noon": time(12),
    "midday": time(12),
    "midnight": time(0),
    "12 midnight": time(0),
}
_AM_PM = re.compile(r"^(?P<rest>.*?)\s*(?P<half>[ap])\.?\s*m\.?$")
_CLOCK = re.compile(
    r"^(?P<h>[0-9]{1,2})(?:\s*(?:[:.h]|\s)\s*(?P<m>[0-9]{2}))?\s*h?$"  # 7, 7:30, 7.30, 7h30, 7h
    r"|^(?P<hhmm>[0-9]{3,4})$"  # 730, 1930, 0730
)


def parse_time_of_day(text: str) -> time | BadTime:
    """Accept `7:30`, `07:30`, `19:30`, `7.30pm`, `7am`, `7 am`, `7h30`, `1930`, `noon`, `midnight`.

    A bare hour is 24-hour (`7` is 07:00); `12am` is midnight and `12pm` noon; `24:00` is
    midnight, as a daily time has no date to roll over.
    """
    cleaned = " ".join(text.strip().lower()[:32].split())
    if not cleaned:
        return BadTime(TimeError.EMPTY)
    if cleaned in _TIME_WORDS:
        return _TIME_WORDS[cleaned]
    half = None
    if am_pm := _AM_PM.match(cleaned):
        cleaned, half = am_pm["rest"], am_pm["half"]
    match = _CLOCK.match(cleaned)
    if match is None:
        return BadTime(TimeError.NOT_A_TIME)
    if match["hhmm"]:
        hour, minute = divmod(int(match["hhmm"]), 100)
    else:
        hour, minute = int(match["h"]), int(match["m"] or 0)
    if minute > 59:
        return BadTime(TimeError.BAD_MINUTE)
    if half is not None:
        if not 1 <= hour <= 12:
            return BadTime(TimeError.BAD_AM_PM)
        return time(hour % 12 + (12 if half == "p" else 0), minute)
    if hour == 24 and minute == 0:
        return time(0)
    if hour > 23:
        return BadTime(TimeError.BAD_HOUR)
    return time(hour, minute)


_DAY_SPELLINGS = (
    ("monday", "mon", "mo"),
    ("tuesday", "tue", "tues", "tu"),
    ("wednesday", "wed", "weds", "we"),
    ("thursday", "thu", "thur", "thurs", "th"),
    ("friday", "fri", "fr"),
    ("saturday", "sat", "sa"),
    ("sunday", "sun", "su"),
)
_DAY_WORDS = {
    word: n for n, words in enumerate(_DAY_SPELLINGS) for word in (*words, f"{words[0]}s")
}
_DAY_GROUPS = {
    "daily": EVERY_DAY,
    "everyday": EVERY_DAY,
    "weekdays": WEEKDAYS,
    "weekday": WEEKDAYS,
    "workdays": WEEKDAYS,
    "weekends": WEEKENDS,
    "weekend": WEEKENDS,
}
_EVERY_DAY_PHRASE = re.compile(
    r"\b(?:(?:every|each)\s*(?:single\s+)?days?|all\s*(?:days?|week)|7 days)\b"
)
_RANGE_WORDS = {"-", "to", "through", "thru", "till", "until"}
_FILLER = {"on", "and", "every", "each", "only", "the", "days", "day"}


def parse_days(text: str) -> frozenset[int] | None:
    """Typed days: "mon wed fri", "Mon-Fri", "weekdays", "weekends", "every day", "tue & thu".

    Ranges may wrap ("fri-mon"). None if any word is not understood, rather than guessing.
    """
    cleaned = text.strip().lower()[:100].replace("\u2013", "-").replace("\u2014", "-")
    cleaned = _EVERY_DAY_PHRASE.sub(" daily ", cleaned)
    tokens = re.findall(r"[a-z0-9]+|-", re.sub(r"[,;/&+.]", " ", cleaned))
    days: set[int] = set()
    pending_range_from: int | None = None
    previous: int | None = None
    for token in tokens:
        if token in _DAY_WORDS:
            day = _DAY_WORDS[token]
            if pending_range_from is not None:
                span = (day - pending_range_from) % 7
                days.update((pending_range_from + n) % 7 for n in range(span + 1))
                pending_range_from = None
            days.add(day)
            previous = day
        elif token in _RANGE_WORDS and previous is not None and pending_range_from is None:
            pending_range_from, previous = previous, None
        elif token in _DAY_GROUPS:
            days |= _DAY_GROUPS[token]
            previous = None
        elif token not in _FILLER:
            return None
    if pending_range_from is not None or not days:
        return None
    return frozenset(days)


def describe_days(days: frozenset[int]) -> str:
    """Short and natural: "every day", "weekdays", "weekends", or "Mon, Wed, Fri"."""
    names = {EVERY_DAY: "every day", WEEKDAYS: "weekdays", WEEKENDS: "weekends"}
    if days in names:
        return names[days]
    if not days:
        return "no days"
    return ", ".join(DAY_ABBREVIATIONS[d] for d in sorted(days))


# Offsets from -12:00 to +14:00 span 26 hours, so the same clock reading fits two dates between
# -12:00..-10:00 and +12:00..+14:00. This 24-hour window settles it for the populated side:
# +12:00/+13:00/+13:45 (New Zealand, Fiji, Tonga, Samoa, Chatham) and -10:00 (Hawaii, Tahiti).
_WINDOW_START = -10 * 60


def offset_from_local_time(now_utc: datetime, local_time: time) -> str:
    """The fixed zone ("UTC+02:00") of someone whose clock reads `local_time` at `now_utc`.

    For people who would rather not name a place. The offset is rounded to the nearest 15
    minutes, which absorbs a few minutes of typing or clock drift, and is placed in
    -10:00..+13:45 (see _WINDOW_START): -11:00 (American Samoa, Niue) comes out as +13:00 and
    +14:00 (Line Islands) as -10:00, a day off but the right time of day. A fixed offset does
    not follow daylight saving.
    """
    _aware(now_utc, "now_utc")
    utc = now_utc.astimezone(UTC)
    utc_minutes = utc.hour * 60 + utc.minute + utc.second / 60
    difference = local_time.hour * 60 + local_time.minute - utc_minutes
    rounded = math.floor(difference / 15 + 0.5) * 15
    offset = (rounded - _WINDOW_START) % (24 * 60) + _WINDOW_START
    return format_offset(timedelta(minutes=offset))
