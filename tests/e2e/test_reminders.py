"""Daily reminders end to end: set-up, the dispatcher on a moved clock, the reminder buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import Chat, RunningBot, until
from tests.fake_telegram import Message

# START is Sunday 1 March 2026, 12:00 UTC = 13:00 in Berlin (CET, UTC+1).
MONDAY_0730_BERLIN = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


async def next_due_is(bot: RunningBot, expected: datetime | None, user_id: int = 42) -> None:
    async def check() -> bool:
        saved = await bot.services.reminders.get(user_id)
        return saved is not None and saved.next_due == expected

    await until(check)


def reminders_in(bot: RunningBot, chat_id: int = 42) -> list[Message]:
    return [m for m in bot.fake.messages(chat_id) if (m.text or "").startswith("Today's session")]


async def next_reminder(bot: RunningBot, count: int, chat_id: int = 42) -> Message:
    await bot.fake.wait_for(
        lambda: len(reminders_in(bot, chat_id)) >= count, message=f"{count} reminder(s)"
    )
    return reminders_in(bot, chat_id)[-1]


async def set_up(
    chat: Chat, zone: str = "berlin", at: str = "7:30", days: str = "Every day"
) -> str:
    await chat.send("/reminders")
    await chat.press("Turn on daily reminders")
    await chat.send(zone)
    await chat.send(at)
    return (await chat.press(days)).text


async def test_set_up_then_receive_and_complete_todays_session(bot: RunningBot) -> None:
    chat = bot.chat()
    turn = await chat.send("/reminders")
    assert "Daily reminders are off" in turn.text
    turn = await chat.press("Turn on daily reminders")
    assert "Which time zone are you in?" in turn.text
    assert turn.last.reply_keyboard == [["Share my location"], ["Tell you my local time instead"]]
    turn = await chat.send("berlin")
    assert "Time zone: Europe/Berlin." in turn.text
    assert turn.last.button_texts == ["07:00", "08:00", "12:00", "18:00", "20:00"]
    turn = await chat.send("7.30am")
    assert turn.last.button_texts == ["Every day", "Weekdays", "Choose days"]
    turn = await chat.press("Weekdays")
    assert "at 07:30, weekdays" in turn.text and "Next one: Mon 2 Mar, 07:30" in turn.text
    saved = await bot.services.reminders.get(42)
    assert saved is not None and saved.next_due == MONDAY_0730_BERLIN

    bot.clock.set(MONDAY_0730_BERLIN - timedelta(seconds=1))
    await bot.fake.settle(quiet=0.1)
    assert reminders_in(bot) == []
    bot.clock.set(MONDAY_0730_BERLIN + timedelta(seconds=1))
    reminder = await next_reminder(bot, 1)
    assert "Today's session (Mon 2 Mar)" in (reminder.text or "")
    assert "Ankle circles: 20 circles in each direction" in (reminder.text or "")
    assert reminder.button_texts == ["Done ✅", "Snooze 1 h", "Skip today"]
    await next_due_is(bot, MONDAY_0730_BERLIN + timedelta(days=1))

    turn = await chat.press("Done ✅", reminder)
    assert "Streak: 1 day(s) in a row (best 1). This week: 1 session(s)" in turn.text
    assert bot.fake.messages(42)[-2].text.endswith("✅ Done")  # type: ignore[union-attr]
    again = await chat.press_data(reminder.message_id, reminder.buttons[0][0][1] or "")
    assert again.toast == "Already recorded for that day." and again.messages == []


async def test_the_reminder_follows_the_programme_of_the_latest_assessment(
    bot: RunningBot,
) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    await chat.send("5")
    await chat.press("Yes, heel stayed down")
    await chat.press("Front of ankle")
    await set_up(chat)
    bot.clock.set(MONDAY_0730_BERLIN)
    text = (await next_reminder(bot, 1)).text or ""
    assert "★ Ankle traction (with a helper): Hold 30 seconds, 3 times" in text
    assert "★ Banded ankle mobilisation: 30 repetitions" in text


async def test_snooze_and_skip(bot: RunningBot) -> None:
    chat = bot.chat()
    await set_up(chat)
    bot.clock.set(MONDAY_0730_BERLIN)
    first = await next_reminder(bot, 1)
    turn = await chat.press("Snooze 1 h", first)
    assert "Snoozed until Mon 2 Mar, 08:30" in turn.text
    bot.clock.advance(minutes=59)
    await bot.fake.settle(quiet=0.1)
    assert len(reminders_in(bot)) == 1
    bot.clock.advance(minutes=2)
    second = await next_reminder(bot, 2)
    turn = await chat.press("Skip today", second)
    assert "Skipped; next one Tue 3 Mar, 07:30" in turn.text
    saved = await bot.services.reminders.get(42)
    assert saved is not None and saved.next_due == MONDAY_0730_BERLIN + timedelta(days=1)


async def test_after_downtime_only_fresh_reminders_are_sent(bot: RunningBot) -> None:
    chat, other = bot.chat(), bot.chat(43, "Bo")
    await set_up(chat)
    await set_up(other, at="10:00")
    # Down from before both were due until Monday 11:05 Berlin: 07:30's is 3.5 h stale
    # (past the 2 h grace), 10:00's is 65 min late (within it).
    bot.clock.set(datetime(2026, 3, 2, 10, 5, tzinfo=UTC))
    await next_reminder(bot, 1, chat_id=43)
    await bot.fake.settle(quiet=0.15)
    assert len(reminders_in(bot, 43)) == 1 and reminders_in(bot, 42) == []
    await next_due_is(bot, MONDAY_0730_BERLIN + timedelta(days=1))


async def test_a_blocked_user_is_turned_off_and_not_retried(bot: RunningBot) -> None:
    chat = bot.chat()
    await set_up(chat)
    bot.fake.block(42)
    bot.clock.set(MONDAY_0730_BERLIN)
    await bot.fake.wait_for(
        lambda: any(c.status == 403 for c in bot.fake.calls_to("sendMessage")), message="a 403"
    )
    await next_due_is(bot, None)
    await bot.fake.settle(quiet=0.15)
    assert len([c for c in bot.fake.calls_to("sendMessage") if c.status == 403]) == 1
    saved = await bot.services.reminders.get(42)
    assert saved is not None and saved.schedule.paused
    since = MONDAY_0730_BERLIN - timedelta(days=1)
    assert await bot.services.reminders.deliveries_since(since) == {"blocked": 1}


async def test_flood_limit_and_server_errors_are_retried_until_delivered(bot: RunningBot) -> None:
    chat = bot.chat()
    await set_up(chat)
    bot.fake.fail("sendMessage", 429, retry_after=1, chat_id=42)
    bot.fake.fail("sendMessage", 502, "Bad Gateway", chat_id=42)

    def statuses() -> list[int]:
        return [c.status for c in bot.fake.calls_to("sendMessage") if c.params["chat_id"] == 42]

    bot.clock.set(MONDAY_0730_BERLIN)
    await bot.fake.wait_for(lambda: 429 in statuses(), message="the 429")
    bot.clock.advance(seconds=2)  # past the Retry-After
    await bot.fake.wait_for(
        lambda: 502 in statuses(), timeout=10, message="the 502, after the limiter's pause"
    )
    for _ in range(3):  # past the back-off
        bot.clock.advance(seconds=3)
        await bot.fake.settle(quiet=0.05)
    await next_reminder(bot, 1)
    await bot.fake.settle(quiet=0.15)
    assert len(reminders_in(bot)) == 1
    assert statuses()[-3:] == [429, 502, 200]


async def test_location_and_local_time_set_the_zone(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/reminders")
    await chat.press("Turn on daily reminders")
    turn = await chat._turn(chat.user.send_location(40.7128, -74.006))
    assert "Time zone: America/New_York." in turn.text
    await chat.send("/cancel")
    await chat.send("/reminders")
    await chat.press("Turn on daily reminders")
    turn = await chat.send("Tell you my local time instead")
    assert "What time is it where you are right now?" in turn.text
    turn = await chat.send("17:31")  # 12:00 UTC -> UTC+05:30
    assert "Time zone: UTC+05:30." in turn.text and "won't follow daylight saving" in turn.text


async def test_bad_answers_during_set_up_are_explained(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/reminders")
    await chat.press("Turn on daily reminders")
    assert "couldn't find a time zone" in (await chat.send("xyzzy qwerty")).text
    turn = await chat.send("york")
    assert "Which of these did you mean?" in turn.text and turn.last.button_texts
    turn = await chat.press(turn.last.button_texts[0])
    assert "Time zone: " in turn.text
    assert "Hours go from 0 to 23" in (await chat.send("25:00")).text
    assert "Minutes go from 00 to 59" in (await chat.send("7:75")).text
    assert "I didn't understand that time" in (await chat.send("🙂")).text
    await chat.press("08:00")
    assert "I didn't understand those days" in (await chat.send("someday")).text
    turn = await chat.press("Choose days")
    picker = turn.last
    assert "Tap the days you want" in (picker.text or "")
    turn = await chat.press("Save these days", picker)
    assert turn.toast == "Pick at least one day."
    await chat.press("Mon", picker)
    await chat.press("Fri")
    turn = await chat.press("Save these days")
    assert "at 08:00, Mon, Fri" in turn.text
    stale = await chat.press_data(picker.message_id, "rm:t:09:00")
    assert stale.toast == "That button belongs to an older message."


async def test_change_pause_resume_and_stop(bot: RunningBot) -> None:
    chat = bot.chat()
    await set_up(chat)
    turn = await chat.send("/reminders")
    assert "07:30, every day" in turn.text and "Europe/Berlin (UTC+01:00 now)" in turn.text
    await chat.press("Change time")
    turn = await chat.press("20:00")
    assert "at 20:00, every day" in turn.text and "Next one: Sun 1 Mar, 20:00" in turn.text
    status = (await chat.send("/reminders")).last
    turn = await chat.press("Pause", status)
    assert "Paused." in turn.text and "Resume" in turn.last.button_texts
    bot.clock.set(MONDAY_0730_BERLIN + timedelta(hours=12))  # 19:30 in Berlin
    await bot.fake.settle(quiet=0.1)
    assert reminders_in(bot) == []
    turn = await chat.press("Resume", status)
    assert "Next one: Mon 2 Mar, 20:00" in turn.text
    turn = await chat.send("/stop")
    assert "Daily reminders stopped" in turn.text
    assert await bot.services.reminders.get(42) is None
    assert "no reminders set" in (await chat.send("/stop")).text


async def test_cancel_mid_set_up_changes_nothing(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/reminders")
    await chat.press("Turn on daily reminders")
    await chat.send("berlin")
    assert "Reminder set-up cancelled" in (await chat.send("/cancel")).text
    assert await bot.services.reminders.get(42) is None
    after = (await chat.send("7:30")).text  # no longer read as a reminder time
    assert "Which days?" not in after and after
