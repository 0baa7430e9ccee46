"""The real Application, long-polling a fake Bot API server over HTTP, on a real database.

`Chat.send()` / `Chat.press()` push an update and return once the bot has fetched it and
finished handling it (PTB marks the update done in its queue), so tests need no sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from telegram.ext import Application

from bot.app import build_application, start, stop
from bot.config import Reminders
from bot.knowledge import Knowledge
from bot.services import Services
from bot.storage.repository import Repository
from tests.fake_telegram import FakeTelegram, FakeUser, Message

SENDS = {"sendmessage", "editmessagetext", "editmessagereplymarkup", "sendphoto", "senddocument"}


@dataclass
class Turn:
    """What one user action produced in that chat: new or edited messages, the button toast."""

    messages: list[Message] = field(default_factory=list)
    toast: str | None = None

    @property
    def texts(self) -> list[str]:
        return [m.text or "" for m in self.messages]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def last(self) -> Message:
        return self.messages[-1]

    def with_button(self, label: str) -> Message:
        return next(m for m in reversed(self.messages) if label in m.button_texts)


class Chat:
    def __init__(self, bot: RunningBot, user: FakeUser) -> None:
        self.bot, self.user = bot, user

    async def _turn(self, update_id: int) -> Turn:
        fake = self.bot.fake
        start = self.bot.seen
        await fake.wait_confirmed(update_id)
        await self.bot.app.update_queue.join()
        touched = [
            c.result["message_id"]
            for c in fake.calls[start:]
            if c.method.lower() in SENDS
            and c.ok
            and isinstance(c.result, dict)
            and c.params.get("chat_id") == self.user.chat_id
        ]
        self.bot.seen = len(fake.calls)
        visible = {m.message_id: m for m in fake.messages(self.user.chat_id)}
        answer = fake.answer_for(update_id)
        return Turn(
            [visible[i] for i in dict.fromkeys(touched) if i in visible],
            answer.text if answer else None,
        )

    async def send(self, text: str, *, sent_at: datetime | None = None) -> Turn:
        when = None if sent_at is None else int(sent_at.timestamp())
        return await self._turn(self.user.send(text, sent_at=when))

    async def press(self, label: str, message: Message | None = None) -> Turn:
        """Press the newest button with this label (or the one on `message`)."""
        if message is None:
            message = next(
                m
                for m in reversed(self.bot.fake.messages(self.user.chat_id))
                if label in m.button_texts
            )
        return await self._turn(self.user.press(message, label))

    async def press_data(self, message_id: int, data: str) -> Turn:
        return await self._turn(self.user.press_data(message_id, data))

    async def sticker(self) -> Turn:
        return await self._turn(self.user.send_sticker())


@dataclass
class RunningBot:
    fake: FakeTelegram
    app: Application  # type: ignore[type-arg]
    repo: Repository
    clock: FakeClock
    seen: int = 0

    @property
    def services(self) -> Services:
        return self.app.bot_data["services"]

    def chat(self, user_id: int = 42, name: str = "Ann") -> Chat:
        return Chat(self, self.fake.user(user_id, name))


async def start_bot(fake: FakeTelegram, services: Services) -> Application:  # type: ignore[type-arg]
    app = build_application(services, fake.token, base_url=fake.base_url)
    await start(app, poll_interval=0, timeout=5)
    return app


async def stop_bot(app: Application) -> None:  # type: ignore[type-arg]
    await stop(app)


class FakeClock:
    """Time that tests move by hand; the dispatcher and handlers read it, nothing sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# A Sunday at noon UTC, outside any DST change.
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEST_REMINDERS = Reminders(tick=0.02, lease=timedelta(seconds=30))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(
    fake: FakeTelegram, repo: Repository, knowledge: Knowledge, clock: FakeClock
) -> AsyncIterator[RunningBot]:
    app = await start_bot(fake, Services.on(repo.engine, knowledge, TEST_REMINDERS, clock))
    yield RunningBot(fake, app, repo, clock)
    await stop_bot(app)


async def until(check: Callable[[], Awaitable[object]], timeout: float = 5.0) -> object:
    """Poll an async condition (e.g. a database row the dispatcher writes after sending)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return value
