from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.core.schedule import (
    EVERY_DAY,
    BadTime,
    Reschedule,
    Schedule,
    SendNow,
    TimeError,
    catch_up,
    describe_days,
    format_offset,
    is_fixed_zone,
    local_date,
    next_due,
    offset_from_local_time,
    parse_days,
    parse_time_of_day,
    skip_today,
    snoozed,
    zone_info,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def due_days(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    """The next `count` reminders, as the shell would chain them."""
    result, moment = [], start
    for _ in range(count):
        moment = next_due(schedule, moment)
        assert moment is not None
        result.append(moment)
    return result


# --- zones -------------------------------------------------------------------------------


def test_zone_info_reads_iana_names_and_fixed_offsets() -> None:
    assert zone_info("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert zone_info("UTC+05:30").utcoffset(None) == timedelta(hours=5, minutes=30)
    assert zone_info("UTC-09:30").utcoffset(None) == timedelta(hours=-9, minutes=-30)
    assert zone_info("UTC+14:00").utcoffset(None) == timedelta(hours=14)
    assert zone_info("UTC-12:00").utcoffset(None) == timedelta(hours=-12)


@pytest.mark.parametrize(
    "zone",
    [
        "",
        "Mars/Olympus_Mons",
        "europe/berlin",
        "Europe",
        "UTC+14:15",
        "UTC-12:30",
        "UTC+05:60",
        "UTC+5:30",
        "utc+05:30",
        "../etc/passwd",
        "/etc/passwd",
        "localtime",
        "Factory",
    ],
)
def test_zone_info_rejects_anything_else_clearly(zone: str) -> None:
    with pytest.raises(ValueError, match=r"zone|offset"):
        zone_info(zone)


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(hours=5, minutes=30), "UTC+05:30"),
        (timedelta(hours=-3, minutes=-30), "UTC-03:30"),
        (timedelta(0), "UTC+00:00"),
        (timedelta(hours=13, minutes=45), "UTC+13:45"),
    ],
)
def test_fixed_offsets_round_trip(offset: timedelta, text: str) -> None:
    assert format_offset(offset) == text
    assert is_fixed_zone(text)
    assert zone_info(text).utcoffset(None) == offset


def test_a_schedule_validates_what_it_is_given() -> None:
    with pytest.raises(ValueError, match="days"):
        Schedule(time(7, 30), "Europe/Berlin", frozenset({7}))
    with pytest.raises(ValueError, match="zone"):
        Schedule(time(7, 30), "Nowhere/Special")
    with pytest.raises(ValueError, match="tzinfo"):
        Schedule(time(7, 30, tzinfo=UTC), "Europe/Berlin")
    schedule = Schedule(time(7, 30), "UTC", {MON, FRI})
    assert schedule.days == frozenset({MON, FRI}) and isinstance(schedule.days, frozenset)
    assert Schedule(time(7, 30), "UTC").days == EVERY_DAY


# --- next_due ----------------------------------------------------------------------------


def test_next_due_is_today_if_still_ahead_else_tomorrow() -> None:
    s = Schedule(time(7, 30), "Europe/Berlin")
    assert next_due(s, utc(2026, 1, 15, 5)) == utc(2026, 1, 15, 6, 30)
    assert next_due(s, utc(2026, 1, 15, 7)) == utc(2026, 1, 16, 6, 30)


def test_next_due_is_strictly_after() -> None:
    s = Schedule(time(7, 30), "Europe/Berlin")
    assert next_due(s, utc(2026, 1, 15, 6, 30)) == utc(2026, 1, 16, 6, 30)
    assert next_due(s, utc(2026, 1, 15, 6, 29, 59)) == utc(2026, 1, 15, 6, 30)


def test_next_due_takes_any_aware_datetime_and_returns_utc() -> None:
    s = Schedule(time(7, 30), "Europe/Berlin")
    result = next_due(s, local("America/New_York", 2026, 1, 15, 0, 0))
    assert result == utc(2026, 1, 15, 6, 30) and result.tzinfo is UTC


def test_next_due_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_due(Schedule(time(7, 30), "UTC"), datetime(2026, 1, 15, 5))


def test_paused_or_dayless_schedules_are_never_due() -> None:
    assert next_due(Schedule(time(7, 30), "UTC", paused=True), utc(2026, 1, 15)) is None
    assert next_due(Schedule(time(7, 30), "UTC", frozenset()), utc(2026, 1, 15)) is None


def test_berlin_keeps_local_time_through_spring_forward() -> None:
    # Last Sunday of March 2026 is the 29th: 02:00 CET becomes 03:00 CEST.
    s = Schedule(time(7, 30), "Europe/Berlin")
    days = due_days(s, utc(2026, 3, 27, 12), 3)
    assert days == [utc(2026, 3, 28, 6, 30), utc(2026, 3, 29, 5, 30), utc(2026, 3, 30, 5, 30)]
    assert {d.astimezone(ZoneInfo("Europe/Berlin")).time() for d in days} == {time(7, 30)}


def test_berlin_keeps_local_time_through_fall_back() -> None:
    # Last Sunday of October 2026 is the 25th: 03:00 CEST becomes 02:00 CET.
    s = Schedule(time(7, 30), "Europe/Berlin")
    days = due_days(s, utc(2026, 10, 23, 12), 3)
    assert days == [utc(2026, 10, 24, 5, 30), utc(2026, 10, 25, 6, 30), utc(2026, 10, 26, 6, 30)]


def test_a_time_skipped_by_spring_forward_fires_one_gap_later() -> None:
    """Policy: 02:30 does not exist on 29 March in Berlin; it is read with the winter offset,
    so it fires at 03:30 CEST, 24 hours after the day before's reminder."""
    s = Schedule(time(2, 30), "Europe/Berlin")
    days = due_days(s, utc(2026, 3, 27, 12), 3)
    assert days == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    fired = days[1].astimezone(ZoneInfo("Europe/Berlin"))
    assert (fired.date(), fired.time()) == (date(2026, 3, 29), time(3, 30))


def test_a_time_repeated_by_fall_back_fires_once_at_the_first() -> None:
    s = Schedule(time(2, 30), "Europe/Berlin")
    first = next_due(s, utc(2026, 10, 24, 12))
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first of the two 02:30s
    assert next_due(s, first) == utc(2026, 10, 26, 1, 30)  # not 01:30 UTC on the 25th


def test_new_york_in_both_directions() -> None:
    # 2026: clocks go forward on 8 March and back on 1 November at 02:00.
    s = Schedule(time(7, 30), "America/New_York")
    assert due_days(s, utc(2026, 3, 7, 0), 2) == [utc(2026, 3, 7, 12, 30), utc(2026, 3, 8, 11, 30)]
    assert due_days(s, utc(2026, 10, 31, 0), 2) == [
        utc(2026, 10, 31, 11, 30),
        utc(2026, 11, 1, 12, 30),
    ]
    gap = Schedule(time(2, 30), "America/New_York")
    assert next_due(gap, utc(2026, 3, 8, 0)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    twice = Schedule(time(1, 30), "America/New_York")
    first = next_due(twice, utc(2026, 11, 1, 0))
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not 01:30 EST an hour later
    assert next_due(twice, first) == utc(2026, 11, 2, 6, 30)


def test_sydney_changes_the_other_way_round() -> None:
    # Southern hemisphere: summer time ends 5 April 2026 and starts 4 October 2026.
    s = Schedule(time(7, 30), "Australia/Sydney")
    assert due_days(s, utc(2026, 4, 3, 0), 2) == [utc(2026, 4, 3, 20, 30), utc(2026, 4, 4, 21, 30)]
    assert due_days(s, utc(2026, 10, 2, 0), 2) == [
        utc(2026, 10, 2, 21, 30),
        utc(2026, 10, 3, 20, 30),
    ]


def test_lord_howe_half_hour_daylight_saving_gap() -> None:
    # Lord Howe Island moves its clocks by 30 minutes: 02:00 becomes 02:30 on 4 October 2026.
    s = Schedule(time(2, 15), "Australia/Lord_Howe")
    fired = next_due(s, utc(2026, 10, 3, 0))
    assert fired is not None
    assert fired.astimezone(ZoneInfo("Australia/Lord_Howe")).time() == time(2, 45)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Kolkata", utc(2026, 6, 1, 2, 0)),  # +05:30
        ("Asia/Kathmandu", utc(2026, 6, 1, 1, 45)),  # +05:45
        ("UTC+05:45", utc(2026, 6, 1, 1, 45)),
        ("UTC-09:30", utc(2026, 6, 1, 17, 0)),
        ("Pacific/Kiritimati", utc(2026, 5, 31, 17, 30)),  # +14:00: Monday there, Sunday in UTC
    ],
)
def test_odd_offsets(zone: str, expected: datetime) -> None:
    s = Schedule(time(7, 30), zone, frozenset({MON}))  # 1 June 2026 is a Monday
    assert next_due(s, utc(2026, 5, 28)) == expected


def test_samoa_skipped_a_whole_day_and_gets_one_reminder() -> None:
    # Samoa jumped from the end of Thursday 29 to Saturday 31 December 2011.
    s = Schedule(time(7, 30), "Pacific/Apia")
    days = due_days(s, local("Pacific/Apia", 2011, 12, 29, 8, 0), 2)
    local_days = [d.astimezone(ZoneInfo("Pacific/Apia")) for d in days]
    assert [(d.date(), d.time()) for d in local_days] == [
        (date(2011, 12, 31), time(7, 30)),
        (date(2012, 1, 1), time(7, 30)),
    ]


def test_chosen_days_across_a_week_boundary() -> None:
    s = Schedule(time(7, 30), "Europe/Berlin", frozenset({MON, WED, FRI}))
    friday_evening = local("Europe/Berlin", 2026, 1, 16, 20, 0)
    days = due_days(s, friday_evening, 4)
    berlin = [d.astimezone(ZoneInfo("Europe/Berlin")) for d in days]
    assert [d.date() for d in berlin] == [
        date(2026, 1, 19),
        date(2026, 1, 21),
        date(2026, 1, 23),
        date(2026, 1, 26),
    ]
    assert {d.weekday() for d in berlin} == {MON, WED, FRI}
    assert {d.time() for d in berlin} == {time(7, 30)}


def test_the_day_is_the_users_day_not_utcs() -> None:
    # 23:30 UTC on Sunday is already Monday 08:30 in Tokyo: Monday's reminder is gone.
    s = Schedule(time(8, 0), "Asia/Tokyo", frozenset({MON}))
    assert next_due(s, utc(2026, 1, 18, 23, 30)) == utc(2026, 1, 25, 23, 0)
    assert next_due(s, utc(2026, 1, 18, 22, 30)) == utc(2026, 1, 18, 23, 0)


# --- snooze, skip, catch-up ------------------------------------------------------------


def test_snooze() -> None:
    assert snoozed(utc(2026, 1, 15, 6, 30)) == utc(2026, 1, 15, 7, 30)
    assert snoozed(local("Asia/Tokyo", 2026, 1, 15, 23, 50), minutes=15) == utc(2026, 1, 15, 15, 5)
    with pytest.raises(ValueError):
        snoozed(utc(2026, 1, 15), minutes=0)


def test_skip_today_skips_todays_reminder_even_if_it_is_still_ahead() -> None:
    s = Schedule(time(19, 0), "Europe/Berlin")
    morning = local("Europe/Berlin", 2026, 1, 15, 8, 0)
    assert next_due(s, morning) == utc(2026, 1, 15, 18, 0)
    assert skip_today(s, morning) == utc(2026, 1, 16, 18, 0)


def test_skip_today_uses_the_local_date_and_keeps_chosen_days() -> None:
    s = Schedule(time(7, 0), "America/Los_Angeles", frozenset({FRI}))
    # Friday 23:00 in Los Angeles is already Saturday in UTC; "today" is still Friday there.
    friday_night = local("America/Los_Angeles", 2026, 1, 16, 23, 0)
    assert skip_today(s, friday_night) == local("America/Los_Angeles", 2026, 1, 23, 7, 0)


def test_skip_today_keeps_a_midnight_reminder_tomorrow() -> None:
    s = Schedule(time(0, 0), "Europe/Berlin")
    assert skip_today(s, local("Europe/Berlin", 2026, 1, 15, 0, 30)) == utc(2026, 1, 15, 23, 0)


def test_skip_today_when_paused_is_none() -> None:
    assert skip_today(Schedule(time(7, 0), "UTC", paused=True), utc(2026, 1, 15)) is None


def test_local_date() -> None:
    assert local_date("Asia/Tokyo", utc(2026, 1, 18, 23, 30)) == date(2026, 1, 19)
    assert local_date("UTC-05:00", utc(2026, 1, 18, 3, 0)) == date(2026, 1, 17)


GRACE = timedelta(hours=2)
DAILY = Schedule(time(7, 30), "Europe/Berlin")
DUE = utc(2026, 1, 15, 6, 30)
TOMORROW = utc(2026, 1, 16, 6, 30)


def test_catch_up_inside_grace_sends_now_once() -> None:
    decision = catch_up(DUE, DUE + timedelta(minutes=40), DAILY, GRACE)
    assert decision == SendNow(then=TOMORROW)


def test_catch_up_exactly_at_grace_still_sends() -> None:
    assert catch_up(DUE, DUE + GRACE, DAILY, GRACE) == SendNow(then=TOMORROW)


def test_catch_up_past_grace_skips_to_the_next_occurrence_after_now() -> None:
    assert catch_up(DUE, DUE + GRACE + timedelta(seconds=1), DAILY, GRACE) == Reschedule(TOMORROW)


def test_catch_up_after_days_down_does_not_flood() -> None:
    three_days_later = DUE + timedelta(days=3, hours=1)
    assert catch_up(DUE, three_days_later, DAILY, GRACE) == Reschedule(utc(2026, 1, 19, 6, 30))


def test_catch_up_on_time_sends() -> None:
    assert catch_up(DUE, DUE, DAILY, GRACE) == SendNow(then=TOMORROW)


def test_catch_up_before_due_leaves_it() -> None:
    assert catch_up(DUE, DUE - timedelta(minutes=5), DAILY, GRACE) == Reschedule(DUE)


def test_catch_up_when_paused_sends_nothing() -> None:
    paused = Schedule(time(7, 30), "Europe/Berlin", paused=True)
    assert catch_up(DUE, DUE + timedelta(minutes=1), paused, GRACE) == Reschedule(None)


def test_catch_up_refuses_negative_grace() -> None:
    with pytest.raises(ValueError):
        catch_up(DUE, DUE, DAILY, timedelta(minutes=-1))


# --- parsing a time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7:30", time(7, 30)),
        ("07:30", time(7, 30)),
        ("19:30", time(19, 30)),
        ("7.30pm", time(19, 30)),
        ("7.30 PM", time(19, 30)),
        ("7:30 p.m.", time(19, 30)),
        ("7am", time(7, 0)),
        ("7 am", time(7, 0)),
        ("7 a.m.", time(7, 0)),
        ("7h30", time(7, 30)),
        ("19h", time(19, 0)),
        ("7", time(7, 0)),
        ("19", time(19, 0)),
        ("1930", time(19, 30)),
        ("0730", time(7, 30)),
        ("730", time(7, 30)),
        ("730pm", time(19, 30)),
        ("7 30", time(7, 30)),
        ("noon", time(12, 0)),
        ("Midday", time(12, 0)),
        ("midnight", time(0, 0)),
        ("12 noon", time(12, 0)),
        ("12am", time(0, 0)),
        ("12:15am", time(0, 15)),
        ("12pm", time(12, 0)),
        ("12:45 pm", time(12, 45)),
        ("00:00", time(0, 0)),
        ("24:00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("  6:05  ", time(6, 5)),
    ],
)
def test_times_people_type(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", TimeError.EMPTY),
        ("   ", TimeError.EMPTY),
        ("25:00", TimeError.BAD_HOUR),
        ("24:30", TimeError.BAD_HOUR),
        ("2500", TimeError.BAD_HOUR),
        ("7:75", TimeError.BAD_MINUTE),
        ("1975", TimeError.BAD_MINUTE),
        ("13pm", TimeError.BAD_AM_PM),
        ("0am", TimeError.BAD_AM_PM),
        ("19:30pm", TimeError.BAD_AM_PM),
        ("junk", TimeError.NOT_A_TIME),
        ("seven", TimeError.NOT_A_TIME),
        ("pm", TimeError.NOT_A_TIME),
        ("7:5", TimeError.NOT_A_TIME),
        ("7:30:00", TimeError.NOT_A_TIME),
        ("-7", TimeError.NOT_A_TIME),
        ("12345", TimeError.NOT_A_TIME),
        ("7:30 tomorrow", TimeError.NOT_A_TIME),
        ("\u0667:\u0663\u0660", TimeError.NOT_A_TIME),  # Arabic-Indic digits
        ("7" * 5000, TimeError.NOT_A_TIME),
    ],
)
def test_bad_times_say_why(text: str, error: TimeError) -> None:
    assert parse_time_of_day(text) == BadTime(error)


# --- parsing days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon wed fri", {MON, WED, FRI}),
        ("Monday, Wednesday and Friday", {MON, WED, FRI}),
        ("mondays", {MON}),
        ("tue & thu", {TUE, THU}),
        ("Tues/Thurs", {TUE, THU}),
        ("weekdays", {MON, TUE, WED, THU, FRI}),
        ("every weekday", {MON, TUE, WED, THU, FRI}),
        ("mon-fri", {MON, TUE, WED, THU, FRI}),
        ("Monday to Friday", {MON, TUE, WED, THU, FRI}),
        ("fri-mon", {FRI, SAT, SUN, MON}),
        ("weekends", {SAT, SUN}),
        ("weekend", {SAT, SUN}),
        ("sat, sun", {SAT, SUN}),
        ("every day", set(EVERY_DAY)),
        ("Everyday", set(EVERY_DAY)),
        ("daily", set(EVERY_DAY)),
        ("each day", set(EVERY_DAY)),
        ("all week", set(EVERY_DAY)),
        ("weekends and wednesday", {WED, SAT, SUN}),
    ],
)
def test_days_people_type(text: str, expected: set[int]) -> None:
    assert parse_days(text) == frozenset(expected)


@pytest.mark.parametrize("text", ["", "   ", "bananas", "mon and bananas", "mon-", "- fri", "8"])
def test_days_not_understood_are_none_not_a_guess(text: str) -> None:
    assert parse_days(text) is None


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (EVERY_DAY, "every day"),
        (frozenset({MON, TUE, WED, THU, FRI}), "weekdays"),
        (frozenset({SAT, SUN}), "weekends"),
        (frozenset({FRI, MON, WED}), "Mon, Wed, Fri"),
        (frozenset({SUN}), "Sun"),
        (frozenset(), "no days"),
    ],
)
def test_describe_days(days: frozenset[int], text: str) -> None:
    assert describe_days(days) == text


def test_typed_days_read_back_the_same() -> None:
    for text in ("mon wed fri", "weekdays", "weekends", "every day"):
        days = parse_days(text)
        assert days is not None
        assert parse_days(describe_days(days)) == days


# --- the fixed-offset fallback -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "typed", "zone"),
    [
        (utc(2026, 1, 15, 12, 3, 40), time(14, 5), "UTC+02:00"),  # a couple of minutes off
        (utc(2026, 1, 15, 12, 0), time(17, 30), "UTC+05:30"),
        (utc(2026, 1, 15, 12, 0), time(17, 45), "UTC+05:45"),
        (utc(2026, 1, 15, 12, 0), time(12, 6), "UTC+00:00"),
        (utc(2026, 1, 15, 12, 0), time(12, 8), "UTC+00:15"),  # rounds to the nearest 15
        (utc(2026, 1, 15, 12, 0), time(8, 30), "UTC-03:30"),
        (utc(2026, 1, 15, 12, 0), time(2, 30), "UTC-09:30"),  # Marquesas
        # Across midnight: the date that keeps the offset in range.
        (utc(2026, 1, 15, 23, 0), time(1, 0), "UTC+02:00"),
        (utc(2026, 1, 15, 1, 0), time(22, 0), "UTC-03:00"),
        (utc(2026, 1, 15, 18, 0), time(5, 45), "UTC+11:45"),
        # The date line: -12..-10 and +12..+14 read the same clock on different dates.
        (utc(2026, 1, 15, 12, 0), time(0, 0), "UTC+12:00"),  # Fiji, not -12:00
        (utc(2026, 1, 15, 11, 0), time(0, 0), "UTC+13:00"),  # NZ summer, Tonga, not -11:00
        (utc(2026, 1, 15, 11, 0), time(0, 45), "UTC+13:45"),  # Chatham summer
        (utc(2026, 1, 15, 10, 0), time(0, 0), "UTC-10:00"),  # Hawaii, not +14:00
        (utc(2026, 1, 15, 10, 0), time(23, 45), "UTC+13:45"),
    ],
)
def test_offset_from_local_time(now: datetime, typed: time, zone: str) -> None:
    assert offset_from_local_time(now, typed) == zone
    offset = zone_info(zone).utcoffset(None)
    assert offset is not None and timedelta(hours=-12) <= offset <= timedelta(hours=14)


def test_the_fallback_zone_reproduces_the_typed_clock() -> None:
    now = utc(2026, 7, 1, 12, 0)
    for minutes in range(0, 24 * 60, 15):
        typed = time(*divmod(minutes, 60))
        zone = offset_from_local_time(now, typed)
        assert now.astimezone(zone_info(zone)).time() == typed


def test_the_fallback_accepts_any_aware_now() -> None:
    now = datetime(2026, 1, 15, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert offset_from_local_time(now, time(14, 0)) == "UTC+02:00"
