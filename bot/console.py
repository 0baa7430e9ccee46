"""Chat with the bot in a terminal: the real Application, with the Bot API answered locally.

`ConsoleRequest` stands in for PTB's HTTP client. Sent messages are printed, inline buttons
become numbered choices, and each typed line becomes an Update, so every handler runs exactly
as it does on Telegram. A line is only turned into an update once the previous one has been
fully handled, so "2" always means button 2 of what is on screen.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from telegram.request import BaseRequest, RequestData

from bot.config import PROJECT_DIR

TOKEN = "1:console"
USER_ID = 1
_TAG = re.compile(r"<[^>]+>")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(@\w+)?")


def plain(text: str) -> str:
    """Telegram HTML as a terminal shows it."""
    return html.unescape(_TAG.sub("", text))


class ConsoleRequest(BaseRequest):
    def __init__(self, out: TextIO, user_name: str, files_dir: Path | None = None) -> None:
        self._out = out
        self._user = {"id": USER_ID, "is_bot": False, "first_name": user_name}
        self._chat = {"id": USER_ID, "type": "private", "first_name": user_name}
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._files_dir = files_dir or PROJECT_DIR / "data" / "console"
        self._ids = itertools.count(1)
        self._messages: dict[int, dict[str, Any]] = {}
        self._choices: list[tuple[str, str]] = []
        self._choices_on: int | None = None
        self.settled: Callable[[], Awaitable[None]] | None = None
        self.interactive = False
        self.eof = asyncio.Event()

    # --- input -----------------------------------------------------------------------------
    def read_from(self, stream: TextIO) -> None:
        """A daemon thread reads lines, so a blocked terminal never holds up shutdown."""
        loop = asyncio.get_running_loop()

        def pump() -> None:
            for line in stream:
                loop.call_soon_threadsafe(self._lines.put_nowait, line.rstrip("\r\n"))
            loop.call_soon_threadsafe(self._lines.put_nowait, None)

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()

    async def _next_update(self, timeout: float) -> list[dict[str, Any]]:
        if self.eof.is_set():
            return []
        if self.settled is not None:
            await self.settled()
        if self.interactive and self._lines.empty():
            self._print("> ", end="")
        try:
            line = await asyncio.wait_for(self._lines.get(), timeout) if timeout else None
        except TimeoutError:
            return []
        if line is None:
            if timeout:
                self.eof.set()
            return []
        line = line.strip()
        if not line:
            return []
        if not self.interactive:
            self._print(f"\nyou: {line}")
        return [self._update_for(line)]

    def _update_for(self, line: str) -> dict[str, Any]:
        update_id = next(self._ids)
        choice = self._choice(line)
        if choice is not None and self._choices_on in self._messages:
            self._print(f"  (pressed: {choice[0]})")
            return {
                "update_id": update_id,
                "callback_query": {
                    "id": str(update_id),
                    "from": self._user,
                    "chat_instance": "console",
                    "data": choice[1],
                    "message": self._messages[self._choices_on],
                },
            }
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": self._chat,
            "from": self._user,
            "text": line,
        }
        if command := _COMMAND.match(line):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        return {"update_id": update_id, "message": message}

    def _choice(self, line: str) -> tuple[str, str] | None:
        if line.isdigit() and 1 <= int(line) <= len(self._choices):
            return self._choices[int(line) - 1]
        return next((c for c in self._choices if c[0].casefold() == line.casefold()), None)

    # --- output ----------------------------------------------------------------------------
    def _print(self, text: str, end: str = "\n") -> None:
        self._out.write(text + end)
        self._out.flush()

    def _show(self, message: dict[str, Any], *, edited: bool = False) -> None:
        body = message.get("text") or message.get("caption") or ""
        prefix = "bot (updated): " if edited else "bot: "
        self._print("\n" + prefix + plain(body))
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        buttons = [(b["text"], b.get("callback_data", "")) for row in rows for b in row]
        for n, (label, _) in enumerate(buttons, 1):
            self._print(f"  [{n}] {label}")
        if buttons:
            self._choices, self._choices_on = buttons, message["message_id"]
        elif not edited or self._choices_on == message["message_id"]:
            self._choices, self._choices_on = [], None

    def _store(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        message_id = params.get("message_id") or next(self._ids)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat,
            "from": {"id": 0, "is_bot": True, "first_name": "Ankle bot"},
            **content,
        }
        if markup := params.get("reply_markup"):
            message["reply_markup"] = markup
        self._messages[message_id] = message
        return message

    def _save_file(self, params: dict[str, Any], data: RequestData | None, kind: str) -> str:
        files = data.multipart_data if data and data.contains_files else {}
        for name, (filename, content, _mime) in (files or {}).items():
            self._files_dir.mkdir(parents=True, exist_ok=True)
            path = self._files_dir / f"{int(time.time())}-{filename or name}"
            path.write_bytes(content if isinstance(content, bytes) else content.read())
            return f"[{kind} saved to {path}]"
        return f"[{kind}]"

    # --- the Bot API -----------------------------------------------------------------------
    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float | None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        result = await self._call(name, params, request_data)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    async def _call(self, name: str, params: dict[str, Any], data: RequestData | None) -> Any:
        match name:
            case "getMe":
                return {
                    "id": 0,
                    "is_bot": True,
                    "first_name": "Ankle bot",
                    "username": "ankle_console_bot",
                }
            case "getUpdates":
                return await self._next_update(float(params.get("timeout") or 0))
            case "sendMessage":
                message = self._store(params, text=params["text"])
                self._show(message)
                return message
            case "editMessageText" | "editMessageReplyMarkup":
                old = self._messages.get(int(params["message_id"]), {})
                text = params.get("text", old.get("text", ""))
                message = self._store(params, text=text)
                self._show(message, edited=True)
                return message
            case "sendPhoto" | "sendDocument":
                kind = "picture" if name == "sendPhoto" else "file"
                caption = params.get("caption", "")
                message = self._store(
                    params, caption=f"{self._save_file(params, data, kind)}\n{caption}"
                )
                self._show(message)
                return message
            case "answerCallbackQuery":
                if params.get("text"):
                    self._print(f"  ({params['text']})")
                return True
        return True
