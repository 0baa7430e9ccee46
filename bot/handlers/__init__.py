"""The thin Telegram shell: parse the update, call the core, render the reply."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Message
from telegram.error import BadRequest


async def edit(query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None) -> bool:
    """Edit the message a button sits on; a double tap that would change nothing is fine (and
    returns False). A button that arrives on a message without text (forged data on a photo or
    a file) gets its answer as a new message instead."""
    message = query.message
    if isinstance(message, Message) and message.text is None:
        await message.chat.send_message(text, reply_markup=keyboard)
        return True
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as e:
        if "not modified" not in e.message:
            raise
        return False
    return True
