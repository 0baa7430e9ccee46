"""`python -m bot` / `ankle-bot`: start the bot on Telegram, or in the terminal without a token."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from dotenv import dotenv_values
from sqlalchemy.exc import SQLAlchemyError
from telegram.ext import Application

from bot.app import build_application, start
from bot.app import stop as stop_app
from bot.config import PROJECT_DIR, ConfigError, Settings, load_settings
from bot.console import TOKEN as CONSOLE_TOKEN
from bot.console import ConsoleRequest
from bot.knowledge import KnowledgeError, load_knowledge
from bot.logs import setup_logging
from bot.services import Services
from bot.storage.db import create_engine, migrate
from bot.storage.repository import Repository

log = logging.getLogger("bot")


def environment() -> dict[str, str]:
    """The process environment wins over `.env`, as operators expect."""
    dotenv = {k: v for k, v in dotenv_values(PROJECT_DIR / ".env").items() if v is not None}
    return {**dotenv, **os.environ}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ankle-bot", description=__doc__)
    parser.parse_args(argv)
    env = environment()
    try:
        settings = load_settings(env)
        knowledge = load_knowledge()
    except (ConfigError, KnowledgeError) as e:
        print(f"ankle-bot: {e}", file=sys.stderr)
        return 2
    setup_logging(_log_level(settings, env), settings.token)
    try:
        repo = Repository(create_engine(settings.database_url))
        return asyncio.run(_run(settings, Services(knowledge, repo)))
    except KeyboardInterrupt:
        return 130


def _log_level(settings: Settings, env: Mapping[str, str]) -> str:
    """In the console, log lines would interleave with the chat: warnings only, unless asked."""
    return "WARNING" if settings.console and "LOG_LEVEL" not in env else settings.log_level


async def _run(settings: Settings, services: Services) -> int:
    engine = services.repo.engine
    try:
        await migrate(engine)
    except (SQLAlchemyError, OSError) as e:
        where = engine.url.render_as_string(hide_password=True)
        print(
            f"ankle-bot: cannot open the database {where}: {e.__class__.__name__}", file=sys.stderr
        )
        await engine.dispose()
        return 2
    try:
        if settings.console:
            await _console(services)
        else:
            assert settings.token
            app = build_application(services, settings.token, base_url=settings.api_base_url)
            await serve(app, _stop_on_signals())
    finally:
        await engine.dispose()
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(app: Application, stop: asyncio.Event, **polling: float) -> None:  # type: ignore[type-arg]
    """Long polling until `stop` is set."""
    await start(app, **polling)
    log.info("bot started (long polling)")
    try:
        await stop.wait()
    finally:
        await stop_app(app)
    log.info("bot stopped")


async def _console(services: Services) -> None:
    request = ConsoleRequest(sys.stdout, os.environ.get("USER", "").capitalize() or "there")
    app = build_application(services, CONSOLE_TOKEN, request=request)
    request.settled = app.update_queue.join
    request.interactive = sys.stdin.isatty()
    print(
        "Ankle bot, console mode (no TELEGRAM_BOT_TOKEN set). Type a message and press Enter; "
        "type a number to press a button; Ctrl-D to quit.\nTry /start.",
        flush=True,
    )
    request.read_from(sys.stdin)
    stop = _stop_on_signals()
    end_of_input = asyncio.create_task(request.eof.wait())
    end_of_input.add_done_callback(lambda _: stop.set())
    await serve(app, stop, poll_interval=0, timeout=10)
    end_of_input.cancel()
