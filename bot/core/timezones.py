"""Find a user's time zone from what they type or from a shared location.

Typed names are matched against the IANA zones' cities, forgiving case, accents, spaces and
typos, plus a curated alias table (knowledge/timezone_aliases.toml) for big places that are not
zone names. The caller loads that file and passes the mapping in: this module reads no files of
its own, only the zone data that `zoneinfo` and the coordinates library ship.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

from bot.core.schedule import (
    MAX_OFFSET,
    MIN_OFFSET,
    NOT_USER_ZONES,
    format_offset,
    is_fixed_zone,
    zone_info,
)

if TYPE_CHECKING:
    from timezonefinder import TimezoneFinder

_AREAS = frozenset(
    [
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    ]
)
_AREA_WORDS = frozenset(area.lower() for area in _AREAS)
# tzdata's `backward` names inside those areas: old spellings and aliases kept only for
# compatibility (not in zone.tab). They are matched only when typed in full; the alias table
# covers the places among them (Calcutta, Kiev, Saigon, Montreal, Canberra, Tel Aviv...).
_LEGACY = frozenset(
    [
        "Africa/Asmera",
        "Africa/Timbuktu",
        "America/Argentina/ComodRivadavia",
        "America/Atka",
        "America/Buenos_Aires",
        "America/Catamarca",
        "America/Coral_Harbour",
        "America/Cordoba",
        "America/Ensenada",
        "America/Fort_Wayne",
        "America/Godthab",
        "America/Indianapolis",
        "America/Jujuy",
        "America/Knox_IN",
        "America/Louisville",
        "America/Mendoza",
        "America/Montreal",
        "America/Nipigon",
        "America/Pangnirtung",
        "America/Porto_Acre",
        "America/Rainy_River",
        "America/Rosario",
        "America/Santa_Isabel",
        "America/Shiprock",
        "America/Thunder_Bay",
        "America/Virgin",
        "America/Yellowknife",
        "Antarctica/South_Pole",
        "Asia/Ashkhabad",
        "Asia/Calcutta",
        "Asia/Choibalsan",
        "Asia/Chongqing",
        "Asia/Chungking",
        "Asia/Dacca",
        "Asia/Harbin",
        "Asia/Istanbul",
        "Asia/Kashgar",
        "Asia/Katmandu",
        "Asia/Macao",
        "Asia/Rangoon",
        "Asia/Saigon",
        "Asia/Tel_Aviv",
        "Asia/Thimbu",
        "Asia/Ujung_Pandang",
        "Asia/Ulan_Bator",
        "Atlantic/Faeroe",
        "Atlantic/Jan_Mayen",
        "Australia/ACT",
        "Australia/Canberra",
        "Australia/Currie",
        "Australia/LHI",
        "Australia/NSW",
        "Australia/North",
        "Australia/Queensland",
        "Australia/South",
        "Australia/Tasmania",
        "Australia/Victoria",
        "Australia/West",
        "Australia/Yancowinna",
        "Europe/Belfast",
        "Europe/Kiev",
        "Europe/Nicosia",
        "Europe/Tiraspol",
        "Europe/Uzhgorod",
        "Europe/Zaporozhye",
        "Pacific/Enderbury",
        "Pacific/Johnston",
        "Pacific/Ponape",
        "Pacific/Samoa",
        "Pacific/Truk",
        "Pacific/Yap",
    ]
)

_MIN_FUZZY_LENGTH = 3  # shorter text matches too much by accident ("au", "st", "la")
_SUGGEST_SCORE = 80  # below this a zone is not even worth offering
_MATCH_SCORE = 90  # at or above, and clearly ahead of the rest, a zone is taken without asking
_CLEAR_LEAD = 5

_TYPED_OFFSET = re.compile(
    r"^(?:utc|gmt)?\s*(?P<sign>[+\-\u2212])\s*(?P<h>[0-9]{1,2})(?:\s*[:.]?\s*(?P<m>[0-9]{2}))?$"
)


@dataclass(frozen=True)
class ZoneMatch:
    zone: str


@dataclass(frozen=True)
class ZoneChoices:
    """Several zones fit: ask which one, best first (at most three)."""

    zones: tuple[str, ...]


@dataclass(frozen=True)
class NoZone:
    pass


ZoneResult = ZoneMatch | ZoneChoices | NoZone


def normalise(text: str) -> str:
    """Case, accents, apostrophes and dots do not matter; anything else between words is a space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = re.sub(r"['\u2019.]", "", plain)
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def _exact_key(zone: str) -> str:
    """Full names typed as they are, but for case and space-for-underscore ("etc/gmt+5")."""
    return "_".join(zone.casefold().split())


@dataclass(frozen=True)
class _Index:
    full: Mapping[str, str]  # normalised "europe berlin" -> canonical zone
    cities: Mapping[str, str]  # "berlin", "argentina buenos aires", "buenos aires" -> zone
    other: Mapping[str, str]  # exact key of any other zone ("utc", "us/eastern") -> zone


@functools.cache
def _index() -> _Index:
    full, cities, other = {}, {}, {}
    for zone in sorted(zoneinfo.available_timezones() - NOT_USER_ZONES):
        area, _, place = zone.partition("/")
        if area in _AREAS and place and zone not in _LEGACY:
            full[normalise(zone)] = zone
            cities[normalise(place)] = zone
            cities[normalise(place.rsplit("/", 1)[-1])] = zone
        else:
            other[_exact_key(zone)] = zone
    return _Index(full, cities, other)


def canonical_zones() -> frozenset[str]:
    """The Area/City zones people can be offered, without the legacy spellings."""
    return frozenset(_index().full.values())


def load_aliases(data: Mapping[str, Any]) -> dict[str, str]:
    """The parsed timezone_aliases.toml as normalised name -> zone; ValueError names the entry."""
    table = data.get("aliases")
    if not isinstance(table, Mapping) or not table:
        raise ValueError("needs an [aliases] table with at least one zone")
    aliases: dict[str, str] = {}
    for zone, names in table.items():
        try:
            zone_info(zone)
        except ValueError:
            raise ValueError(f"aliases: '{zone}' is not a known time zone") from None
        if not isinstance(names, list) or not names:
            raise ValueError(f"aliases: '{zone}' must be a non-empty list of names")
        for name in names:
            key = normalise(name) if isinstance(name, str) else ""
            if not key:
                raise ValueError(f"aliases: '{zone}': {name!r} is not a usable name")
            if aliases.get(key, zone) != zone:
                raise ValueError(f"aliases: '{name}' is listed under '{aliases[key]}' and '{zone}'")
            aliases[key] = zone
    return aliases


def _typed_offset(text: str) -> str | None:
    """ "UTC+2", "gmt-5", "+05:30": a fixed zone, if the offset exists somewhere on Earth."""
    match = _TYPED_OFFSET.match(text.strip().casefold())
    if match is None:
        return None
    offset = timedelta(hours=int(match["h"]), minutes=int(match["m"] or 0))
    if match["sign"] != "+":
        offset = -offset
    if int(match["m"] or 0) >= 60 or not MIN_OFFSET <= offset <= MAX_OFFSET:
        return None
    return format_offset(offset)


def _without_area(key: str) -> str:
    area, _, rest = key.partition(" ")
    return rest if rest and area in _AREA_WORDS else key


def _fuzzy(key: str, aliases: Mapping[str, str]) -> ZoneResult:
    """Rank zones by their best-matching name; a clear, confident winner is a match.

    token_set_ratio scores 100 when every word of one side is in the other, so "berlin germany"
    finds Berlin and "indiana" finds all of Indiana's zones. Only the first direction is
    confident: a whole name typed, with or without extra words, or a typo of a whole name.
    Part of a name ("york", "georgia" for South Georgia) is offered as a choice, not taken.
    """
    names = {**_index().cities, **aliases}
    found = process.extract(
        key, list(names), scorer=fuzz.token_set_ratio, score_cutoff=_SUGGEST_SCORE, limit=None
    )
    typed = set(key.split())
    best: dict[str, tuple[float, bool, float]] = {}
    for name, score, _ in found:
        similarity = fuzz.ratio(key, name)
        confident = set(name.split()) <= typed or similarity >= _MATCH_SCORE
        rank = (score, confident, similarity)
        zone = names[name]
        best[zone] = max(best.get(zone, rank), rank)
    ranked = sorted(best, key=lambda z: (tuple(-x for x in best[z]), z))
    if not ranked:
        return NoZone()
    top, confident, _ = best[ranked[0]]
    runner_up = best[ranked[1]][0] if len(ranked) > 1 else 0.0
    if top >= _MATCH_SCORE and confident and top - runner_up >= _CLEAR_LEAD:
        return ZoneMatch(ranked[0])
    return ZoneChoices(tuple(ranked[:3]))


def resolve_zone(text: str, aliases: Mapping[str, str]) -> ZoneResult:
    """A typed place or zone name to a zone; `aliases` is what `load_aliases` returned.

    Exact answers win, in this order: a UTC offset ("UTC+2" becomes the fixed zone
    "UTC+02:00"), a full zone name, an alias, a zone's city, any other zone name typed in full
    ("UTC", "US/Eastern", "Asia/Calcutta"). Then fuzzy matching over cities and aliases.
    """
    text = text[:100]
    if offset := _typed_offset(text):
        return ZoneMatch(offset)
    key = normalise(text)
    if not key:
        return NoZone()
    index = _index()
    for exact in (index.full.get(key), aliases.get(key), index.cities.get(key)):
        if exact is not None:
            return ZoneMatch(exact)
    if other := index.other.get(_exact_key(text.strip())):
        return ZoneMatch(other)
    key = _without_area(key)
    if len(key) < _MIN_FUZZY_LENGTH:
        return NoZone()
    return _fuzzy(key, aliases)


def describe_zone(zone: str, now: datetime) -> str:
    """How a zone is shown back to the user: its name and the offset it has at `now`."""
    if is_fixed_zone(zone):
        return f"{zone} (a fixed offset: it does not change for daylight saving)"
    offset = now.astimezone(zone_info(zone)).utcoffset()
    assert offset is not None
    return f"{zone} ({format_offset(offset)} now)"


@functools.cache
def _finder() -> TimezoneFinder:
    """Built once, on first use: it maps the library's bundled boundary data."""
    from timezonefinder import TimezoneFinder

    return TimezoneFinder()


def zone_from_coordinates(latitude: float, longitude: float) -> str | None:
    """The zone of a shared location; None at sea or where the zone is unknown to `zoneinfo`.

    At sea the library only knows the nautical zones ("Etc/GMT+9"), which say little about the
    clock on a ship, so the bot asks for the local time instead.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError(f"not a position on Earth: {latitude}, {longitude}")
    zone = _finder().timezone_at_land(lng=longitude, lat=latitude)
    if zone is None:
        return None
    try:
        zone_info(zone)
    except ValueError:
        return None
    return zone
