from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.schedule import zone_info
from bot.core.timezones import (
    NoZone,
    ZoneChoices,
    ZoneMatch,
    canonical_zones,
    describe_zone,
    load_aliases,
    normalise,
    resolve_zone,
    zone_from_coordinates,
)

ALIASES_FILE = Path(__file__).resolve().parents[2] / "knowledge" / "timezone_aliases.toml"


@pytest.fixture(scope="module")
def aliases() -> dict[str, str]:
    with ALIASES_FILE.open("rb") as f:
        return load_aliases(tomllib.load(f))


# --- the alias table ---------------------------------------------------------------------


def test_every_alias_is_a_canonical_zone(aliases: dict[str, str]) -> None:
    assert len(set(aliases.values())) >= 40
    assert set(aliases.values()) <= canonical_zones()


def test_aliases_do_not_repeat_what_the_zone_names_already_say(aliases: dict[str, str]) -> None:
    """An alias for a zone's own city is dead data; one for another zone's city overrides it."""
    city_zone = {normalise(z.rsplit("/", 1)[-1]): z for z in canonical_zones()}
    assert [name for name, zone in aliases.items() if city_zone.get(name) == zone] == []
    overrides = {name for name in aliases if name in city_zone}
    assert overrides == {"san juan"}


def test_load_aliases_normalises_names() -> None:
    loaded = load_aliases({"aliases": {"Europe/Berlin": ["München", "  Frankfurt am Main "]}})
    assert loaded == {"munchen": "Europe/Berlin", "frankfurt am main": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "aliases"),
        ({"aliases": {}}, "aliases"),
        ({"aliases": {"Europe/Munich": ["Munich"]}}, "Europe/Munich"),
        ({"aliases": {"Europe/Berlin": "Munich"}}, "list"),
        ({"aliases": {"Europe/Berlin": []}}, "list"),
        ({"aliases": {"Europe/Berlin": ["  "]}}, "usable"),
        ({"aliases": {"Europe/Berlin": [3]}}, "usable"),
        (
            {"aliases": {"Europe/Berlin": ["Bern"], "Europe/Zurich": ["bern"]}},
            "'bern' is listed under 'Europe/Berlin' and 'Europe/Zurich'",
        ),
    ],
)
def test_load_aliases_names_the_bad_entry(data: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        load_aliases(data)


# --- resolving typed names ---------------------------------------------------------------


def test_canonical_zones_leave_out_legacy_and_non_area_names() -> None:
    zones = canonical_zones()
    assert {"Europe/Berlin", "America/New_York", "America/Argentina/Buenos_Aires"} <= zones
    assert not {"Asia/Calcutta", "Europe/Kiev", "US/Eastern", "Etc/GMT+5", "UTC"} & zones
    assert "localtime" not in zones


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("new york", "America/New_York"),
        ("New York", "America/New_York"),
        ("new_york", "America/New_York"),
        ("newyork", "America/New_York"),
        ("berlin", "Europe/Berlin"),
        ("BERLIN", "Europe/Berlin"),
        ("sao paulo", "America/Sao_Paulo"),
        ("são paulo", "America/Sao_Paulo"),
        ("São Paulo", "America/Sao_Paulo"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("America/New York", "America/New_York"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("sydney", "Australia/Sydney"),
        ("london", "Europe/London"),
        ("zürich", "Europe/Zurich"),
        ("buenos aires", "America/Argentina/Buenos_Aires"),
        ("st. john's", "America/St_Johns"),
        ("ho chi minh city", "Asia/Ho_Chi_Minh"),
        ("port-au-prince", "America/Port-au-Prince"),
        # More words than the name: the whole name is there.
        ("Berlin, Germany", "Europe/Berlin"),
        ("I live in Paris", "Europe/Paris"),
        ("new york city", "America/New_York"),
        # Typos of a whole name.
        ("kolkatta", "Asia/Kolkata"),
        ("los angles", "America/Los_Angeles"),
        ("zurch", "Europe/Zurich"),
    ],
)
def test_zone_and_city_names(aliases: dict[str, str], text: str, zone: str) -> None:
    assert resolve_zone(text, aliases) == ZoneMatch(zone)


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("munich", "Europe/Berlin"),
        ("München", "Europe/Berlin"),
        ("san francisco", "America/Los_Angeles"),
        ("San Fransisco", "America/Los_Angeles"),  # a typo of an alias
        ("LA", "America/Los_Angeles"),
        ("delhi", "Asia/Kolkata"),
        ("New Delhi", "Asia/Kolkata"),
        ("mumbai", "Asia/Kolkata"),
        ("beijing", "Asia/Shanghai"),
        ("washington", "America/New_York"),
        ("Washington, D.C.", "America/New_York"),
        ("calcutta", "Asia/Kolkata"),
        ("kiev", "Europe/Kyiv"),
        ("Germany", "Europe/Berlin"),
        ("san juan", "America/Puerto_Rico"),  # wins over America/Argentina/San_Juan
    ],
)
def test_aliases(aliases: dict[str, str], text: str, zone: str) -> None:
    assert resolve_zone(text, aliases) == ZoneMatch(zone)


def test_aliases_come_from_the_caller() -> None:
    assert resolve_zone("munich", {}) != ZoneMatch("Europe/Berlin")
    assert resolve_zone("munich", {"munich": "Europe/Berlin"}) == ZoneMatch("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Asia/Calcutta", "Asia/Calcutta"),
        ("US/Eastern", "US/Eastern"),
        ("Etc/GMT+5", "Etc/GMT+5"),
        ("GMT", "GMT"),
    ],
)
def test_legacy_and_other_names_only_when_typed_in_full(
    aliases: dict[str, str], text: str, zone: str
) -> None:
    assert resolve_zone(text, aliases) == ZoneMatch(zone)


def test_a_city_wins_over_a_legacy_top_level_name(aliases: dict[str, str]) -> None:
    assert resolve_zone("singapore", aliases) == ZoneMatch("Asia/Singapore")  # not "Singapore"
    assert resolve_zone("Japan", aliases) == ZoneMatch("Asia/Tokyo")  # not "Japan"


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("UTC+2", "UTC+02:00"),
        ("utc +5:30", "UTC+05:30"),
        ("GMT-5", "UTC-05:00"),
        ("gmt\u22123", "UTC-03:00"),
        ("+0545", "UTC+05:45"),
        ("UTC+14", "UTC+14:00"),
        ("UTC-12", "UTC-12:00"),
    ],
)
def test_typed_offsets_become_fixed_zones(aliases: dict[str, str], text: str, zone: str) -> None:
    assert resolve_zone(text, aliases) == ZoneMatch(zone)
    zone_info(zone)


@pytest.mark.parametrize("text", ["UTC+15", "GMT-13", "+05:75"])
def test_offsets_that_exist_nowhere_are_not_zones(aliases: dict[str, str], text: str) -> None:
    assert resolve_zone(text, aliases) == NoZone()


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("sidney", "Australia/Sydney"),
        ("new yrok", "America/New_York"),
        ("tokio", "Asia/Tokyo"),
        ("york", "America/New_York"),  # part of a name is asked about, not taken
        ("georgia", "Atlantic/South_Georgia"),
    ],
)
def test_unsure_matches_are_offered_not_taken(
    aliases: dict[str, str], text: str, first: str
) -> None:
    result = resolve_zone(text, aliases)
    assert isinstance(result, ZoneChoices)
    assert result.zones[0] == first and 1 <= len(result.zones) <= 3


@pytest.mark.parametrize(
    ("text", "prefix"), [("indiana", "America/Indiana/"), ("kentucky", "America/Kentucky/")]
)
def test_ambiguous_names_offer_up_to_three_choices(
    aliases: dict[str, str], text: str, prefix: str
) -> None:
    result = resolve_zone(text, aliases)
    assert isinstance(result, ZoneChoices)
    assert 2 <= len(result.zones) <= 3
    assert len(set(result.zones)) == len(result.zones)
    assert all(z.startswith(prefix) for z in result.zones)


def test_a_near_tie_between_two_places_is_a_choice(aliases: dict[str, str]) -> None:
    result = resolve_zone("berln", aliases)  # Berlin, or the alias Bern?
    assert result == ZoneChoices(("Europe/Berlin", "Europe/Zurich"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "!!!",
        "asdfgh",
        "hello",
        "pizza",
        "the moon",
        "12345",
        "a",
        "st",
        "europe",
        "America",
        "x" * 5000,
        "москва",
    ],
)
def test_junk_is_no_zone(aliases: dict[str, str], text: str) -> None:
    assert resolve_zone(text, aliases) == NoZone()


def test_server_specific_names_are_never_matched(aliases: dict[str, str]) -> None:
    assert resolve_zone("localtime", aliases) == NoZone()
    assert resolve_zone("Factory", aliases) == NoZone()


def test_every_match_can_be_scheduled(aliases: dict[str, str]) -> None:
    for text in ("berlin", "munich", "UTC", "UTC+5:30", "Asia/Calcutta", "sidney", "indiana"):
        match resolve_zone(text, aliases):
            case ZoneMatch(zone):
                zone_info(zone)
            case ZoneChoices(zones):
                for zone in zones:
                    zone_info(zone)
            case other:
                pytest.fail(f"{text!r} gave {other}")


# --- describing a zone -------------------------------------------------------------------


def test_describe_zone_shows_the_offset_in_force() -> None:
    winter, summer = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
    assert describe_zone("Europe/Berlin", winter) == "Europe/Berlin (UTC+01:00 now)"
    assert describe_zone("Europe/Berlin", summer) == "Europe/Berlin (UTC+02:00 now)"
    assert describe_zone("Australia/Sydney", winter) == "Australia/Sydney (UTC+11:00 now)"
    assert describe_zone("Asia/Kathmandu", winter) == "Asia/Kathmandu (UTC+05:45 now)"
    assert describe_zone("America/St_Johns", winter) == "America/St_Johns (UTC-03:30 now)"


def test_describe_fixed_zone_says_it_ignores_daylight_saving() -> None:
    text = describe_zone("UTC+05:30", datetime(2026, 1, 15, tzinfo=UTC))
    assert text.startswith("UTC+05:30") and "daylight saving" in text


# --- coordinates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon", "zone"),
    [
        (52.52, 13.405, "Europe/Berlin"),
        (40.7128, -74.0060, "America/New_York"),
        (-33.8688, 151.2093, "Australia/Sydney"),
        (27.7172, 85.3240, "Asia/Kathmandu"),
        (-13.8333, -171.7667, "Pacific/Apia"),
        (-34.6037, -58.3816, "America/Argentina/Buenos_Aires"),
    ],
)
def test_coordinates_to_zone(lat: float, lon: float, zone: str) -> None:
    assert zone_from_coordinates(lat, lon) == zone


@pytest.mark.parametrize(("lat", "lon"), [(0.0, -140.0), (-40.0, -20.0), (30.0, -40.0)])
def test_the_open_ocean_has_no_zone(lat: float, lon: float) -> None:
    assert zone_from_coordinates(lat, lon) is None


@pytest.mark.parametrize(("lat", "lon"), [(91.0, 0.0), (-90.5, 0.0), (0.0, 180.5), (0.0, -181.0)])
def test_impossible_coordinates_are_an_error(lat: float, lon: float) -> None:
    with pytest.raises(ValueError, match="Earth"):
        zone_from_coordinates(lat, lon)
