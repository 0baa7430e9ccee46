"""Bot API requests over aiohttp instead of PTB's default httpx.

Measured with `python -m bench.e2e_bench`: under load, httpx's connection pool spends most of a
reply's CPU checking its idle connections, and the bot fell far behind an echo bot. aiohttp
(already here for the webhook server) parses HTTP in C and keeps its pool cheap.
PTB documents `BaseRequest` as the way to bring another HTTP library.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """One aiohttp session and its connection pool; errors become PTB's, so PTB's retries and
    our error handling see what they would see with httpx. The token is in every URL, so no
    URL goes into an error message."""

    def __init__(
        self,
        connections: int = 20,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 30.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = _value(read_timeout, self._read_timeout)
        write = _value(write_timeout, self._write_timeout)
        connect = _value(connect_timeout, self._connect_timeout)
        pool = _value(pool_timeout, self._pool_timeout)
        # aiohttp's `connect` covers waiting for a pooled connection plus opening one
        waiting = None if pool is None or connect is None else pool + connect
        # aiohttp has no write timeout: a request body is small, so reading bounds it too
        sock_read = None if read is None else read + (write or 0)
        timeout = aiohttp.ClientTimeout(connect=waiting, sock_connect=connect, sock_read=sock_read)
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:  # the class name only: messages may carry the URL
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error


def _value(given: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(given, DefaultValue) else given


def _body(data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields as PTB's httpx request sends them; multipart when there are files."""
    if data is None:
        return None
    fields = data.json_parameters
    files = data.multipart_data
    if not files:
        return fields or None
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mime) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form
