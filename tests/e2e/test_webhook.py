"""Webhook mode in real processes: the secret on every request, and several instances behind one
URL sharing a database (updates alternate between them, a reminder goes out once)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientError, ClientSession, web

from bot.config import ConfigError, Webhook, load_settings
from bot.storage.db import create_engine
from bot.storage.reminders import ReminderStore
from tests.e2e.test_process import start_process
from tests.fake_telegram import SECRET_HEADER, FakeTelegram, FakeUser
from tests.test_cli import run_bot

SECRET = "s3cret_Webhook-token"
SENDS = {"sendmessage", "editmessagetext", "editmessagereplymarkup"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Instance:
    """`python -m bot` in webhook mode on its own port; its log is read as it is written (a
    full pipe would block the bot)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"
        self._log = bytearray()
        assert process.stderr is not None
        self._reader = asyncio.create_task(self._read(process.stderr))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._log += chunk

    @property
    def log(self) -> str:
        return self._log.decode()

    @classmethod
    async def start(
        cls,
        fake: FakeTelegram,
        database_url: str,
        webhook_url: str | None = None,
        port: int | None = None,
        **env: str,
    ) -> Instance:
        port = port or free_port()
        process = await start_process(
            fake,
            database_url,
            WEBHOOK_URL=webhook_url or f"http://127.0.0.1:{port}/telegram",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
            **env,
        )
        return cls(process, port)

    async def healthy(self, timeout: float = 30) -> None:
        async with ClientSession() as session, asyncio.timeout(timeout):
            while True:
                if self.process.returncode is not None:
                    await self._reader
                    raise AssertionError(f"the bot exited: {self.log[-2000:]}")
                with contextlib.suppress(ClientError):
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200 and await response.text() == "ok":
                            return
                await asyncio.sleep(0.05)

    async def stop(self) -> str:
        """SIGTERM, as an orchestrator stops a replica; the whole log."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.exited()

    async def exited(self) -> str:
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            raise
        await self._reader
        return self.log


class RoundRobin:
    """The load balancer in front of the instances: requests go to each in turn, headers kept."""

    HOP_BY_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.handled: Counter[str] = Counter()  # webhook POSTs an instance answered 2xx
        self.refuse = 0  # answer this many next requests 502 (an instance restarting)
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.port = 0

    async def __aenter__(self) -> RoundRobin:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        self._session = ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner and self._session
        await self._session.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session
        upstream = self.upstreams[self._next % len(self.upstreams)]
        self._next += 1
        if self.refuse > 0:
            self.refuse -= 1
            return web.Response(status=502)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in self.HOP_BY_HOP}
        headers["X-Forwarded-For"] = str(request.remote)
        try:
            async with self._session.request(
                request.method, upstream + str(request.rel_url), headers=headers,
                data=await request.read(),
            ) as response:  # fmt: skip
                body = await response.read()
        except ClientError:
            return web.Response(status=502)
        if request.method == "POST" and response.status == 200:
            self.handled[upstream] += 1
        return web.Response(status=response.status, body=body)


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def test_every_request_must_carry_the_secret(
    fake: FakeTelegram, http: ClientSession, tmp_path: Path
) -> None:
    # DEBUG: even PTB's log of the setWebhook parameters must not show the secret.
    bot = await Instance.start(fake, f"sqlite:///{tmp_path / 'bot.db'}", LOG_LEVEL="DEBUG")
    try:
        await bot.healthy()
        [registered] = await fake.wait_for(lambda: fake.calls_to("setWebhook"), timeout=30)
        assert registered.params["url"] == f"{bot.url}/telegram"
        assert registered.params["secret_token"] == SECRET
        assert "callback_query" in registered.params["allowed_updates"]

        fake.user(66, "Eve")
        forged = {
            "update_id": 90001,
            "message": {
                "message_id": 1,
                "date": int(datetime.now(UTC).timestamp()),
                "chat": {"id": 66, "type": "private", "first_name": "Eve"},
                "from": {"id": 66, "is_bot": False, "first_name": "Eve"},
                "text": "/start forged-body",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        endpoint = f"{bot.url}/telegram"
        for headers in ({}, {SECRET_HEADER: "wrong-guess"}, {SECRET_HEADER: SECRET + "x"}):
            async with http.post(endpoint, json=forged, headers=headers) as response:
                assert response.status == 403
        bad_json = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        async with http.post(endpoint, data=b"{not json", headers=bad_json) as response:
            assert response.status == 400
        async with http.get(f"{bot.url}/healthz") as response:
            assert (response.status, await response.text()) == (200, "ok")

        # Telegram's own delivery, with the secret, is handled.
        ann = fake.user(7, "Ann")
        update_id = ann.send("/start")
        await fake.wait_messages(7, 1, timeout=10)
        assert [d.status for d in fake.webhook_deliveries if d.update_id == update_id] == [200]
        await fake.settle(quiet=0.3)
        assert fake.messages(66) == [], "a refused update was processed"
    finally:
        log = await bot.stop()
    assert bot.process.returncode == 0, log[-2000:]
    assert log.count("webhook request refused (no secret) from 127.0.0.1") == 1
    assert log.count("webhook request refused (wrong secret) from 127.0.0.1") == 2
    assert log.count("webhook request refused (not an update) from 127.0.0.1") == 1
    assert "bot stopped" in log and "Traceback" not in log
    for private in (SECRET, "wrong-guess", "forged-body", fake.token.split(":", 1)[1]):
        assert private not in log
    assert fake.calls_to("deleteWebhook") == []  # other instances may still be serving


class Steps:
    """One user action, then wait until the bot's answer (new or edited) mentions `expected`:
    the turn's last message, sent once its state is saved, as the next update may be handled by
    the other instance."""

    def __init__(self, fake: FakeTelegram, user: FakeUser) -> None:
        self.fake, self.user = fake, user

    async def __call__(self, act: Callable[[], int], expected: str) -> None:
        mark = len(self.fake.calls)
        act()
        await self.fake.wait_for(
            lambda: any(
                c.ok
                and c.method.lower() in SENDS
                and c.params.get("chat_id") == self.user.chat_id
                and expected in json.dumps(c.params, ensure_ascii=False)
                for c in self.fake.calls[mark:]
            ),
            timeout=10,
            message=f"an answer with {expected!r}",
        )

    async def press(self, label: str, expected: str) -> None:
        chat = self.user.chat_id
        message = next(m for m in reversed(self.fake.messages(chat)) if label in m.button_texts)
        await self(lambda: self.user.press(message, label), expected)


async def make_due(database_url: str, user_id: int) -> None:
    """Move the user's next reminder a minute into the past, straight in the database."""
    engine = create_engine(database_url)
    store = ReminderStore(engine)
    saved = await store.get(user_id)
    assert saved is not None and saved.next_due is not None
    now = datetime.now(UTC)
    await store.save(user_id, saved.chat_id, saved.schedule, now - timedelta(minutes=1))
    await engine.dispose()


def reminders(fake: FakeTelegram, chat_id: int) -> int:
    return sum(
        1
        for c in fake.calls_to("sendMessage")
        if c.ok and c.params["chat_id"] == chat_id and "Today's session" in c.params["text"]
    )


async def test_several_instances_behind_one_url_share_the_work(
    fake: FakeTelegram, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share a database on PostgreSQL; SQLite is single-instance")
    fast = {"REMINDER_TICK_SECONDS": "0.2"}
    ports = [free_port(), free_port()]
    async with RoundRobin([f"http://127.0.0.1:{p}" for p in ports]) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/telegram"
        instances = await asyncio.gather(
            *(Instance.start(fake, database_url, url, port, **fast) for port in ports)
        )
        try:
            await asyncio.gather(*(i.healthy() for i in instances))
            await fake.wait_for(lambda: len(fake.calls_to("setWebhook")) == 2, timeout=10)
            user = fake.user(7, "Bea")
            step = Steps(fake, user)
            proxy.refuse = 1  # Telegram retries, and the retry reaches the other instance
            await step(lambda: user.send("/assess"), "Both the same")
            first = fake.webhook_deliveries[0].update_id
            assert [d.status for d in fake.webhook_deliveries if d.update_id == first] == [502, 200]
            await step.press("Both the same", "big toe from the wall")
            await step(lambda: user.send("7,5 cm"), "Yes, heel stayed down")
            await step.press("Yes, heel stayed down", "Back of ankle (Achilles)")
            await step.press("Back of ankle (Achilles)", "Achilles release (ball)")
            assert "Both legs: 7.5 cm" in "\n".join(m.text or "" for m in fake.messages(7))

            await step(lambda: user.send("/reminders"), "Turn on daily reminders")
            await step.press("Turn on daily reminders", "Which time zone are you in?")
            # "Time zone: Europe/Berlin." comes first; wait for the question saved after it.
            await step(lambda: user.send("berlin"), "18:00")
            await step(lambda: user.send("7:30"), "Every day")
            await step.press("Every day", "Next one:")
            assert all(proxy.handled[i.url] >= 3 for i in instances), proxy.handled
            assert sum(not d.ok for d in fake.webhook_deliveries) == 1

            await make_due(database_url, user_id=7)
            await fake.wait_for(lambda: reminders(fake, 7) >= 1, timeout=10, message="reminder")
            await fake.settle(quiet=1.0)  # several ticks of both dispatchers
            assert reminders(fake, 7) == 1
        finally:
            logs = await asyncio.gather(*(i.stop() for i in instances))
    assert all(i.process.returncode == 0 for i in instances), [log[-1000:] for log in logs]
    assert all("bot stopped" in log and "Traceback" not in log for log in logs), logs


TOKEN = {"TELEGRAM_BOT_TOKEN": "123456789:AAHfakeTokenForAnkleBotTests-012345"}


def test_a_webhook_without_its_secret_does_not_start(tmp_path: Path) -> None:
    done = run_bot(tmp_path, [], **TOKEN, WEBHOOK_URL="https://bot.example.org/hook")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "WEBHOOK_SECRET is required with WEBHOOK_URL" in done.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBHOOK_SECRET": "has spaces in it"}, "WEBHOOK_SECRET is not valid"),
        ({"WEBHOOK_SECRET": "x" * 257}, "WEBHOOK_SECRET is not valid"),
        ({"WEBHOOK_URL": "http://bot.example.org/hook"}, "WEBHOOK_URL must be an https URL"),
        ({"WEBHOOK_URL": "https://bot.example.org:x/"}, "WEBHOOK_URL must be an https URL"),
        ({"WEBHOOK_PORT": "70000"}, "WEBHOOK_PORT must be a port number"),
        ({"TELEGRAM_BOT_TOKEN": ""}, "WEBHOOK_URL needs TELEGRAM_BOT_TOKEN"),
    ],
)
def test_bad_webhook_settings_are_named(env: dict[str, str], message: str) -> None:
    base = {**TOKEN, "WEBHOOK_URL": "https://bot.example.org/hook", "WEBHOOK_SECRET": "ok"}
    with pytest.raises(ConfigError, match=message) as raised:
        load_settings(base | env)
    assert "has spaces" not in str(raised.value)  # a secret, even a bad one, is not echoed


def test_webhook_settings_and_their_defaults() -> None:
    local = {**TOKEN, "WEBHOOK_URL": "http://localhost:8080/tg", "WEBHOOK_SECRET": "A-z_09"}
    assert load_settings(local).webhook == Webhook("http://localhost:8080/tg", "A-z_09")
    assert load_settings(TOKEN).webhook is None  # long polling
    chosen = load_settings(local | {"WEBHOOK_LISTEN": "0.0.0.0", "WEBHOOK_PORT": "9000"}).webhook
    assert chosen is not None and (chosen.listen, chosen.port, chosen.path) == (
        "0.0.0.0",
        9000,
        "/tg",
    )
    assert "A-z_09" not in repr(chosen)


async def test_a_taken_port_is_one_line_and_exit_2(fake: FakeTelegram, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        bot = await Instance.start(fake, f"sqlite:///{tmp_path / 'bot.db'}", port=port)
        log = await bot.exited()
    assert bot.process.returncode == 2
    [line] = [line for line in log.splitlines() if line.startswith("ankle-bot:")]
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line
    assert "Traceback" not in log
