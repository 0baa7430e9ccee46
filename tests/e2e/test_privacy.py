"""/export and /forget: a person sees everything stored about them, and can delete all of it."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bot.storage.models import Base
from tests.e2e.conftest import Chat, RunningBot


async def leave_traces(chat: Chat) -> None:
    """An assessment, an open draft, reminders, a done session, a set-up in progress."""
    await chat.send("/assess")
    await chat.press("Both the same")
    await chat.send("6")
    await chat.press("Yes, heel stayed down")
    await chat.press("Front of ankle")
    await chat.send("/reminders")
    await chat.press("Turn on daily reminders")
    await chat.send("berlin")
    await chat.send("7:30")
    await chat.press("Every day")
    await chat.send("/assess")
    await chat.press("Each leg separately")
    await chat.send("what is dorsiflexion")


async def rows_about(bot: RunningBot, user_id: int) -> dict[str, int]:
    counts = {}
    async with bot.repo.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("user_id")
            if column is None and table.name == "users":
                column = table.c.id
            if column is not None:
                n = await conn.scalar(select(func.count()).where(column == user_id))
                counts[table.name] = n or 0
    return counts


async def test_export_sends_everything_as_json(bot: RunningBot) -> None:
    chat = bot.chat()
    await leave_traces(chat)
    turn = await chat.send("/export")
    [document] = [m for m in turn.messages if m.document]
    assert document.document_name == "ankle-bot-data.json"
    data = json.loads(document.document or b"")
    assert data["users"][0]["id"] == 42
    assert [a["left_cm"] for a in data["assessments"]] == [6.0]
    assert data["reminders"][0]["local_time"] == "07:30"
    assert data["reminders"][0]["zone"] == "Europe/Berlin"
    assert data["assessment_drafts"] and data["assessment_drafts"][0]["user_id"] == 42
    assert "what is dorsiflexion" not in json.dumps(data)


async def test_forget_deletes_every_row_after_confirmation(bot: RunningBot) -> None:
    chat, other = bot.chat(), bot.chat(43, "Bo")
    await leave_traces(chat)
    await leave_traces(other)
    await bot.services.reminders.mark_done(42, 42, bot.clock.now.date())
    prompt = (await chat.send("/forget")).last
    turn = await chat.press("No, keep it", prompt)
    assert "Nothing was deleted" in turn.text
    assert (await rows_about(bot, 42))["assessments"] == 1
    prompt = (await chat.send("/forget")).last
    turn = await chat.press("Yes, delete it all", prompt)
    assert "everything about you is deleted" in turn.text
    assert set((await rows_about(bot, 42)).values()) == {0}
    assert (await rows_about(bot, 43))["assessments"] == 1  # nobody else's data
    again = await chat.press_data(prompt.message_id, "pv:forget")  # a second tap is harmless
    assert set((await rows_about(bot, 42)).values()) == {0} and again.messages
    assert "Daily reminders are off" in (await chat.send("/reminders")).text
