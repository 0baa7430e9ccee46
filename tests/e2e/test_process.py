"""`python -m bot` as an operator runs it: a real process, long polling a Bot API server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

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
