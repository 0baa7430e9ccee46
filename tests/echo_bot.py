"""A tiny real PTB bot: the fake's self-test subject and the baseline for benchmarks.

It exercises the paths every bot has (a command with an HTML reply and an inline keyboard,
a callback query that is answered and edits its message, plain-text echo, an error handler)
while doing as little work as possible, so benchmark numbers measure PTB + transport.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

PING = "ping"
DOCS_URL = "https://core.telegram.org/bots/api"


def keyboard() -> InlineKeyboardMarkup:
    """The echo bot's inline keyboard: one callback button and one URL button."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Ping", callback_data=PING),
                InlineKeyboardButton("Docs", url=DOCS_URL),
            ]
        ]
    )


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with HTML (the name is escaped) and show the keyboard."""
    assert update.effective_message is not None and update.effective_user is not None
    name = html.escape(update.effective_user.first_name)
    await update.effective_message.reply_html(f"Hello, <b>{name}</b>!", reply_markup=keyboard())


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the query, then edit the message; a counter keeps every edit a real change."""
    query = update.callback_query
    assert query is not None
    if query.data != PING:
        await query.answer("Unknown button", show_alert=True)
        return
    count = int(context.chat_data.get("pings", 0)) + 1 if context.chat_data is not None else 1
    if context.chat_data is not None:
        context.chat_data["pings"] = count
    await query.answer("pong")
    await query.edit_message_text(f"Pong #{count}", reply_markup=keyboard())


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the text back unchanged (no parse_mode, so any text is valid)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    await message.reply_text(message.text)


async def record_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep handler errors where tests can see them (bot_data["errors"])."""
    context.bot_data.setdefault("errors", []).append(context.error)


def build_echo_application(
    base_url: str,
    token: str,
    *,
    base_file_url: str | None = None,
    concurrent_updates: bool | int = False,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    request: Callable[[int], BaseRequest] | None = None,
) -> Application:
    """Build (not start) the echo bot pointed at a Bot API server such as FakeTelegram.
    `request` makes an HTTP client for a pool size (sends get 20 connections, getUpdates 1)."""
    if base_file_url is None:
        base_file_url = base_url.removesuffix("/bot") + "/file/bot"
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .concurrent_updates(concurrent_updates)
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    if request is not None:
        builder = builder.request(request(20)).get_updates_request(request(1))
    app = builder.build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_error_handler(record_error)
    return app
