"""`python -m bot` as an operator runs it: a real process, long polling a Bot API server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.core.schedule import Schedule
from bot.storage.db import create_engine, migrate
from bot.storage.reminders import ReminderStore
from tests.fake_telegram import FakeTelegram


async def start_process(
    fake: FakeTelegram, database_url: str, **env: str
) -> asyncio.subprocess.Process:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    environment |= {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        **env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_an_assessment_over_long_polling_in_a_real_process(
    fake: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    process = await start_process(fake, database_url)
    try:
        user = fake.user(7, "Bea")
        user.send("/assess")
        [_, mode] = await fake.wait_messages(7, 2, timeout=30)
        user.press(mode, "Both the same")
        await fake.wait_messages(7, 3)
        user.send("7,5 cm")
        heel = (await fake.wait_messages(7, 4))[-1]
        user.press(heel, "Yes, heel stayed down")
        feel = (await fake.wait_messages(7, 5))[-1]
        user.press(feel, "Back of ankle (Achilles)")
        messages = await fake.wait_messages(7, 7)
        assert "Both legs: 7.5 cm" in (messages[-2].text or "")
        assert "★ Achilles release (ball): 1-3 minutes per leg" in (messages[-1].text or "")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    log = err.decode()
    assert process.returncode == 0, log
    assert "bot stopped" in log
    secret = fake.token.split(":", 1)[1]
    assert secret not in log and secret not in out.decode()
    assert "7,5 cm" not in log  # message text stays out of the log


async def seed_due_reminders(database_url: str, fake: FakeTelegram, users: range) -> None:
    """Reminders that fell due a minute ago, written straight into the bot's database."""
    engine = create_engine(database_url)
    await migrate(engine)
    store = ReminderStore(engine)
    now = datetime.now(UTC)
    schedule = Schedule(time(7, 30), "Europe/Berlin")
    for user_id in users:
        fake.user(user_id, f"U{user_id}")
        await store.save(user_id, user_id, schedule, now - timedelta(minutes=1))
    await engine.dispose()


def reminder_counts(fake: FakeTelegram, users: range) -> Counter[int]:
    return Counter(
        c.params["chat_id"]
        for c in fake.calls_to("sendMessage")
        if c.ok and c.params["chat_id"] in users and "Today's session" in c.params["text"]
    )


FAST = {"SEND_RATE_PER_SECOND": "400", "REMINDER_TICK_SECONDS": "0.2"}


async def test_a_killed_dispatcher_loses_nothing(fake: FakeTelegram, database_url: str) -> None:
    users = range(1000, 1300)
    await seed_due_reminders(database_url, fake, users)
    fake.latency = 0.01  # keep sends in flight when the process dies
    first = await start_process(fake, database_url, **FAST, REMINDER_LEASE_SECONDS="2")
    await fake.wait_for(lambda: sum(reminder_counts(fake, users).values()) >= 60, timeout=30)
    first.kill()  # SIGKILL: no clean-up, leases are left behind
    await first.wait()
    sent_before = sum(reminder_counts(fake, users).values())
    assert sent_before < len(users), "killed too late to prove anything"
    second = await start_process(fake, database_url, **FAST, REMINDER_LEASE_SECONDS="2")
    try:
        await fake.wait_for(lambda: set(reminder_counts(fake, users)) == set(users), timeout=60)
        await fake.settle(quiet=0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.communicate(), 30)
    counts = reminder_counts(fake, users)
    duplicates = [chat for chat, n in counts.items() if n > 1]
    assert max(counts.values()) <= 2
    assert len(duplicates) <= 100  # at most one batch was in flight when it died
    assert second.returncode == 0


async def test_several_instances_send_each_reminder_exactly_once(
    fake: FakeTelegram, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share a database on PostgreSQL; SQLite is single-instance")
    users = range(2000, 2600)
    await seed_due_reminders(database_url, fake, users)
    fake.latency = 0.002
    processes = [await start_process(fake, database_url, **FAST) for _ in range(3)]
    try:
        await fake.wait_for(lambda: set(reminder_counts(fake, users)) == set(users), timeout=60)
        await fake.settle(quiet=0.5)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*(p.communicate() for p in processes))
    counts = reminder_counts(fake, users)
    assert set(counts.values()) == {1}, Counter(counts.values())
    assert all(p.returncode == 0 for p in processes), [err.decode()[-500:] for _, err in results]
