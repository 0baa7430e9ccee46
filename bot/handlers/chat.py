"""Greeting, help, and whatever else arrives: typed text, other media, unknown commands."""

from __future__ import annotations

import contextlib
import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import render
from bot.handlers import admin, assessment, faq, reminders
from bot.services import services

log = logging.getLogger(__name__)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    assert update.effective_user and update.effective_chat
    text, keyboard = render.start(s.knowledge, update.effective_user.first_name)
    await update.effective_chat.send_message(text, reply_markup=keyboard)
    draft = await s.repo.get_draft(update.effective_user.id)
    if draft is not None:
        text, keyboard = render.resume_choice(s.knowledge, draft)
        await update.effective_chat.send_message(text, reply_markup=keyboard)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat
    await update.effective_chat.send_message(services(context).knowledge.text("help"))
    await remind_open_assessment(update, context)


async def remind_open_assessment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """After a side trip (help, library, a sticker), say how to get back to the open question."""
    s = services(context)
    assert update.effective_user and update.effective_chat
    if await s.repo.get_draft(update.effective_user.id) is not None:
        await update.effective_chat.send_message(s.knowledge.text("continue_hint"))


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text is an answer while an assessment waits for one, otherwise a question."""
    s = services(context)
    assert update.effective_user and update.effective_chat
    pending = await s.repo.pending(update.effective_user.id)
    if pending.draft is not None:
        await assessment.answer_text(update, context, pending.draft)
    elif pending.setup is not None:
        await reminders.answer_text(update, context, *pending.setup)
    else:
        await faq.question(update, context)


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel ends whatever question is open: an assessment or a reminder set-up."""
    s = services(context)
    assert update.effective_user and update.effective_chat
    user_id = update.effective_user.id
    if await s.repo.delete_draft(user_id):
        key = "cancelled"
    elif await s.reminders.stop_expecting(user_id):
        key = "setup_cancelled"
    else:
        key = "nothing_to_cancel"
    await update.effective_chat.send_message(
        s.knowledge.text(key), reply_markup=ReplyKeyboardRemove()
    )


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat
    await update.effective_chat.send_message(services(context).knowledge.text("not_text"))
    await remind_open_assessment(update, context)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat
    await update.effective_chat.send_message(services(context).knowledge.text("unknown_command"))
    await remind_open_assessment(update, context)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forged data, or a button from a version of the bot that no longer exists."""
    assert update.callback_query
    await update.callback_query.answer(services(context).knowledge.text("stale_button"))


async def error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the update id and traceback (never the text); tell the user how to carry on."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s", update_id, exc_info=context.error)
    await admin.alert(context, update_id)
    if not isinstance(update, Update):
        return
    if update.effective_chat:
        try:
            await update.effective_chat.send_message(services(context).knowledge.text("sorry"))
        except Exception:  # the failure may be Telegram itself; the log line above is enough
            log.warning("could not send the apology for update %s", update_id)
    if update.callback_query:  # stop the button's spinner, unless the handler already did
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()


async def group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group, answer only what is addressed to the bot, and send people to a private chat."""
    message, me = update.message, context.bot
    if message is None or not _addressed_to(message, me.username, me.id):
        return
    k = services(context).knowledge
    button = InlineKeyboardButton(k.text("group_open_button"), url=f"https://t.me/{me.username}")
    await message.reply_text(k.text("group_private"), reply_markup=InlineKeyboardMarkup([[button]]))


def _addressed_to(message: Message, username: str, bot_id: int) -> bool:
    text = message.text or message.caption or ""
    command = text.split(maxsplit=1)[0] if text.startswith("/") else ""
    if command:
        return "@" not in command or command.lower().endswith(f"@{username.lower()}")
    mentioned = any(
        value.lower() == f"@{username.lower()}"
        for value in message.parse_entities([MessageEntity.MENTION]).values()
    )
    replied = message.reply_to_message is not None and (
        message.reply_to_message.from_user is not None
        and message.reply_to_message.from_user.id == bot_id
    )
    return mentioned or replied
