"""/export and /forget: a person's data is theirs to see and to delete."""

from __future__ import annotations

import json

from telegram import ReplyKeyboardRemove, Update
from telegram.ext import ContextTypes

from bot import render
from bot.handlers import edit
from bot.services import services
from bot.storage.repository import export_user, forget_user


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    assert update.effective_user and update.effective_chat
    data = await export_user(s.repo.engine, update.effective_user.id)
    document = json.dumps(data, indent=2, ensure_ascii=False).encode()
    await update.effective_chat.send_document(
        document, filename="ankle-bot-data.json", caption=s.knowledge.text("export_caption")
    )


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    k = services(context).knowledge
    assert update.effective_chat
    await update.effective_chat.send_message(
        k.text("forget_confirm"),
        reply_markup=render.rows(
            (k.text("forget_yes_button"), "pv:forget"), (k.text("forget_no_button"), "pv:keep")
        ),
    )


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    k = s.knowledge
    query = update.callback_query
    assert query and update.effective_user and update.effective_chat
    await query.answer()
    if query.data == "pv:forget":
        await forget_user(s.repo.engine, update.effective_user.id)
        await edit(query, k.text("forget_confirm"), None)
        await update.effective_chat.send_message(
            k.text("forgotten"), reply_markup=ReplyKeyboardRemove()
        )
    else:
        await edit(query, k.text("forget_kept"), None)
