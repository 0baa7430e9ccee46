"""What every handler needs, kept in `bot_data` so handlers stay plain functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import CallbackContext

from bot.config import Reminders
from bot.knowledge import Knowledge
from bot.storage.curation import FaqLog
from bot.storage.models import utcnow
from bot.storage.reminders import ReminderStore
from bot.storage.repository import Repository


@dataclass(frozen=True)
class Services:
    knowledge: Knowledge
    repo: Repository
    reminders: ReminderStore
    faq_log: FaqLog
    config: Reminders = field(default_factory=Reminders)
    clock: Callable[[], datetime] = utcnow  # tests move time instead of sleeping
    admins: frozenset[int] = frozenset()

    @classmethod
    def on(
        cls,
        engine: AsyncEngine,
        knowledge: Knowledge,
        config: Reminders | None = None,
        clock: Callable[[], datetime] = utcnow,
        admins: frozenset[int] = frozenset(),
    ) -> Services:
        return cls(
            knowledge,
            Repository(engine),
            ReminderStore(engine),
            FaqLog(engine),
            config or Reminders(),
            clock,
            admins,
        )


def services(context: CallbackContext) -> Services:  # type: ignore[type-arg]
    return context.bot_data["services"]
