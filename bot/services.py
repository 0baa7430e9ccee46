"""What every handler needs, kept in `bot_data` so handlers stay plain functions."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import CallbackContext

from bot.knowledge import Knowledge
from bot.storage.repository import Repository


@dataclass(frozen=True)
class Services:
    knowledge: Knowledge
    repo: Repository


def services(context: CallbackContext) -> Services:  # type: ignore[type-arg]
    return context.bot_data["services"]
