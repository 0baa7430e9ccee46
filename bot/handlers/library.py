"""The exercise library: parts of the routine, then one card per exercise, browsed in place."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import render
from bot.handlers import edit
from bot.services import services


async def show_library(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/exercises: a fresh message with one button per part of the routine."""
    assert update.effective_chat
    text, keyboard = render.library(services(context).knowledge)
    await update.effective_chat.send_message(text, reply_markup=keyboard)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`ex:lib`, `ex:b:<block>`, `ex:e:<exercise>` edit the message; `ex:show:<exercise>` sends
    a new one, so the programme a card was opened from stays on screen."""
    k = services(context).knowledge
    query = update.callback_query
    assert query and query.data and update.effective_chat
    kind, _, item = query.data.removeprefix("ex:").partition(":")
    page = None
    if kind == "lib":
        page = render.library(k)
    elif kind == "b":
        page = render.block(k, item)
    elif kind in ("e", "show") and (exercise := k.exercise(item)):
        page = render.card(k, exercise)
    if page is None:
        await query.answer(k.text("stale_button"))
        return
    await query.answer()
    text, keyboard = page
    if kind == "show" or query.message is None:
        await update.effective_chat.send_message(text, reply_markup=keyboard)
    else:
        await edit(query, text, keyboard)
