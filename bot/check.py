"""`ankle-bot check`: everything a deployment needs, checked without changing anything."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, load_settings
from bot.knowledge import KnowledgeError, load_knowledge
from bot.storage.db import create_engine, schema_revision


async def problems(env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(what is fine, what is wrong), one line each, in the order an operator fixes them."""
    fine: list[str] = []
    wrong: list[str] = []
    try:
        knowledge = load_knowledge()
        counts = f"{len(knowledge.exercises)} exercises, {len(knowledge.faq.entries)} FAQ entries"
        fine.append(f"knowledge: {counts}")
    except KnowledgeError as e:
        wrong.append(f"knowledge: {e}")
    try:
        settings = load_settings(env)
    except ConfigError as e:
        wrong.append(f"configuration: {e}")
        return fine, wrong
    mode = (
        "console (no token)"
        if settings.console
        else f"Telegram, webhook at {settings.webhook.url}"
        if settings.webhook
        else "Telegram, long polling"
    )
    fine.append(f"configuration: {mode}")
    engine = create_engine(settings.database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        revision, head = await schema_revision(engine)
    except (SQLAlchemyError, OSError) as e:
        wrong.append(f"database: cannot connect to {where}: {e.__class__.__name__}")
    else:
        fine.append(f"database: {where} reachable")
        if revision != head:
            wrong.append(
                f"database: schema at {revision or 'nothing'}, code needs {head}: "
                "start the bot once: it migrates on start-up"
            )
        else:
            fine.append(f"database: schema at head ({head})")
    finally:
        await engine.dispose()
    return fine, wrong
