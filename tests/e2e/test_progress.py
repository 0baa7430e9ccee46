"""Re-testing and /progress: changes judged against the test's own noise, and the chart."""

from __future__ import annotations

import struct
from datetime import timedelta

from tests.e2e.conftest import Chat, RunningBot


async def both_the_same(chat: Chat, cm: str) -> str:
    await chat.send("/assess")
    await chat.press("Both the same")
    await chat.send(cm)
    await chat.press("Yes, heel stayed down")
    return (await chat.press("Back of calf")).text


async def test_a_retest_says_whether_the_change_is_real(bot: RunningBot) -> None:
    chat = bot.chat()
    first = await both_the_same(chat, "5")
    assert "Since your last test" not in first
    second = await both_the_same(chat, "6")
    assert "both legs +1 cm, within the test's measurement noise" in second
    third = await both_the_same(chat, "8")
    assert "both legs +2 cm, a real gain" in third


async def test_progress_without_history_points_the_way(bot: RunningBot) -> None:
    turn = await bot.chat().send("/progress")
    assert "No sessions recorded yet" in turn.text and "No tests yet: /assess" in turn.text
    assert bot.fake.calls_to("sendPhoto") == []


async def test_progress_lists_tests_sessions_and_sends_a_chart(bot: RunningBot) -> None:
    chat = bot.chat()
    await both_the_same(chat, "5")
    await chat.send("/assess")
    await chat.press("Each leg separately")
    for cm in ("7", "5.5"):
        await chat.send(cm)
        await chat.press("Yes, heel stayed down")
        await chat.press("Front of ankle")
    day = bot.clock.now.date()
    for n in range(3):
        await bot.services.reminders.mark_done(42, 42, day - timedelta(days=n))
    turn = await chat.send("/progress")
    text = turn.text
    assert "Streak: 3 day(s) in a row; best so far 3." in text
    assert "both legs 5 cm" in text
    assert "left 7 cm (+2 cm, a real gain); right 5.5 cm (+0.5 cm, within" in text
    [photo] = [m for m in turn.messages if m.photo]
    assert photo.photo and photo.photo.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", photo.photo[16:24])
    assert 600 <= width <= 1600 and 400 <= height <= 1200
    assert "measurement noise (±1.6 cm)" in (photo.text or "")


async def test_the_programme_offers_daily_reminders(bot: RunningBot) -> None:
    chat = bot.chat()
    await both_the_same(chat, "6")
    turn = await chat.press("Remind me every day")
    assert "Daily reminders are off" in turn.text
