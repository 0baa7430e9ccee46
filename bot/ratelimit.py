"""Keep outgoing Bot API requests under Telegram's flood limits.

Telegram allows about 30 messages/s overall and 1 message/s per chat. PTB's ``AIORateLimiter``
has no limit for private chats and freezes every request on a single 429, which would stall a
whole reminder broadcast because of one chat.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

__all__ = ["TelegramRateLimiter"]

Result = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, Result]]

#: Below this many known chats, pruning is not worth a scan.
_MIN_PRUNE_AT = 256


@dataclass(slots=True)
class _Chat:
    """One chat's turn: the lock keeps its messages in order (and bulk ones spaced out)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    free_at: float = float("-inf")  # per-chat spacing, for bulk sends
    paused_until: float = float("-inf")  # after a 429 on this chat, for every send
    users: int = 0


class TelegramRateLimiter(BaseRateLimiter[object]):
    """Space out chat-directed requests overall and per chat; handle 429s per chat.

    A request with a ``chat_id`` first waits for its chat's turn (so a busy chat only delays
    itself), then takes the next slot of the overall schedule, handed out first come, first
    served. Requests without a chat are not throttled, only held back by a global 429.
    ``rate_limit_args={"bulk": True}`` decides per-chat spacing and retries (process_request).
    """

    def __init__(
        self,
        overall_per_second: float = 30,
        per_chat_per_second: float = 1,
        max_retries: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if overall_per_second <= 0 or per_chat_per_second <= 0:
            raise ValueError("rates must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._interval = 1 / overall_per_second
        self._chat_interval = 1 / per_chat_per_second
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")
        self._chats: dict[int | str, _Chat] = {}
        self._prune_at = _MIN_PRUNE_AT
        #: Chat-directed requests Telegram accepted.
        self.sent = 0
        #: Requests repeated after a 429.
        self.retried = 0

    async def initialize(self) -> None:
        """Nothing to set up: chat state is created on demand."""

    async def shutdown(self) -> None:
        """Nothing to release: the limiter runs no background tasks."""

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: object | None,
    ) -> Result:
        """Send once it is this chat's and the bot's turn.

        ``rate_limit_args={"bulk": True}`` marks unattended sends (reminders): they keep the
        per-chat spacing and a 429 is raised at once for the caller to reschedule. Replies to
        a user skip the per-chat spacing (a reply may be two messages; the user is waiting)
        and retry 429s up to ``max_retries``; both share the overall limit.
        """
        bulk = isinstance(rate_limit_args, dict) and rate_limit_args.get("bulk") is True
        chat_id = data.get("chat_id")
        if chat_id is None:
            return await self._attempt(None, callback, args, kwargs, bulk=bulk)
        self._prune()
        key = _chat_key(chat_id)
        chat = self._chats.get(key)
        if chat is None:
            chat = self._chats[key] = _Chat()
        chat.users += 1  # no await since the lookup, so _prune cannot drop it in between
        try:
            async with chat.lock:
                result = await self._attempt(chat, callback, args, kwargs, bulk=bulk)
        finally:
            chat.users -= 1
        self.sent += 1
        return result

    async def _attempt(
        self,
        chat: _Chat | None,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        *,
        bulk: bool = False,
    ) -> Result:
        retries = 0
        while True:
            await self._wait_turn(chat, spaced=bulk)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                until = self._clock() + _retry_seconds(exc)
                # Telegram does not say what a 429 is about: blame the chat if there is one.
                if chat is None:
                    self._paused_until = max(self._paused_until, until)
                else:
                    chat.paused_until = max(chat.paused_until, until)
                if bulk or retries >= self._max_retries:
                    raise
                retries += 1
                self.retried += 1

    async def _wait_turn(self, chat: _Chat | None, *, spaced: bool) -> None:
        # The chat's turn comes first so that waiting for it holds no overall slot.
        if chat is not None:
            turn = max(chat.free_at, chat.paused_until) if spaced else chat.paused_until
            if (delay := turn - self._clock()) > 0:
                await self._sleep(delay)
        while True:
            now = self._clock()
            at = max(now, self._paused_until)
            if chat is not None:
                at = max(at, self._next_slot)
                self._next_slot = at + self._interval
            if at > now:
                await self._sleep(at - now)
            if self._clock() >= self._paused_until:  # a global 429 may have come meanwhile
                break
        if chat is not None:
            chat.free_at = self._clock() + self._chat_interval

    def _prune(self) -> None:
        """Forget idle chats; the threshold doubles with the live ones, so O(1) amortised."""
        if len(self._chats) < self._prune_at:
            return
        now = self._clock()
        self._chats = {
            k: c
            for k, c in self._chats.items()
            if c.users or c.free_at > now or c.paused_until > now
        }
        self._prune_at = max(_MIN_PRUNE_AT, 2 * len(self._chats))


def _chat_key(chat_id: object) -> int | str:
    """``42`` and ``"42"`` are one chat; an ``@username`` stays a separate key."""
    if isinstance(chat_id, int):
        return chat_id
    try:
        return int(str(chat_id))
    except ValueError:
        return str(chat_id)


def _retry_seconds(exc: RetryAfter) -> float:
    """``retry_after`` is an int or a timedelta depending on PTB_TIMEDELTA; the int warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)
