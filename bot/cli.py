"""`python -m bot` / `ankle-bot`: start the bot on Telegram (long polling, or a webhook when
WEBHOOK_URL is set), or in the terminal without a token."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence

from dotenv import dotenv_values
from sqlalchemy.exc import SQLAlchemyError
from telegram.ext import Application

from bot import check, webhook
from bot.app import build_application, start
from bot.app import stop as stop_app
from bot.config import PROJECT_DIR, ConfigError, Settings, load_settings
from bot.console import TOKEN as CONSOLE_TOKEN
from bot.console import ConsoleRequest
from bot.knowledge import KnowledgeError, load_knowledge
from bot.logs import RedactingFormatter, setup_logging
from bot.services import Services
from bot.storage.db import create_engine, migrate

log = logging.getLogger("bot")


def environment() -> dict[str, str]:
    """The process environment wins over `.env`, as operators expect."""
    dotenv = {k: v for k, v in dotenv_values(PROJECT_DIR / ".env").items() if v is not None}
    return {**dotenv, **os.environ}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ankle-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    faq = commands.add_parser("faq", help="the FAQ's curation tools")
    faq.add_argument("action", choices=["review"], help="what users asked that the FAQ missed")
    commands.add_parser("check", help="check configuration, database, migrations, knowledge")
    args = parser.parse_args(argv)
    env = environment()
    if args.command == "check":
        fine, wrong = asyncio.run(check.problems(env))
        for line in fine:
            print(f"ok       {line}")
        for line in wrong:
            print(f"PROBLEM  {line}", file=sys.stderr)
        return 1 if wrong else 0
    try:
        settings = load_settings(env)
        knowledge = load_knowledge()
    except (ConfigError, KnowledgeError) as e:
        print(f"ankle-bot: {e}", file=sys.stderr)
        return 2
    setup_logging(_log_level(settings, env), settings.token)
    if settings.webhook:  # PTB logs setWebhook's parameters, the secret among them, at DEBUG
        hide = RedactingFormatter([settings.token or "", settings.webhook.secret])
        for handler in logging.getLogger().handlers:
            handler.setFormatter(hide)
    engine = create_engine(settings.database_url)
    services = Services.on(engine, knowledge, settings.reminders, admins=settings.admin_ids)
    if args.command == "faq":
        return asyncio.run(_with_database(services, _faq_review))
    try:
        return asyncio.run(_with_database(services, lambda s: _run(settings, s)))
    except ConfigError as e:  # found only on start-up, e.g. the webhook port is taken
        print(f"ankle-bot: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _log_level(settings: Settings, env: Mapping[str, str]) -> str:
    """In the console, log lines would interleave with the chat: warnings only, unless asked."""
    return "WARNING" if settings.console and "LOG_LEVEL" not in env else settings.log_level


async def _with_database(services: Services, work: Callable[[Services], Awaitable[int]]) -> int:
    """Migrate to head first; a database that cannot be reached is one line and exit 2."""
    engine = services.repo.engine
    try:
        await migrate(engine)
    except (SQLAlchemyError, OSError) as e:
        where = engine.url.render_as_string(hide_password=True)
        problem = e.__class__.__name__
        print(f"ankle-bot: cannot open the database {where}: {problem}", file=sys.stderr)
        await engine.dispose()
        return 2
    try:
        return await work(services)
    finally:
        await engine.dispose()


async def _run(settings: Settings, services: Services) -> int:
    if settings.console:
        await _console(services)
    else:
        assert settings.token
        app = build_application(services, settings.token, base_url=settings.api_base_url)
        if settings.webhook:
            await webhook.serve(app, _stop_on_signals(), settings.webhook)
        else:
            await serve(app, _stop_on_signals())
    return 0


async def _faq_review(services: Services) -> int:
    review = await services.faq_log.review()
    sections = (
        (
            "Questions the FAQ could not answer (most asked first):",
            [f"{n:5d}  {q}" for q, n in review.unmatched],
        ),
        (
            'Phrasings users confirmed through "Did you mean" (add them to knowledge/faq.toml):',
            [f"{n:5d}  {q}  ->  {e}" for q, e, n in review.confirmed],
        ),
        (
            "Feedback per entry (helpful / not helpful):",
            [f"{h:5d} / {u:<5d} {e}" for e, h, u in review.feedback],
        ),
    )
    for title, lines in sections:
        print(title, *(lines or ["    (none yet)"]), "", sep="\n")
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
