"""Handle different users' updates side by side, each user's strictly in order.

PTB either handles every update in turn (one slow or flooding user holds up everyone) or all at
once (one user's answers could overtake each other). This processor serialises per user and
runs users concurrently; a user with too many updates waiting has the excess dropped, so a
flood costs that user, not the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)


@dataclass
class _Queue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class PerUserUpdates(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256, backlog: int = 20) -> None:
        super().__init__(max_concurrent_updates)
        self._running = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._backlog = backlog
        self._users: dict[int, _Queue] = {}
        self.dropped = 0

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Overrides the base's semaphore-first order: a user waiting for their own turn must
        not hold one of the slots other users need."""
        key = _user_of(update)
        if key is None:
            async with self._running:
                await coroutine
            return
        queue = self._users.setdefault(key, _Queue())
        if queue.waiting >= self._backlog:
            self.dropped += 1
            if asyncio.iscoroutine(coroutine):
                coroutine.close()
            log.warning("user %s is flooding: update dropped (%d so far)", key, self.dropped)
            return
        queue.waiting += 1
        try:
            async with queue.lock, self._running:
                await coroutine
        finally:
            queue.waiting -= 1
            if queue.waiting == 0:
                del self._users[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _user_of(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_user:
            return update.effective_user.id
        if update.effective_chat:
            return update.effective_chat.id
    return None
