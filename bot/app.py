"""Wire the handlers into one PTB Application; the same one serves Telegram and the console."""

from __future__ import annotations

import asyncio

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.dispatcher import Dispatcher
from bot.handlers import admin, assessment, chat, faq, library, privacy, progress, reminders
from bot.http import AiohttpRequest
from bot.ratelimit import TelegramRateLimiter
from bot.services import Services
from bot.updates import PerUserUpdates

COMMANDS = (
    "start",
    "assess",
    "exercises",
    "faq",
    "reminders",
    "progress",
    "cancel",
    "export",
    "forget",
    "help",
)


def build_application(
    services: Services,
    token: str,
    *,
    base_url: str | None = None,
    request: BaseRequest | None = None,
) -> Application:  # type: ignore[type-arg]
    """`base_url` points PTB at another Bot API server (ours in tests, a self-hosted one in
    production); `request` replaces HTTP altogether (the console)."""
    limits = services.config
    builder = (
        ApplicationBuilder()
        .token(token)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(TelegramRateLimiter(limits.overall_per_second, limits.per_chat_per_second))
        .concurrent_updates(PerUserUpdates())
    )
    if base_url:
        builder = builder.base_url(base_url).base_file_url(_file_url(base_url))
    if request is None:  # see bot/http.py for why not PTB's default (httpx)
        builder = builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest(1))
    else:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()
    app.bot_data["services"] = services
    add_handlers(app, services)
    return app


def _file_url(base_url: str) -> str:
    head, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


def add_handlers(app: Application, services: Services) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    app.add_handlers(
        [
            CommandHandler("start", chat.start, private),
            CommandHandler("help", chat.help_command, private),
            CommandHandler("assess", assessment.assess, private),
            CommandHandler("cancel", chat.cancel, private),
            CommandHandler("exercises", library.show_library, private),
            CommandHandler("reminders", reminders.show, private),
            CommandHandler("stop", reminders.stop, private),
            CommandHandler("progress", progress.show, private),
            CommandHandler("faq", faq.topics, private),
            CommandHandler("export", privacy.export, private),
            CommandHandler("forget", privacy.forget, private),
            CommandHandler("stats", admin.stats, private & admin.only(services.admins)),
            MessageHandler(private & filters.COMMAND, chat.unknown_command),
            MessageHandler(private & filters.UpdateType.MESSAGE & filters.TEXT, chat.text),
            MessageHandler(
                private & filters.UpdateType.MESSAGE & filters.LOCATION, reminders.location
            ),
            MessageHandler(private & filters.UpdateType.MESSAGE, chat.not_text),
            MessageHandler(filters.ChatType.GROUPS & filters.UpdateType.MESSAGE, chat.group),
            CallbackQueryHandler(assessment.button, pattern=r"^as:"),
            CallbackQueryHandler(library.button, pattern=r"^ex:"),
            CallbackQueryHandler(reminders.button, pattern=r"^rm:"),
            CallbackQueryHandler(faq.button, pattern=r"^faq:"),
            CallbackQueryHandler(privacy.button, pattern=r"^pv:(forget|keep)$"),
            CallbackQueryHandler(chat.unknown_button),
        ]
    )
    app.add_error_handler(chat.error)


async def prepare(app: Application) -> None:  # type: ignore[type-arg]
    """Initialise, register the command menu, start handling updates."""
    await app.initialize()
    k = app.bot_data["services"].knowledge
    await app.bot.set_my_commands(
        [BotCommand(name, k.text(f"command_{name}")) for name in COMMANDS]
    )
    await app.start()


def start_reminders(app: Application) -> None:  # type: ignore[type-arg]
    """Run this instance's reminder dispatcher until `stop`."""
    stop_reminders = asyncio.Event()
    task = asyncio.create_task(Dispatcher(app.bot_data["services"]).run(app.bot, stop_reminders))
    app.bot_data["dispatcher"] = (stop_reminders, task)


async def start(app: Application, **polling: float) -> None:  # type: ignore[type-arg]
    """Long polling (and the console): prepare, poll, send reminders."""
    await prepare(app)
    assert app.updater
    await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, **polling)
    start_reminders(app)


async def stop(app: Application) -> None:  # type: ignore[type-arg]
    """Stop polling, finish the updates already fetched, hand back reminder claims, write the
    queued FAQ events, release connections."""
    assert app.updater
    if dispatcher := app.bot_data.pop("dispatcher", None):
        stop_reminders, task = dispatcher
        stop_reminders.set()
        await task
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.bot_data["services"].faq_log.close()
    await app.shutdown()
