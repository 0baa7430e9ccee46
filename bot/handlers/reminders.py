"""/reminders: set up, change, pause and stop daily reminders; the buttons on each reminder.

Set-up asks only for what is missing (zone, then time, then days). What has been answered so
far lives in the database with what the bot is waiting for, like the assessment's draft.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.ext import ContextTypes

from bot import render
from bot.core import schedule as sched
from bot.core.sessions import streaks, week_counts
from bot.core.timezones import (
    NoZone,
    ZoneChoices,
    ZoneMatch,
    canonical_zones,
    resolve_zone,
    zone_from_coordinates,
)
from bot.handlers import edit
from bot.services import Services, services
from bot.storage.reminders import Saved

SNOOZE_MINUTES = 60


def _ids(update: Update) -> tuple[int, int]:
    assert update.effective_user and update.effective_chat
    return update.effective_user.id, update.effective_chat.id


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reminders: the current schedule with its controls, or the offer to turn them on."""
    s = services(context)
    user_id, _ = _ids(update)
    assert update.effective_chat
    saved = await s.reminders.get(user_id)
    if saved is None:
        text, keyboard = (
            s.knowledge.text("reminders_off"),
            render.rows((s.knowledge.text("reminders_on_button"), "rm:on")),
        )
    else:
        text, keyboard = render.reminder_status(
            s.knowledge, saved.schedule, saved.next_due, s.clock()
        )
    await update.effective_chat.send_message(text, reply_markup=keyboard)


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stop and the Stop button."""
    s = services(context)
    user_id, _ = _ids(update)
    assert update.effective_chat
    await s.reminders.stop_expecting(user_id)
    key = "reminders_stopped" if await s.reminders.delete(user_id) else "no_reminders"
    await update.effective_chat.send_message(
        s.knowledge.text(key), reply_markup=ReplyKeyboardRemove()
    )


async def _continue(
    update: Update, context: ContextTypes.DEFAULT_TYPE, state: dict[str, Any]
) -> None:
    """Ask for the first missing piece, or save the schedule when nothing is missing."""
    s = services(context)
    k = s.knowledge
    user_id, chat_id = _ids(update)
    assert update.effective_chat
    chat = update.effective_chat
    for piece, question, keyboard in (
        ("zone", "ask_zone", render.location_keyboard(k)),
        ("time", "ask_time", render.time_choices()),
        ("days", "ask_days", render.days_choices(k)),
    ):
        if piece not in state:
            await s.reminders.expect(user_id, chat_id, piece, state)
            await chat.send_message(k.text(question), reply_markup=keyboard)
            return
    schedule = sched.Schedule(
        time.fromisoformat(state["time"]), state["zone"], frozenset(int(d) for d in state["days"])
    )
    now = s.clock()
    next_due = sched.next_due(schedule, now)
    assert next_due is not None
    await s.reminders.save(user_id, chat_id, schedule, next_due)
    await s.reminders.stop_expecting(user_id)
    await chat.send_message(
        k.text(
            "reminders_saved",
            time=state["time"],
            days=sched.describe_days(schedule.days),
            when=render.when(next_due, schedule.zone),
        ),
        reply_markup=ReplyKeyboardRemove(),
    )


async def _set_zone(
    update: Update, context: ContextTypes.DEFAULT_TYPE, state: dict[str, Any], zone: str
) -> None:
    k = services(context).knowledge
    assert update.effective_chat
    note = f"\n{k.text('zone_fixed_note')}" if sched.is_fixed_zone(zone) else ""
    await update.effective_chat.send_message(
        k.text("zone_set", zone=zone) + note, reply_markup=ReplyKeyboardRemove()
    )
    await _continue(update, context, {**state, "zone": zone})


async def answer_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, awaiting: str, state: dict[str, Any]
) -> None:
    """A typed answer to the set-up question the user was asked last."""
    s = services(context)
    k = s.knowledge
    assert update.message and update.effective_chat
    chat, typed = update.effective_chat, (update.message.text or "")[:200]
    if awaiting == "zone":
        if typed.strip() == k.text("local_time_button"):
            await s.reminders.expect(*_ids(update), "local_time", state)
            await chat.send_message(k.text("ask_local_time"), reply_markup=ReplyKeyboardRemove())
            return
        match resolve_zone(typed, k.zone_aliases):
            case ZoneMatch(zone):
                await _set_zone(update, context, state, zone)
            case ZoneChoices(zones):
                await chat.send_message(
                    k.text("zone_choices"), reply_markup=render.zone_choices(zones)
                )
            case NoZone():
                await chat.send_message(k.text("zone_not_found"))
        return
    if awaiting in ("time", "local_time"):
        parsed = sched.parse_time_of_day(typed)
        if isinstance(parsed, sched.BadTime):
            await chat.send_message(k.text(f"bad_time_{parsed.error.value}"))
            return
        if awaiting == "local_time":
            await _set_zone(update, context, state, sched.offset_from_local_time(s.clock(), parsed))
        else:
            await _continue(update, context, {**state, "time": parsed.strftime("%H:%M")})
        return
    days = sched.parse_days(typed)
    if not days:
        await chat.send_message(k.text("bad_days"), reply_markup=render.days_choices(k))
        return
    await _continue(update, context, {**state, "days": _digits(days)})


def _digits(days: frozenset[int]) -> str:
    return "".join(str(d) for d in sorted(days))


async def location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared location sets the zone during set-up; at any other time it is not needed."""
    s = services(context)
    assert update.message and update.message.location and update.effective_chat
    pending = await s.reminders.awaiting(_ids(update)[0])
    if pending is None or pending[0] not in ("zone", "local_time"):
        await update.effective_chat.send_message(s.knowledge.text("location_unexpected"))
        return
    where = update.message.location
    zone = zone_from_coordinates(where.latitude, where.longitude)
    if zone is None:
        await s.reminders.expect(*_ids(update), "local_time", pending[1])
        await update.effective_chat.send_message(
            s.knowledge.text("zone_at_sea"), reply_markup=ReplyKeyboardRemove()
        )
        return
    await _set_zone(update, context, pending[1], zone)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`rm:<action>:<value>`; set-up answers count only while that question is open."""
    s = services(context)
    k = s.knowledge
    query = update.callback_query
    assert query and query.data
    _, action, value = [*query.data.split(":", 2), ""][:3]
    user_id, _ = _ids(update)
    if action in ("done", "snooze", "skip"):
        await _reminder_action(update, context, action, value)
        return
    if action == "show":
        await query.answer()
        await show(update, context)
        return
    saved = await s.reminders.get(user_id)
    if action == "on" or (action == "change" and saved is not None):
        await query.answer()
        state: dict[str, Any] = {}
        if action == "change" and saved is not None:
            current = _state_of(saved.schedule)
            state = {key: v for key, v in current.items() if key != value}
        await _continue(update, context, state)
        return
    if action in ("pause", "resume", "stop") and saved is not None:
        await query.answer()
        if action == "stop":
            await stop(update, context)
            return
        schedule = sched.Schedule(
            saved.schedule.local_time, saved.schedule.zone, saved.schedule.days, action == "pause"
        )
        now = s.clock()
        next_due = sched.next_due(schedule, now)
        await s.reminders.save(user_id, saved.chat_id, schedule, next_due)
        text, keyboard = render.reminder_status(k, schedule, next_due, now)
        await edit(query, text, keyboard)
        return
    pending = await s.reminders.awaiting(user_id)
    expected = {"t": "time", "d": "days", "pick": "days", "z": "zone"}.get(action)
    if pending is None or expected is None or pending[0] != expected:
        await query.answer(k.text("stale_button"))
        return
    await _setup_answer(update, context, action, value, pending[1])


async def _setup_answer(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    action: str,
    value: str,
    state: dict[str, Any],
) -> None:
    k = services(context).knowledge
    query = update.callback_query
    assert query
    picked = frozenset(int(d) for d in value if d in "0123456")
    if action == "pick":
        await query.answer()
        await edit(query, k.text("pick_days"), render.days_picker(k, picked))
    elif action == "d" and not picked:
        await query.answer(k.text("no_days"))
    elif action == "d":
        await query.answer()
        await edit(query, k.text("ask_days"), None)
        await _continue(update, context, {**state, "days": _digits(picked)})
    elif action == "t" and not isinstance(at := sched.parse_time_of_day(value), sched.BadTime):
        await query.answer()
        await _continue(update, context, {**state, "time": at.strftime("%H:%M")})
    elif action == "z" and value in canonical_zones():
        await query.answer()
        await _set_zone(update, context, state, value)
    else:
        await query.answer(k.text("stale_button"))


def _state_of(schedule: sched.Schedule) -> dict[str, Any]:
    return {
        "zone": schedule.zone,
        "time": schedule.local_time.strftime("%H:%M"),
        "days": _digits(schedule.days),
    }


async def _reminder_action(
    update: Update, context: ContextTypes.DEFAULT_TYPE, action: str, stamp: str
) -> None:
    """Done / Snooze / Skip on a reminder; the reminder keeps a note of what was chosen."""
    s = services(context)
    k = s.knowledge
    query = update.callback_query
    assert query and update.effective_chat
    user_id, chat_id = _ids(update)
    try:
        day = datetime.strptime(stamp, "%Y%m%d").date()
    except ValueError:
        await query.answer(k.text("stale_button"))
        return
    saved = await s.reminders.get(user_id)
    now = s.clock()
    if action == "done":
        if not await s.reminders.mark_done(user_id, chat_id, day):
            await query.answer(k.text("already_done"))
            return
        await query.answer()
        await _note(query.message, k.text("marked_done"))
        await update.effective_chat.send_message(await _done_reply(s, user_id, saved, now))
        return
    if saved is None or saved.schedule.paused:
        await query.answer(k.text("stale_button"))
        return
    if action == "snooze":
        at = sched.snoozed(now, SNOOZE_MINUTES)
        note = k.text("marked_snoozed", when=render.when(at, saved.schedule.zone))
    else:
        at = sched.skip_today(saved.schedule, now)
        note = k.text("marked_skipped", when=render.when(at, saved.schedule.zone) if at else "-")
    await s.reminders.move(user_id, at)
    await query.answer()
    await _note(query.message, note)


async def _note(message: object, note: str) -> None:
    """Replace the reminder's buttons with a note of what was chosen."""
    if isinstance(message, Message) and message.text_html:
        await message.edit_text(f"{message.text_html}\n\n{note}", reply_markup=None)


async def _done_reply(s: Services, user_id: int, saved: Saved | None, now: datetime) -> str:
    today = sched.local_date(saved.schedule.zone if saved else "UTC", now)
    days = await s.reminders.done_days(user_id)
    streak = streaks(days, today)
    week = week_counts(days, today, weeks=1)[-1][1]
    return s.knowledge.text("done_reply", current=streak.current, best=streak.best, week=week)
