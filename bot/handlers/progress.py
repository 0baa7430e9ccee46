"""/progress: sessions per week, streaks, every knee-to-wall result, and the chart."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from bot import render
from bot.chart import TestPoint, progress_chart
from bot.core.schedule import local_date, zone_info
from bot.core.sessions import compare_tests, retest_due, streaks, week_counts
from bot.knowledge import Knowledge
from bot.services import services
from bot.storage.repository import SavedAssessment


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    k = s.knowledge
    assert update.effective_user and update.effective_chat
    user_id, chat = update.effective_user.id, update.effective_chat
    saved = await s.reminders.get(user_id)
    zone = saved.schedule.zone if saved else "UTC"
    now = s.clock()
    today = local_date(zone, now)
    done = await s.reminders.done_days(user_id)
    lines = [k.text("progress_title")]
    if done:
        weeks = " · ".join(str(count) for _, count in week_counts(done, today))
        streak = streaks(done, today)
        lines += [
            k.text("progress_sessions", weeks=weeks),
            k.text("progress_streak", current=streak.current, best=streak.best),
        ]
    else:
        lines.append(k.text("progress_no_sessions"))
    tests = await s.repo.assessments(user_id)
    lines += ["", *_test_lines(k, tests, zone)]
    if tests and retest_due(tests[-1].created_at, now):
        lines.append(k.text("progress_retest", days=(now - tests[-1].created_at).days))
    await chat.send_message("\n".join(lines))
    if tests:
        tz = zone_info(zone)
        points = [
            TestPoint(t.created_at.astimezone(tz), t.left_cm, t.right_cm, t.same_for_both)
            for t in tests
        ]
        t = k.thresholds
        png = await asyncio.to_thread(  # ~0.1 s of CPU: keep the event loop free
            progress_chart,
            points,
            target_cm=t.target_cm,
            noise_cm=t.measurement_error_cm,
            title=k.text("chart_title"),
        )
        caption = k.text(
            "chart_caption", target=render.cm(t.target_cm), noise=render.cm(t.measurement_error_cm)
        )
        await chat.send_photo(png, caption=caption)


def _test_lines(k: Knowledge, tests: list[SavedAssessment], zone: str) -> list[str]:
    if not tests:
        return [k.text("progress_no_tests")]
    noise = k.thresholds.measurement_error_cm
    lines = [k.text("progress_tests_title")]
    previous: SavedAssessment | None = None
    for test in tests:
        legs = []
        pairs = (
            [("both", test.left_cm)]
            if test.same_for_both
            else [("left", test.left_cm), ("right", test.right_cm)]
        )
        for leg, cm in pairs:
            text = k.text("progress_leg", leg=k.text(f"progress_leg_{leg}"), cm=render.cm(cm))
            if previous is not None:
                before = previous.left_cm if leg != "right" else previous.right_cm
                change = compare_tests(before, cm, noise)
                text += f" ({render.change(k, change)})"
            legs.append(text)
        day = test.created_at.astimezone(zone_info(zone))
        lines.append(k.text("progress_test", day=f"{day.day} {day:%b %Y}", legs="; ".join(legs)))
        previous = test
    return lines
