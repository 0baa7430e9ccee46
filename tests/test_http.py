"""bot/http.py: the failures PTB and our error handling expect, without the token in them.

(Successful calls, forms and file uploads are covered by every end-to-end test.)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram.error import NetworkError, TimedOut

from bot.http import AiohttpRequest

TOKEN = "123456:SECRET-token-part"


@pytest.fixture
async def slow_server() -> AsyncIterator[str]:
    """A Bot API that takes two seconds to answer."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/bot"
    await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_slow_answer_is_a_timeout(slow_server: str) -> None:
    request = AiohttpRequest(read_timeout=0.2, write_timeout=0)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.post(f"{slow_server}{TOKEN}/getMe")
    finally:
        await request.shutdown()


async def test_no_server_is_a_network_error_without_the_token() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/bot"
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"{url}{TOKEN}/getMe")
    finally:
        await request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(caught.value)


async def test_a_request_before_initialize_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request("http://127.0.0.1:9/bot/getMe", "POST")
