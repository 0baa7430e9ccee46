"""A fake Telegram Bot API server for end-to-end tests and benchmarks.

The real python-telegram-bot ``Application`` talks HTTP to this server exactly as it would to
api.telegram.org, so handlers, keyboards, jobs and error paths run unmodified::

    async with FakeTelegram() as fake:
        app = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .build()
        )
        ann = fake.user(42, "Ann")
        update_id = ann.send("/start")
        ...  # start polling, then
        await fake.wait_delivered(update_id)
        await fake.wait_for(lambda: fake.messages(42))

Wire format, as PTB sends it (see ``telegram/request/_requestparameter.py``): POST to
``{base_url}{token}/{method}``, form-encoded, or multipart when a file is uploaded. String
values are sent as they are; everything else (ints, bools, reply_markup, entities, lists) is
JSON-encoded into the form value. Answers are ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``; PTB picks the
exception class from the HTTP status (400 BadRequest, 401/404 InvalidToken, 403 Forbidden,
409 Conflict, other codes NetworkError) and raises RetryAfter whenever
``parameters.retry_after`` is present.

Webhooks: after ``setWebhook`` with a URL, getUpdates answers 409 and the fake POSTs each update
as JSON to that URL, as Telegram does: one at a time and in order, with the
``X-Telegram-Bot-Api-Secret-Token`` header when a ``secret_token`` was set, retrying the same
update after a short back-off until it is answered 2xx. Every attempt is recorded in
``webhook_deliveries``. Unlike Telegram, plain http is accepted on the loopback (no certificate
in tests). ``deleteWebhook`` goes back to getUpdates; undelivered updates stay queued.

Everything runs on the test's event loop: call the sync helpers (``user().send()`` etc.) from
that loop, not from other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_USERNAME",
    "DEFAULT_TOKEN",
    "SECRET_HEADER",
    "Call",
    "CallbackAnswer",
    "FakeTelegram",
    "FakeUser",
    "Message",
    "UploadedFile",
    "WebhookDelivery",
]

_LOG = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:AAHfakeTokenForAnkleBotTests-012345"
BOT_USERNAME = "ankle_test_bot"
BOT_FIRST_NAME = "Ankle Test Bot"

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{35}$")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LOOPBACK_URL_RE = re.compile(r"^http://(?:127\.0\.0\.1|localhost|\[::1\])(?:[:/]|$)")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram's retry back-off for a failing webhook, shortened for tests (seconds).
_WEBHOOK_BACKOFF = (0.05, 1.0)

#: Update types Telegram sends when ``allowed_updates`` was never set (or set to []).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_MESSAGE_LIMIT = 4096
_CAPTION_LIMIT = 1024
_CALLBACK_TEXT_LIMIT = 200

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

#: Parameters whose form value is a plain string even if it looks like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "currency",
        "custom_title",
        "description",
        "document",
        "emoji",
        "file_id",
        "first_name",
        "foursquare_id",
        "inline_message_id",
        "inline_query_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "payload",
        "phone_number",
        "photo",
        "query",
        "question",
        "secret_token",
        "short_description",
        "sticker",
        "text",
        "thumbnail",
        "title",
        "url",
        "vcard",
        "video",
        "video_note",
        "voice",
    }
)

_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_BUTTON_URL_RE = re.compile(
    r"^(?:(?:https?|tg)://\S+|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+(?:/\S*)?)$"
)
_BOT_COMMAND_RE = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_SETTABLE_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")

# A 1x1 JPEG and a minimal Ogg page: enough for "the user sent a photo / voice note".
_TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7"
    "e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)
_TINY_OGG = b"OggS\x00\x02" + bytes(20)

_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}
_RAW_MESSAGE_UPDATES = frozenset(
    {"message", "edited_message", "channel_post", "edited_channel_post", "business_message"}
)
_MESSAGE_KINDS = (
    "text",
    "photo",
    "document",
    "sticker",
    "voice",
    "audio",
    "video",
    "animation",
    "video_note",
    "location",
    "contact",
)


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class UploadedFile:
    """A file part of a multipart request, kept so tests can check what the bot uploaded."""

    filename: str | None
    content: bytes
    content_type: str | None


@dataclass(slots=True)
class Call:
    """One HTTP request to the fake, recorded when its response is ready.

    ``params`` holds the decoded parameters (JSON-encoded fields such as ``reply_markup`` are
    decoded to dicts/lists, ``chat_id`` to int). ``status`` is the HTTP status returned (0 if
    the client went away first); ``result`` is the ``result`` of a successful answer and
    ``description`` the error text of a failed one.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    time: float
    status: int = 0
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        """Whether Telegram would have said ``"ok": true``."""
        return 200 <= self.status < 300


@dataclass(slots=True)
class Message:
    """A snapshot of a message as the user sees it (edits applied).

    ``text`` is the text or caption after markup parsing (what is displayed), ``source`` the
    text exactly as the bot sent it (with HTML/Markdown). ``buttons`` are the inline keyboard
    rows as ``(text, callback_data or url)``; ``reply_keyboard`` the rows of a reply keyboard
    sent with the message. ``raw`` is the Message object as Telegram returns it.
    """

    message_id: int
    chat_id: int
    kind: str
    text: str | None
    source: str | None
    parse_mode: str | None
    buttons: list[list[tuple[str, str | None]]]
    reply_keyboard: list[list[str]] | None
    photo: bytes | None
    document: bytes | None
    document_name: str | None
    edited: bool
    from_bot: bool
    raw: dict[str, Any]

    @property
    def button_texts(self) -> list[str]:
        """Inline button labels in reading order."""
        return [text for row in self.buttons for text, _ in row]

    @property
    def entities(self) -> list[dict[str, Any]]:
        """The text or caption entities Telegram derived from the markup."""
        return list(self.raw.get("entities") or self.raw.get("caption_entities") or [])


@dataclass(slots=True)
class WebhookDelivery:
    """One POST of an update to the webhook: ``status`` 0 when no HTTP answer came (refused
    connection, timeout), with the reason in ``error``."""

    update_id: int
    url: str
    status: int
    error: str | None
    time: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(slots=True)
class CallbackAnswer:
    """What the bot answered to a callback query (the toast / alert the user saw)."""

    query_id: str
    update_id: int
    user_id: int
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """An error answer: HTTP status plus Telegram's description."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class _ParseError(Exception):
    """Markup Telegram cannot parse; becomes "Bad Request: can't parse entities: ..."."""


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


# --------------------------------------------------------------------------------------------
# Text and markup parsing (ported from tdlib's MessageEntity.cpp semantics)
# --------------------------------------------------------------------------------------------


def _u16(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, pos: int) -> int:
    return len(text[:pos].encode())


_HTML_SPACE = " \t\n\r\f\v"
_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_HTML_SPECIAL_RE = re.compile(r"[<&]")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_URLISH_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://\S+|[\w-]+(?:\.[\w-]+)+(?:[/?#]\S*)?)$", re.I)
_USER_LINK_RE = re.compile(r"^tg://user\?id=(\d+)$")
_EMOJI_LINK_RE = re.compile(r"^tg://emoji\?id=(\d+)$")


def _decode_html_entity(text: str, pos: int) -> tuple[str | None, int]:
    """Decode ``&...;`` at ``pos`` like tdlib; (None, pos) if it is not a valid entity."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
        else:
            while end < n and text[end].isascii() and text[end].isdigit():
                value = value * 10 + int(text[end])
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None, pos
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        char = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if char is None:
            return None, pos
    if end < n and text[end] == ";":
        end += 1
    return char, end


def _link_entity(url: str, offset: int, length: int, users: dict[int, dict[str, Any]]) -> dict:
    match = _USER_LINK_RE.match(url)
    if match and int(match.group(1)) in users:
        user = users[int(match.group(1))]
        return {"type": "text_mention", "offset": offset, "length": length, "user": user}
    return {"type": "text_link", "offset": offset, "length": length, "url": url}


def parse_html(
    text: str, *, strict: bool = True, users: dict[int, dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, entities); raise _ParseError like Telegram.

    ``strict`` also rejects a bare ``&`` that starts no entity. Telegram's docs require it to
    be escaped, but the server keeps it as text, so strict mode is stricter than Telegram.
    """
    users = users or {}
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # (tag, argument, utf16 offset of the content, index into out where the content starts)
    stack: list[tuple[str, str, int, int]] = []
    n = len(text)
    i = 0
    while i < n:
        match = _HTML_SPECIAL_RE.search(text, i)
        if match is None:
            chunk = text[i:]
            out.append(chunk)
            u16 += _u16(chunk)
            break
        j = match.start()
        if j > i:
            chunk = text[i:j]
            out.append(chunk)
            u16 += _u16(chunk)
        i = j
        if text[i] == "&":
            char, end = _decode_html_entity(text, i)
            if char is None:
                if strict:
                    raise _ParseError(
                        f'Character "&" at byte offset {_byte_offset(text, i)} must be escaped '
                        'as "&amp;" (strict_html: the fake is stricter than Telegram here)'
                    )
                char, end = "&", i + 1
            if 0xD800 <= ord(char) <= 0xDFFF:
                raise _ParseError(
                    "Text contains invalid Unicode characters after decoding HTML entities, "
                    "check for unmatched surrogate code units"
                )
            out.append(char)
            u16 += _u16(char)
            i = end
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise _ParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            name_start = i
            while i < n and text[i] not in _HTML_SPACE and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i] in _HTML_SPACE:
                i += 1
            if i >= n or text[i] != ">":
                raise _ParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            tag, argument, start_u16, start_index = stack.pop()
            if end_name and end_name != tag:
                raise _ParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            length = u16 - start_u16
            if length <= 0:
                continue
            if tag in _HTML_SIMPLE:
                entities.append({"type": _HTML_SIMPLE[tag], "offset": start_u16, "length": length})
            elif tag == "blockquote":
                kind = "expandable_blockquote" if argument else "blockquote"
                entities.append({"type": kind, "offset": start_u16, "length": length})
            elif tag == "tg-emoji":
                entities.append(
                    {
                        "type": "custom_emoji",
                        "offset": start_u16,
                        "length": length,
                        "custom_emoji_id": argument,
                    }
                )
            elif tag == "a":
                url = argument or "".join(out[start_index:])
                if _URLISH_RE.match(url) or _USER_LINK_RE.match(url):
                    entities.append(_link_entity(url, start_u16, length, users))
            elif tag == "code":
                last = entities[-1] if entities else None
                if (
                    last is not None
                    and last["type"] == "pre"
                    and (last["offset"], last["length"]) == (start_u16, length)
                ):
                    if argument:
                        last["language"] = argument
                else:
                    entity = {"type": "code", "offset": start_u16, "length": length}
                    if argument:
                        entity["_language"] = argument
                    entities.append(entity)
            else:  # pre
                last = entities[-1] if entities else None
                if (
                    last is not None
                    and last["type"] == "code"
                    and (last["offset"], last["length"]) == (start_u16, length)
                    and "_language" in last
                ):
                    last["type"] = "pre"
                    last["language"] = last.pop("_language")
                else:
                    entities.append({"type": "pre", "offset": start_u16, "length": length})
            continue

        # A start tag.
        name_start = i
        while i < n and text[i] not in _HTML_SPACE and text[i] != ">":
            i += 1
        if i >= n:
            raise _ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[name_start:i].lower()
        if tag not in _HTML_TAGS:
            raise _ParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        attributes: dict[str, str] = {}
        while True:
            while i < n and text[i] in _HTML_SPACE:
                i += 1
            if i >= n:
                raise _ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            if text[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and text[i] not in _HTML_SPACE and text[i] not in "=>":
                i += 1
            attr = text[attr_start:i].lower()
            if not attr:
                raise _ParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            while i < n and text[i] in _HTML_SPACE:
                i += 1
            if i >= n or text[i] != "=":
                if tag == "blockquote" and attr == "expandable":
                    attributes[attr] = ""
                    continue
                raise _ParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {_byte_offset(text, begin)}'
                )
            i += 1
            while i < n and text[i] in _HTML_SPACE:
                i += 1
            if i >= n:
                raise _ParseError(
                    f'Unclosed start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
                )
            quote = text[i]
            if quote in "'\"":
                i += 1
                value: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        char, end = _decode_html_entity(text, i)
                        if char is not None:
                            value.append(char)
                            i = end
                            continue
                    value.append(text[i])
                    i += 1
                if i >= n:
                    raise _ParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                    )
                i += 1
                attributes[attr] = "".join(value)
            else:
                token_start = i
                while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                    i += 1
                if i >= n or (text[i] not in _HTML_SPACE and text[i] != ">"):
                    raise _ParseError(
                        "Unexpected end of name token at byte offset "
                        f"{_byte_offset(text, token_start)}"
                    )
                attributes[attr] = text[token_start:i].lower()

        argument = ""
        if tag == "a":
            argument = attributes.get("href", "")
        elif tag == "code":
            css = attributes.get("class", "")
            argument = css[len("language-") :] if css.startswith("language-") else ""
        elif tag == "span":
            if attributes.get("class") != "tg-spoiler":
                raise _ParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
        elif tag == "tg-emoji":
            argument = attributes.get("emoji-id", "")
            if not argument.isdigit():
                raise _ParseError(
                    f'Tag "tg-emoji" must have a numeric "emoji-id" attribute at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
        elif tag == "blockquote":
            argument = "expandable" if "expandable" in attributes else ""
        stack.append((tag, argument, u16, len(out)))

    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        entity.pop("_language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _skip_pre_language(text: str, i: int) -> tuple[str, int]:
    """After an opening ```: read an optional language and skip one newline, like tdlib."""
    n = len(text)
    end = i
    while end < n and text[end] not in _HTML_SPACE and text[end] != "`":
        end += 1
    language = ""
    if end != i and end < n and text[end] != "`":
        language = text[i:end]
        i = end
    if i < n and text[i] in "\r\n":
        i += 2 if i + 1 < n and text[i + 1] in "\r\n" and text[i] != text[i + 1] else 1
    return language, i


def parse_markdown_v2(
    text: str, *, users: dict[int, dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 into (plain text, entities); raise _ParseError like Telegram."""
    users = users or {}
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # [type, argument, utf16 offset, source index, out index]
    stack: list[tuple[str, str, int, int, int]] = []
    quote_start: int | None = None
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "\\" and nxt and 0 < ord(nxt) <= 126:
            out.append(nxt)
            u16 += 1
            i += 2
            continue
        top = stack[-1][0] if stack else None
        in_code = top in ("code", "pre")
        if c == ">" and not in_code and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = u16
            i += 1
            continue
        if c == "\n" and quote_start is not None and nxt != ">":
            if u16 > quote_start:
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": u16 - quote_start}
                )
            quote_start = None
        if (c != "`") if in_code else (c not in _MD2_RESERVED):
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue

        is_end = False
        if top == "bold":
            is_end = c == "*"
        elif top == "italic":
            is_end = c == "_" and nxt != "_"
        elif top == "underline":
            is_end = c == "_" and nxt == "_"
        elif top == "strikethrough":
            is_end = c == "~"
        elif top == "spoiler":
            is_end = c == "|" and nxt == "|"
        elif top == "code":
            is_end = c == "`"
        elif top == "pre":
            is_end = text.startswith("```", i)
        elif top in ("text_link", "custom_emoji"):
            is_end = c == "]"

        if not is_end:
            start = i
            language = ""
            if c == "_" and nxt == "_":
                kind, i = "underline", i + 2
            elif c == "_":
                kind, i = "italic", i + 1
            elif c == "*":
                kind, i = "bold", i + 1
            elif c == "~":
                kind, i = "strikethrough", i + 1
            elif c == "|" and nxt == "|":
                kind, i = "spoiler", i + 2
            elif c == "[":
                kind, i = "text_link", i + 1
            elif c == "!" and nxt == "[":
                kind, i = "custom_emoji", i + 2
            elif c == "`" and text.startswith("```", i):
                kind = "pre"
                language, i = _skip_pre_language(text, i + 3)
            elif c == "`":
                kind, i = "code", i + 1
            else:
                raise _ParseError(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            stack.append((kind, language, u16, start, len(out)))
            continue

        kind, argument, offset, _start, out_index = stack.pop()
        entity: dict[str, Any] | None = {"type": kind, "offset": offset, "length": u16 - offset}
        if kind in ("underline", "spoiler"):
            i += 2
        elif kind == "pre":
            i += 3
            if argument:
                entity["language"] = argument
        elif kind in ("text_link", "custom_emoji"):
            i += 1
            if i < n and text[i] == "(":
                i += 1
                url_start = i
                url: list[str] = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        url.append(text[i + 1])
                        i += 2
                        continue
                    url.append(text[i])
                    i += 1
                if i >= n:
                    raise _ParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, url_start)}"
                    )
                i += 1
                link = "".join(url)
            else:
                link = "".join(out[out_index:])
            if kind == "custom_emoji":
                match = _EMOJI_LINK_RE.match(link)
                if match is None:
                    raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
                entity["custom_emoji_id"] = match.group(1)
            elif _URLISH_RE.match(link) or _USER_LINK_RE.match(link):
                entity = _link_entity(link, offset, u16 - offset, users)
            else:
                entity = None
        else:
            i += 1
        if entity is not None and entity["length"] > 0:
            entities.append(entity)

    if stack:
        kind, argument, _offset, start, _out_index = stack[-1]
        name = "PreCode" if kind == "pre" and argument else _MD2_NAMES[kind]
        raise _ParseError(
            f"Can't find end of {name} entity at byte offset {_byte_offset(text, start)}"
        )
    if quote_start is not None and u16 > quote_start:
        entities.append({"type": "blockquote", "offset": quote_start, "length": u16 - quote_start})
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown into (plain text, entities); raise _ParseError like Telegram."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        i += 1
        is_pre = False
        language = ""
        if c == "`" and text.startswith("``", i):
            is_pre = True
            language, i = _skip_pre_language(text, i + 2)
        offset = u16
        content_start = len(out)
        while i < n and (text[i] != end_char or (is_pre and not text.startswith("``", i + 1))):
            out.append(text[i])
            u16 += 2 if ord(text[i]) > 0xFFFF else 1
            i += 1
        if i >= n:
            raise _ParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        i += 3 if is_pre else 1
        length = u16 - offset
        if c == "[":
            url = "".join(out[content_start:])
            if i < n and text[i] == "(":
                close = text.find(")", i)
                if close < 0:
                    raise _ParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                    )
                url = text[i + 1 : close]
                i = close + 1
            if length and (_URLISH_RE.match(url) or _USER_LINK_RE.match(url)):
                entities.append(
                    {"type": "text_link", "offset": offset, "length": length, "url": url}
                )
            continue
        if length <= 0:
            continue
        if c == "_":
            entities.append({"type": "italic", "offset": offset, "length": length})
        elif c == "*":
            entities.append({"type": "bold", "offset": offset, "length": length})
        elif is_pre:
            entity = {"type": "pre", "offset": offset, "length": length}
            if language:
                entity["language"] = language
            entities.append(entity)
        else:
            entities.append({"type": "code", "offset": offset, "length": length})
    return "".join(out), entities


_TRIM = " \t\n\r\f\v"


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram strips leading/trailing whitespace and clips entities to what is left."""
    stripped = text.strip(_TRIM)
    if stripped == text or not entities:
        return stripped, entities
    lead = _u16(text[: len(text) - len(text.lstrip(_TRIM))])
    total = _u16(stripped)
    clipped = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, clipped


_MENTION_RE = re.compile(r"(?<![\w/])@[A-Za-z][A-Za-z0-9_]{4,31}")


def _command_entities(text: str) -> list[dict[str, Any]]:
    """bot_command and mention entities Telegram attaches to a user's text message."""
    found = [(m, "bot_command") for m in _BOT_COMMAND_RE.finditer(text)] + [
        (m, "mention") for m in _MENTION_RE.finditer(text)
    ]
    return [
        {"type": kind, "offset": _u16(text[: m.start()]), "length": _u16(m.group())}
        for m, kind in sorted(found, key=lambda pair: pair[0].start())
    ]


def _decode_param(key: str, value: str) -> Any:
    """Undo PTB's encoding: non-string values were JSON-dumped into the form field."""
    if key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _as_float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _StoredFile:
    file_id: str
    unique_id: str
    content: bytes | None
    filename: str | None
    mime_type: str | None
    path: str

    @property
    def size(self) -> int:
        return len(self.content or b"")


@dataclass(slots=True)
class _Stored:
    json: dict[str, Any]
    from_bot: bool
    parse_mode: str | None = None
    source: str | None = None
    markup: dict[str, Any] | None = None
    file: _StoredFile | None = None
    edited: bool = False


@dataclass(slots=True)
class _Chat:
    data: dict[str, Any]
    messages: dict[int, _Stored] = field(default_factory=dict)
    last_message_id: int = 0
    bot_messages: int = 0

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def type(self) -> str:
        return str(self.data["type"])

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass(slots=True)
class _Failure:
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None


# --------------------------------------------------------------------------------------------
# Simulated users
# --------------------------------------------------------------------------------------------


class FakeUser:
    """A Telegram user in one chat; every action queues an update and returns its update_id."""

    def __init__(self, fake: FakeTelegram, user: dict[str, Any], chat: _Chat) -> None:
        self._fake = fake
        self.data = user
        self._chat = chat

    @property
    def user_id(self) -> int:
        return int(self.data["id"])

    @property
    def chat_id(self) -> int:
        return self._chat.id

    @property
    def first_name(self) -> str:
        return str(self.data["first_name"])

    def __repr__(self) -> str:
        return f"FakeUser(user_id={self.user_id}, chat_id={self.chat_id})"

    def send(self, text: str, *, reply_to: int | None = None, sent_at: int | None = None) -> int:
        """A text message; commands get bot_command entities like Telegram adds them.
        `sent_at` (Unix time) backdates it, as a message delivered late would be."""
        body: dict[str, Any] = {"text": text}
        entities = _command_entities(text)
        if entities:
            body["entities"] = entities
        if sent_at is not None:
            body["date"] = sent_at
        return self._fake._user_message(self, body, reply_to=reply_to)

    def press(self, message: Message | int, button: str | int) -> int:
        """Press an inline button by its label or its index in reading order."""
        message_id = message.message_id if isinstance(message, Message) else message
        stored = self._fake._stored_message(self.chat_id, message_id)
        rows = (stored.json.get("reply_markup") or {}).get("inline_keyboard") or []
        flat = [b for row in rows for b in row]
        if not flat:
            raise LookupError(f"message {message_id} in chat {self.chat_id} has no inline keyboard")
        if isinstance(button, int):
            if not -len(flat) <= button < len(flat):
                raise LookupError(
                    f"message {message_id} has {len(flat)} buttons, no index {button}: "
                    f"{[b['text'] for b in flat]}"
                )
            chosen = flat[button]
        else:
            matches = [b for b in flat if b["text"] == button]
            if not matches:
                raise LookupError(
                    f"no button {button!r} in message {message_id}; it has "
                    f"{[b['text'] for b in flat]}"
                )
            chosen = matches[0]
        if "callback_data" not in chosen:
            raise ValueError(
                f"button {chosen['text']!r} sends no callback_query (it is {chosen}); "
                "only callback_data buttons can be pressed"
            )
        return self._fake._callback(self, stored, chosen["callback_data"])

    def press_data(self, message_id: int, data: str) -> int:
        """A callback_query with arbitrary (forged or stale) data on an existing message."""
        stored = self._fake._stored_message(self.chat_id, message_id)
        return self._fake._callback(self, stored, data)

    def edit(self, message_id: int, new_text: str) -> int:
        """Edit one of this user's text messages (an edited_message update)."""
        return self._fake._user_edit(self, message_id, new_text)

    def send_photo(self, data: bytes = _TINY_JPEG, *, caption: str | None = None) -> int:
        """A photo; the bytes can be fetched by the bot through getFile + download."""
        file = self._fake._register_file("photo", data, None, "image/jpeg")
        body: dict[str, Any] = {"photo": self._fake._photo_sizes(file)}
        if caption:
            body["caption"] = caption
        return self._fake._user_message(self, body)

    def send_document(
        self,
        data: bytes = b"%PDF-1.4\n%fake\n",
        *,
        filename: str = "file.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> int:
        """A document (file attachment)."""
        file = self._fake._register_file("document", data, filename, mime_type)
        body: dict[str, Any] = {"document": self._fake._file_object(file, "document")}
        if caption:
            body["caption"] = caption
        return self._fake._user_message(self, body)

    def send_sticker(self, emoji: str = "\N{THUMBS UP SIGN}") -> int:
        """A regular static sticker."""
        file = self._fake._register_file("sticker", b"RIFF\x00\x00\x00\x00WEBP", None, "image/webp")
        sticker = {
            **self._fake._file_object(file, "sticker"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "FakeStickers",
        }
        return self._fake._user_message(self, {"sticker": sticker})

    def send_voice(self, duration: int = 3, data: bytes = _TINY_OGG) -> int:
        """A voice note."""
        file = self._fake._register_file("voice", data, None, "audio/ogg")
        voice = {**self._fake._file_object(file, "voice"), "duration": duration}
        return self._fake._user_message(self, {"voice": voice})

    def send_location(self, latitude: float, longitude: float) -> int:
        """A location pin."""
        return self._fake._user_message(
            self, {"location": {"latitude": latitude, "longitude": longitude}}
        )

    def send_contact(
        self, phone_number: str = "+15555550123", first_name: str | None = None
    ) -> int:
        """A contact; by default the user's own (as a request_contact button sends it)."""
        contact = {
            "phone_number": phone_number,
            "first_name": first_name or self.first_name,
            "user_id": self.user_id,
        }
        return self._fake._user_message(self, {"contact": contact})

    def block_bot(self) -> int:
        """The user blocks the bot: later sends get 403, and a my_chat_member update arrives."""
        self._fake.block(self.chat_id)
        status = {"user": self._fake.bot_user, "status": "member"}
        update = {
            "my_chat_member": {
                "chat": self._chat.data,
                "from": self.data,
                "date": int(time.time()),
                "old_chat_member": status,
                "new_chat_member": {**status, "status": "kicked", "until_date": 0},
            }
        }
        return self._fake.push_update(update)

    def messages(self, *, include_user: bool = False) -> list[Message]:
        """Messages in this user's chat (see FakeTelegram.messages)."""
        return self._fake.messages(self.chat_id, include_user=include_user)

    @property
    def last_message(self) -> Message:
        """The newest bot message in this chat."""
        return self._fake.last_message(self.chat_id)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeTelegram:
    """A Bot API server on 127.0.0.1 with users, chats, validation and failure injection."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        privacy_mode: bool = True,
        strict_html: bool = True,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        #: Seconds added to every request (benchmarks, timeouts). 0 = answer at once.
        self.latency: float = 0.0
        #: Group privacy mode (Telegram's default): in groups, plain messages not addressed to
        #: the bot are not delivered. Set False to model a bot with privacy mode disabled.
        self.privacy_mode = privacy_mode
        #: Reject a bare "&" in HTML (Telegram documents it as invalid but tolerates it).
        self.strict_html = strict_html
        self.calls: list[Call] = []
        self.callback_answers: list[CallbackAnswer] = []
        #: Every attempt to POST an update to the webhook, failed ones included.
        self.webhook_deliveries: list[WebhookDelivery] = []
        #: Seconds before an unanswered webhook POST counts as failed.
        self.webhook_timeout: float = 10.0
        #: Exceptions raised inside the fake itself (bugs in the fake, answered with 500).
        self.internal_errors: list[BaseException] = []
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }
        self._updates: deque[dict[str, Any]] = deque()
        self._last_update_id = 0
        self._delivered: set[int] = set()
        self.confirmed_offset = 0
        self._dropped: dict[int, str] = {}
        self._allowed: frozenset[str] | None = None
        self._poll: asyncio.Future[str] | None = None
        self._last_poll: float | None = None
        self._chats: dict[int, _Chat] = {}
        self._chats_by_username: dict[str, _Chat] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(1)
        self._open_queries: dict[str, tuple[int, int]] = {}
        self._query_by_update: dict[int, str] = {}
        self._answers: dict[str, CallbackAnswer] = {}
        self._blocked: set[int] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._webhook: dict[str, Any] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._changed = asyncio.Event()
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = False
        self._methods: dict[str, Callable[[dict[str, Any], dict[str, UploadedFile]], Any]] = {
            "getme": self._get_me,
            "logout": self._true,
            "close": self._true,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setmydescription": self._true,
            "setmyshortdescription": self._true,
            "setmyname": self._true,
            "setchatmenubutton": self._true,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "sendlocation": self._send_location,
            "getfile": self._get_file,
            "getchat": self._get_chat,
        }

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: when PTB drops a long poll (Updater.stop), its handler is
        # cancelled instead of handing updates to a closed socket.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
            handler_cancellation=True,
        )  # fmt: skip
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._closing = False
        if self._webhook is not None:  # restarted with a webhook set: deliver again
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhook())

    async def stop(self) -> None:
        """Release pending long polls and close the server."""
        self._closing = True
        if self._poll is not None and not self._poll.done():
            self._poll.set_result("stop")
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started; use `async with` or start()")
        return self._port

    @property
    def base_url(self) -> str:
        """For ApplicationBuilder.base_url(): PTB appends the token and the method."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ApplicationBuilder.base_file_url()."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- users, chats, updates -------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Ann",
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
        chat_title: str = "Test group",
    ) -> FakeUser:
        """A user in their private chat with the bot, or in a group (negative chat_id)."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        if chat_type == "private":
            if chat_id not in (None, user_id):
                raise ValueError("a private chat has the id of the user")
            chat_id = user_id
        elif chat_type in ("group", "supergroup"):
            if chat_id is None or chat_id >= 0:
                raise ValueError(f"a {chat_type} needs a negative chat_id")
        else:
            raise ValueError(
                f"chat_type {chat_type!r}: users live in private, group or supergroup chats; "
                "use add_chat() + push_update() for channels"
            )
        user = self._users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": False, "first_name": first_name}
            if last_name:
                user["last_name"] = last_name
            if username:
                user["username"] = username
            if language_code:
                user["language_code"] = language_code
            self._users[user_id] = user
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_type == "private":
                data = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
                for key in ("last_name", "username"):
                    if key in user:
                        data[key] = user[key]
                chat = self._add_chat(data)
            else:
                chat = self._add_chat({"id": chat_id, "type": chat_type, "title": chat_title})
        elif chat.type != chat_type:
            raise ValueError(f"chat {chat_id} is a {chat.type}, not a {chat_type}")
        return FakeUser(self, user, chat)

    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "channel",
        *,
        title: str = "Test channel",
        username: str | None = None,
    ) -> dict[str, Any]:
        """Make a chat known (e.g. a channel for channel_post updates); returns its Chat JSON."""
        existing = self._chats.get(chat_id)
        if existing is not None:
            return existing.data
        data: dict[str, Any] = {"id": chat_id, "type": chat_type, "title": title}
        if username:
            data["username"] = username
        return self._add_chat(data).data

    def _add_chat(self, data: dict[str, Any]) -> _Chat:
        chat = _Chat(data=data)
        self._chats[chat.id] = chat
        if data.get("username"):
            self._chats_by_username[str(data["username"]).lower()] = chat
        return chat

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (channel_post, inline_query, my_chat_member ...); returns its id."""
        if "update_id" in update:
            update_id = int(update["update_id"])
            if update_id <= self._last_update_id:
                raise ValueError(f"update_id {update_id} is not above {self._last_update_id}")
        else:
            update_id = self._last_update_id + 1
            update = {"update_id": update_id, **update}
        if len(update) != 2:
            raise ValueError(f"an update has update_id and exactly one payload: {list(update)}")
        json.dumps(update)  # fail here, in the test, rather than in every later getUpdates
        self._last_update_id = update_id
        self._remember_raw_message(update)
        self._updates.append(update)
        if self._poll is not None and not self._poll.done():
            self._poll.set_result("update")
        self._notify()
        return update_id

    def _remember_raw_message(self, update: dict[str, Any]) -> None:
        """A raw message-like update makes its chat known and its message repliable."""
        kind = next(k for k in update if k != "update_id")
        message = update[kind]
        if kind not in _RAW_MESSAGE_UPDATES or not isinstance(message, dict):
            return
        chat_data, message_id = message.get("chat"), message.get("message_id")
        if not isinstance(chat_data, dict) or not isinstance(message_id, int):
            return
        chat = self._chats.get(_as_int(chat_data.get("id"), 0))
        if chat is None:
            chat = self._add_chat(chat_data)
        stored = chat.messages.get(message_id)
        if stored is not None and stored.json is message:
            return  # pushed by a FakeUser method, already stored
        from_bot = message.get("from", {}).get("id") == self.bot_id
        chat.messages[message_id] = _Stored(json=message, from_bot=from_bot)
        chat.last_message_id = max(chat.last_message_id, message_id)
        if from_bot and stored is None:
            chat.bot_messages += 1

    def _skip_update(self, reason: str) -> int:
        """Allocate an update id for something Telegram would not deliver."""
        self._last_update_id += 1
        self._dropped[self._last_update_id] = reason
        self._notify()
        return self._last_update_id

    def _visible_in_group(self, message: dict[str, Any]) -> bool:
        """Privacy mode: commands for this bot and replies to it reach the bot in groups."""
        reply = message.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == self.bot_id:
            return True
        text = message.get("text") or ""
        for entity in message.get("entities") or ():
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                command = text[: entity["length"]]
                _, _, target = command.partition("@")
                return not target or target.lower() == BOT_USERNAME
        return False

    def _user_message(
        self, user: FakeUser, body: dict[str, Any], *, reply_to: int | None = None
    ) -> int:
        chat = self._chats[user.chat_id]
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": user.data,
            "chat": chat.data,
            "date": int(time.time()),
            **body,
        }
        if reply_to is not None:
            message["reply_to_message"] = self._reply_snapshot(
                self._stored_message(chat.id, reply_to)
            )
        chat.messages[message["message_id"]] = _Stored(json=message, from_bot=False)
        return self._push_message_update("message", message, chat)

    def _push_message_update(self, kind: str, message: dict[str, Any], chat: _Chat) -> int:
        in_group = chat.type in ("group", "supergroup")
        if in_group and self.privacy_mode and not self._visible_in_group(message):
            return self._skip_update(
                "group privacy mode: Telegram does not deliver plain group messages that "
                "are not commands for the bot or replies to it (set fake.privacy_mode = "
                "False to model a bot with privacy mode off)"
            )
        return self.push_update({kind: message})

    def _user_edit(self, user: FakeUser, message_id: int, new_text: str) -> int:
        chat = self._chats[user.chat_id]
        stored = self._stored_message(chat.id, message_id)
        if stored.from_bot or stored.json.get("from", {}).get("id") != user.user_id:
            raise ValueError(f"message {message_id} was not sent by {user!r}")
        if "text" not in stored.json:
            raise ValueError(f"message {message_id} has no text to edit")
        message = {**stored.json, "text": new_text, "edit_date": int(time.time())}
        message.pop("entities", None)
        entities = _command_entities(new_text)
        if entities:
            message["entities"] = entities
        stored.json = message
        stored.edited = True
        return self._push_message_update("edited_message", message, chat)

    def _callback(self, user: FakeUser, stored: _Stored, data: str) -> int:
        query_id = str(4_000_000_000_000_000_000 + next(self._query_counter) * 7919)
        chat_instance = str((abs(self._chats[user.chat_id].id) * 2654435761) % 10**19)
        update = {
            "callback_query": {
                "id": query_id,
                "from": user.data,
                "message": stored.json,
                "chat_instance": chat_instance,
                "data": data,
            }
        }
        update_id = self.push_update(update)
        self._open_queries[query_id] = (update_id, user.user_id)
        self._query_by_update[update_id] = query_id
        return update_id

    def _stored_message(self, chat_id: int, message_id: int) -> _Stored:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise LookupError(f"unknown chat {chat_id}")
        stored = chat.messages.get(message_id)
        if stored is None:
            raise LookupError(f"no message {message_id} in chat {chat_id} (deleted or never sent)")
        return stored

    @staticmethod
    def _reply_snapshot(stored: _Stored) -> dict[str, Any]:
        return {k: v for k, v in stored.json.items() if k != "reply_to_message"}

    # ---- files -----------------------------------------------------------------------------

    def _register_file(
        self, kind: str, content: bytes | None, filename: str | None, mime_type: str | None
    ) -> _StoredFile:
        number = next(self._file_counter)
        file_id = f"{_FILE_ID_PREFIX.get(kind, 'BQACAgIAAxkBAAI')}{number:08d}FakeFileId"
        extension = ""
        if filename and "." in filename:
            extension = filename.rsplit(".", 1)[1]
        elif kind == "photo":
            extension = "jpg"
        folder = {"photo": "photos", "voice": "voice", "sticker": "stickers"}.get(kind, "documents")
        path = f"{folder}/file_{number}{'.' + extension if extension else ''}"
        stored = _StoredFile(file_id, f"AQAD{number:06d}", content, filename, mime_type, path)
        self._files[file_id] = stored
        self._files_by_path[path] = stored
        return stored

    def _photo_sizes(self, file: _StoredFile) -> list[dict[str, Any]]:
        """Telegram answers a photo with several sizes; the last one is the largest."""
        thumb_id = f"{file.file_id}_t"
        self._files[thumb_id] = file
        return [
            {
                "file_id": thumb_id,
                "file_unique_id": f"{file.unique_id}t",
                "width": 90,
                "height": 90,
                "file_size": file.size,
            },
            {
                "file_id": file.file_id,
                "file_unique_id": file.unique_id,
                "width": 800,
                "height": 800,
                "file_size": file.size,
            },
        ]

    @staticmethod
    def _file_object(file: _StoredFile, kind: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": file.file_id,
            "file_unique_id": file.unique_id,
            "file_size": file.size,
        }
        if kind in ("document", "audio", "video", "animation", "voice") and file.mime_type:
            data["mime_type"] = file.mime_type
        if kind in ("document", "audio", "video", "animation") and file.filename:
            data["file_name"] = file.filename
        return data

    # ---- inspection ------------------------------------------------------------------------

    def messages(self, chat_id: int, *, include_user: bool = False) -> list[Message]:
        """What the user sees in the chat: the bot's messages, edits applied, deletions gone."""
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"unknown chat {chat_id}; create it with fake.user(...)")
        return [
            self._snapshot(chat.id, stored)
            for stored in chat.messages.values()
            if include_user or stored.from_bot
        ]

    def last_message(self, chat_id: int) -> Message:
        """The newest bot message in the chat (LookupError if there is none)."""
        messages = self.messages(chat_id)
        if not messages:
            raise LookupError(f"the bot has sent nothing (visible) to chat {chat_id}")
        return messages[-1]

    def texts(self, chat_id: int) -> list[str | None]:
        """Displayed texts/captions of the bot's messages in the chat."""
        return [m.text for m in self.messages(chat_id)]

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method (case-insensitive)."""
        lower = method.lower()
        return [c for c in self.calls if c.method.lower() == lower]

    def answer_for(self, update_id: int) -> CallbackAnswer | None:
        """The bot's answer to the callback query pushed as update_id, if any."""
        query_id = self._query_by_update.get(update_id)
        return None if query_id is None else self._answers.get(query_id)

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """The command list set with setMyCommands for a scope/language."""
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    @staticmethod
    def _snapshot(chat_id: int, stored: _Stored) -> Message:
        raw = stored.json
        kind = next((k for k in _MESSAGE_KINDS if k in raw), "other")
        buttons: list[list[tuple[str, str | None]]] = []
        for row in (raw.get("reply_markup") or {}).get("inline_keyboard") or []:
            line: list[tuple[str, str | None]] = []
            for button in row:
                target = button.get("callback_data") or button.get("url")
                if target is None:
                    for key in ("web_app", "login_url"):
                        if isinstance(button.get(key), dict):
                            target = button[key].get("url")
                line.append((button["text"], target))
            buttons.append(line)
        reply_keyboard = None
        if stored.markup and "keyboard" in stored.markup:
            reply_keyboard = [
                [b if isinstance(b, str) else b["text"] for b in row]
                for row in stored.markup["keyboard"]
            ]
        content = stored.file.content if stored.file else None
        return Message(
            message_id=int(raw["message_id"]),
            chat_id=chat_id,
            kind=kind,
            text=raw.get("text", raw.get("caption")),
            source=stored.source,
            parse_mode=stored.parse_mode,
            buttons=buttons,
            reply_keyboard=reply_keyboard,
            photo=content if kind == "photo" else None,
            document=content if kind == "document" else None,
            document_name=stored.file.filename if stored.file and kind == "document" else None,
            edited=stored.edited,
            from_bot=stored.from_bot,
            raw=raw,
        )

    # ---- failure injection -----------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (for ``chat_id``, if given) fail.

        ``method`` "*" matches every method except getUpdates. Without a description,
        Telegram's usual one for the status is used ("Too Many Requests: retry after N" ...).
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if status == 429 and retry_after is None:
            retry_after = 1  # Telegram always says how long to wait
        if description is None:
            description = {
                400: "Bad Request",
                401: "Unauthorized",
                403: "Forbidden",
                404: "Not Found",
                409: "Conflict",
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(status, "Error")
        self._failures.setdefault(method.lower(), []).append(
            _Failure(status, description, retry_after, times, chat_id)
        )

    def clear_failures(self) -> None:
        """Forget all pending injected failures."""
        self._failures.clear()

    def block(self, chat_id: int) -> None:
        """Every call aimed at this chat now gets 403 (user blocked the bot / bot kicked)."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """Undo block()."""
        self._blocked.discard(chat_id)

    def _injected_failure(self, lower: str, params: dict[str, Any]) -> _ApiError | None:
        for key in (lower, "*"):
            rules = self._failures.get(key)
            if not rules or (key == "*" and lower == "getupdates"):
                continue
            for rule in rules:
                if rule.chat_id is not None and params.get("chat_id") != rule.chat_id:
                    continue
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
                parameters = {"retry_after": rule.retry_after} if rule.retry_after else None
                return _ApiError(rule.status, rule.description, parameters)
        return None

    # ---- synchronisation -------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()

    async def wait_delivered(self, update_id: int, timeout: float = 5.0) -> None:
        """Return once a getUpdates response has handed ``update_id`` to the bot."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while update_id not in self._delivered:
            if update_id in self._dropped:
                raise AssertionError(
                    f"update {update_id} will never be delivered: {self._dropped[update_id]}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0 and self._webhook is not None:
                tries = [d for d in self.webhook_deliveries if d.update_id == update_id]
                raise AssertionError(
                    f"update {update_id} was not delivered to the webhook within {timeout}s; "
                    f"attempts: {[(d.status, d.error) for d in tries][-5:]}"
                )
            if remaining <= 0:
                queued = [u["update_id"] for u in self._updates]
                since = (
                    f"{time.monotonic() - self._last_poll:.2f}s ago"
                    if self._last_poll is not None
                    else "never"
                )
                raise AssertionError(
                    f"update {update_id} was not delivered within {timeout}s. Queued: "
                    f"{queued[:20]}; last getUpdates: {since}; long poll waiting: "
                    f"{self._poll is not None and not self._poll.done()}. Is the "
                    "Application polling (app.updater.start_polling()) against this fake?"
                )
            await self._wait_change(remaining)

    async def wait_confirmed(self, update_id: int, timeout: float = 5.0) -> None:
        """Return once the bot has asked for updates after ``update_id``: PTB has then queued it
        for its handlers (it enqueues a batch before it polls again)."""
        await self.wait_delivered(update_id, timeout)
        await self.wait_for(
            lambda: self.confirmed_offset > update_id, timeout, f"getUpdates past {update_id}"
        )

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, message: str = ""
    ) -> Any:
        """Re-check ``predicate`` after every request until it is truthy; return its value.

        A LookupError (IndexError, KeyError) from the predicate counts as "not yet".
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error: Exception | None = None
        while True:
            try:
                value = predicate()
            except LookupError as exc:
                value, last_error = None, exc
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [
                    f"{c.method}({c.params.get('chat_id', '')}) -> {c.status}"
                    + (f" {c.description}" if c.description else "")
                    for c in self.calls[-8:]
                    if c.method.lower() != "getupdates"
                ]
                raise AssertionError(
                    f"condition not met within {timeout}s"
                    + (f": {message}" if message else "")
                    + (f"; last predicate error: {last_error!r}" if last_error else "")
                    + f"; recent calls: {recent}"
                )
            await self._wait_change(remaining)

    async def wait_messages(self, chat_id: int, count: int, timeout: float = 5.0) -> list[Message]:
        """Wait until the bot has at least ``count`` visible messages in the chat."""
        await self.wait_for(
            lambda: self._chats[chat_id].bot_messages >= count,
            timeout,
            f"{count} bot message(s) in chat {chat_id}",
        )
        return self.messages(chat_id)

    async def settle(self, quiet: float = 0.1, timeout: float = 5.0) -> None:
        """Wait until no request except getUpdates has been seen for ``quiet`` seconds.

        For negative assertions ("the bot said nothing").
        """
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            idle = now - self._last_activity
            if self._inflight == 0 and idle >= quiet:
                return
            if now >= deadline:
                raise AssertionError(f"the bot did not go quiet for {quiet}s within {timeout}s")
            await asyncio.sleep(max(quiet - idle, 0.005))

    # ---- HTTP ------------------------------------------------------------------------------

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {k: _decode_param(k, v) for k, v in request.query.items()}
        files: dict[str, UploadedFile] = {}
        if not request.body_exists:
            return params, files
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise _bad("can't parse JSON object") from exc
            if isinstance(body, dict):
                params.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(value.filename, value.file.read(), value.content_type)
                else:
                    text = value.decode() if isinstance(value, bytes | bytearray) else value
                    params[key] = _decode_param(key, text)
        return params, files

    def _check_token(self, token: str) -> None:
        if token == self.token:
            return
        if _TOKEN_RE.match(token):
            raise _ApiError(401, "Unauthorized")
        raise _ApiError(404, "Not Found")

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        method = request.match_info["method"]
        lower = method.lower()
        polling = lower == "getupdates"
        if not polling:
            self._inflight += 1
            self._last_activity = started
        call = Call(method=method, params={}, files={}, time=started)
        try:
            status, body = await self._answer(request, call, lower)
        except asyncio.CancelledError:
            call.description = "client disconnected"
            self._record(call, polling)
            raise
        call.status = status
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        response = web.Response(body=payload, status=status, content_type="application/json")
        if polling and status == 200:
            try:
                await response.prepare(request)
                await response.write_eof()
            except (ConnectionError, RuntimeError) as exc:
                call.status, call.description = 0, f"client went away: {exc!r}"
            else:
                self._delivered.update(u["update_id"] for u in call.result)
        self._record(call, polling)
        return response

    def _record(self, call: Call, polling: bool) -> None:
        self.calls.append(call)
        if polling:
            self._last_poll = time.monotonic()
        else:
            self._inflight -= 1
            self._last_activity = time.monotonic()
        self._notify()

    async def _answer(self, request: web.Request, call: Call, lower: str) -> tuple[int, dict]:
        try:
            call.params, call.files = await self._read_params(request)
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            self._check_token(request.match_info["token"])
            failure = self._injected_failure(lower, call.params)
            if failure is not None:
                raise failure
            if lower == "getupdates":
                result: Any = await self._get_updates(call.params)
            else:
                handler = self._methods.get(lower)
                if handler is None:
                    raise _ApiError(404, "Not Found: method not found")
                result = handler(call.params, call.files)
        except _ApiError as exc:
            call.description = exc.description
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.status,
                "description": exc.description,
            }
            if exc.parameters:
                body["parameters"] = exc.parameters
            return exc.status, body
        except Exception as exc:  # a bug in the fake: make it loud, not a hang
            _LOG.exception("FakeTelegram failed on %s", call.method)
            self.internal_errors.append(exc)
            call.description = f"Internal Server Error: fake failed: {exc!r}"
            return 500, {"ok": False, "error_code": 500, "description": call.description}
        call.result = result
        return 200, {"ok": True, "result": result}

    async def _handle_file(self, request: web.Request) -> web.Response:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            body = json.dumps({"ok": False, "error_code": 404, "description": "Not Found"})
            return web.Response(text=body, status=404, content_type="application/json")
        return web.Response(body=stored.content or b"", content_type="application/octet-stream")

    # ---- getUpdates ------------------------------------------------------------------------

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = max(_as_float(params.get("timeout"), 0.0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed = frozenset(allowed) if allowed else None
        if self._poll is not None and not self._poll.done():
            self._poll.set_result("conflict")
        self._confirm(offset)
        batch = self._take(limit)
        if batch or timeout <= 0 or self._closing:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not batch and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            future: asyncio.Future[str] = loop.create_future()
            self._poll = future
            try:
                await asyncio.wait((future,), timeout=remaining)
            finally:
                if self._poll is future:
                    self._poll = None
            if future.done() and future.result() == "conflict":
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = self._take(limit)
        return batch

    def _confirm(self, offset: int) -> None:
        if offset > self.confirmed_offset:
            self.confirmed_offset = offset
            self._notify()
        queue = self._updates
        if offset > 0:
            while queue and queue[0]["update_id"] < offset:
                queue.popleft()
        elif offset < 0:
            while len(queue) > -offset:
                queue.popleft()

    def _allows(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed is None:
            return kind not in _OPT_IN_UPDATES
        return kind in self._allowed

    def _take(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        filtered: set[int] = set()
        for update in self._updates:
            if not self._allows(update):
                filtered.add(update["update_id"])
                kind = next(k for k in update if k != "update_id")
                self._dropped[update["update_id"]] = (
                    f"{kind!r} is not in allowed_updates "
                    f"({sorted(self._allowed) if self._allowed else 'Telegram default'})"
                )
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        if filtered:
            self._updates = deque(u for u in self._updates if u["update_id"] not in filtered)
            self._notify()
        return batch

    # ---- method helpers --------------------------------------------------------------------

    def _target_chat(self, params: dict[str, Any]) -> _Chat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        chat = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            chat = self._chats.get(raw)
        elif isinstance(raw, str) and raw.startswith("@"):
            chat = self._chats_by_username.get(raw[1:].lower())
        if chat is None:
            raise _bad("chat not found")
        if chat.id in self._blocked:
            if chat.type == "private":
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            raise _ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    @staticmethod
    def _message_id(params: dict[str, Any]) -> int:
        value = params.get("message_id")
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad("message identifier is not specified")
        return value

    def _formatted(
        self, params: dict[str, Any], key: str, entities_key: str, *, caption: bool
    ) -> tuple[str, list[dict[str, Any]], str | None, str | None]:
        """Parse text/caption like Telegram: (text, entities, parse_mode, source)."""
        raw = params.get(key)
        if raw is not None and not isinstance(raw, str):
            raw = str(raw)
        if not raw:
            if caption:
                return "", [], None, None
            raise _bad("message text is empty")
        parse_mode = params.get("parse_mode") or None
        explicit = params.get(entities_key)
        if isinstance(explicit, list):
            text, entities, parse_mode = raw, explicit, None
        elif parse_mode is None:
            text, entities = raw, []
        else:
            mode = str(parse_mode).lower()
            try:
                if mode == "html":
                    text, entities = parse_html(raw, strict=self.strict_html, users=self._users)
                elif mode == "markdownv2":
                    text, entities = parse_markdown_v2(raw, users=self._users)
                elif mode == "markdown":
                    text, entities = parse_markdown(raw)
                else:
                    raise _bad("unsupported parse_mode")
            except _ParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from exc
        text, entities = _trim(text, entities)
        if caption:
            if len(text) > _CAPTION_LIMIT:
                raise _bad("message caption is too long")
        else:
            if not text:
                raise _bad("message text is empty")
            if len(text) > _MESSAGE_LIMIT:
                raise _bad("message is too long")
        return text, entities, parse_mode, raw

    @staticmethod
    def _parse_markup(raw: Any) -> dict[str, Any] | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = None
        if not isinstance(raw, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in raw:
            rows = raw["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad(
                    'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array '
                    "of Arrays"
                )
            for button in (b for row in rows for b in row):
                if not isinstance(button, dict):
                    raise _bad("can't parse inline keyboard button: Object expected")
                if not isinstance(button.get("text"), str):
                    raise _bad("can't parse inline keyboard button: Can't find field \"text\"")
                if not any(key in button for key in _INLINE_BUTTON_ACTIONS):
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                        raise _bad("BUTTON_DATA_INVALID")
                if "url" in button:
                    url = button["url"]
                    if not isinstance(url, str) or not _BUTTON_URL_RE.match(url):
                        raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
            return raw
        if "keyboard" in raw:
            rows = raw["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad(
                    'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
                )
            for button in (b for row in rows for b in row):
                if not isinstance(button, str) and not (
                    isinstance(button, dict) and isinstance(button.get("text"), str)
                ):
                    raise _bad("can't parse keyboard button: Can't find field \"text\"")
            return raw
        if raw.get("remove_keyboard") is True or raw.get("force_reply") is True:
            return raw
        raise _bad("can't parse reply keyboard markup JSON object")

    @staticmethod
    def _inline(markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """The reply_markup Telegram echoes in Message objects: non-empty inline keyboards."""
        if markup and markup.get("inline_keyboard") and any(markup["inline_keyboard"]):
            return {"inline_keyboard": markup["inline_keyboard"]}
        return None

    def _reply_to(self, chat: _Chat, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = params.get("reply_to_message_id")
            allow_missing = bool(params.get("allow_sending_without_reply"))
        if message_id is None:
            return None
        stored = chat.messages.get(_as_int(message_id, 0))
        if stored is None:
            if allow_missing:
                return None
            raise _bad("message to be replied not found")
        return self._reply_snapshot(stored)

    def _store_bot_message(
        self,
        chat: _Chat,
        params: dict[str, Any],
        body: dict[str, Any],
        *,
        markup: dict[str, Any] | None,
        parse_mode: str | None = None,
        source: str | None = None,
        file: _StoredFile | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": self.bot_user,
            "chat": chat.data,
            "date": int(time.time()),
        }
        reply = self._reply_to(chat, params)
        if reply is not None:
            message["reply_to_message"] = reply
        message.update(body)
        inline = self._inline(markup)
        if inline:
            message["reply_markup"] = inline
        if params.get("protect_content") is True:
            message["has_protected_content"] = True
        chat.bot_messages += 1
        chat.messages[message["message_id"]] = _Stored(
            json=message,
            from_bot=True,
            parse_mode=parse_mode,
            source=source,
            markup=markup,
            file=file,
        )
        return message

    def _upload(
        self, params: dict[str, Any], files: dict[str, UploadedFile], key: str, kind: str
    ) -> _StoredFile:
        """The file of a send* call: an upload, a known file_id, or an HTTP URL."""
        value = params.get(key)
        upload = files.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
        if upload is not None:
            return self._register_file(kind, upload.content, upload.filename, upload.content_type)
        if isinstance(value, str) and value:
            known = self._files.get(value)
            if known is not None:
                return known
            if value.startswith(("http://", "https://")):
                return self._register_file(kind, None, value.rsplit("/", 1)[-1], None)
            raise _bad("wrong file identifier/HTTP URL specified")
        raise _bad(f"there is no {key} in the request")

    # ---- methods ---------------------------------------------------------------------------

    @staticmethod
    def _true(params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        return True

    def _get_me(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _delete_webhook(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        self._webhook = None
        self._notify()
        if params.get("drop_pending_updates") is True:
            for update in self._updates:
                self._dropped[update["update_id"]] = "dropped by drop_pending_updates"
            self._updates.clear()
            self._notify()
        return True

    def _set_webhook(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        url = params.get("url")
        if not url:
            return self._delete_webhook(params, files)
        if not str(url).startswith("https://") and not _LOOPBACK_URL_RE.match(str(url)):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed = frozenset(allowed) if allowed else None
        if params.get("drop_pending_updates") is True:
            self._delete_webhook({"drop_pending_updates": True}, files)
        self._webhook = params
        self._webhook_error = None
        if self._webhook_task is None:
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhook())
        self._notify()
        return True

    async def _deliver_webhook(self) -> None:
        """Telegram's side of a webhook: POST the oldest update until it is answered 2xx,
        then the next (so each chat's updates arrive in order). Runs until stop()."""
        backoff = 0.0
        async with ClientSession(timeout=ClientTimeout(total=self.webhook_timeout)) as session:
            while not self._closing:
                hook = self._webhook
                batch = self._take(1) if hook is not None else []
                if hook is None or not batch:
                    await self._wait_change(1.0)
                    continue
                update = batch[0]
                if await self._post_update(session, hook, update):
                    backoff = 0.0
                    with contextlib.suppress(ValueError):
                        self._updates.remove(update)
                    self._delivered.add(update["update_id"])
                    self.confirmed_offset = max(self.confirmed_offset, update["update_id"] + 1)
                    self._notify()
                else:
                    low, high = _WEBHOOK_BACKOFF
                    backoff = min(max(backoff * 2, low), high)
                    await asyncio.sleep(backoff)

    async def _post_update(
        self, session: ClientSession, hook: dict[str, Any], update: dict[str, Any]
    ) -> bool:
        url = str(hook["url"])
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers[SECRET_HEADER] = str(hook["secret_token"])
        status, error = 0, None
        self._inflight += 1
        try:
            body = json.dumps(update, ensure_ascii=False).encode()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except (ClientError, TimeoutError) as exc:
            error = f"Connection failed: {exc!r}"
        finally:
            self._inflight -= 1
            self._last_activity = time.monotonic()
        delivery = WebhookDelivery(update["update_id"], url, status, error, time.monotonic())
        self.webhook_deliveries.append(delivery)
        if error is not None:
            self._webhook_error = (int(time.time()), error)
            self._notify()
        return error is None

    def _get_webhook_info(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": (self._webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook and self._webhook.get("allowed_updates"):
            info["allowed_updates"] = self._webhook["allowed_updates"]
        if self._webhook and self._webhook_error:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> str:
        scope = scope or {"type": "default"}
        return json.dumps([scope, language_code or ""], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" can\'t be parsed as an Array')
        if len(commands) > 100:
            raise _bad("too many commands specified")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand: Object expected")
            if not _SETTABLE_COMMAND_RE.match(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> list:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return list(self._commands.get(key, []))

    def _delete_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")), 0)
        return True

    def _send_message(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        markup = self._parse_markup(params.get("reply_markup"))
        text, entities, parse_mode, source = self._formatted(
            params, "text", "entities", caption=False
        )
        chat = self._target_chat(params)
        body: dict[str, Any] = {"text": text}
        if entities:
            body["entities"] = entities
        return self._store_bot_message(
            chat, params, body, markup=markup, parse_mode=parse_mode, source=source
        )

    def _send_photo(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict:
        markup = self._parse_markup(params.get("reply_markup"))
        caption, entities, parse_mode, source = self._formatted(
            params, "caption", "caption_entities", caption=True
        )
        chat = self._target_chat(params)
        file = self._upload(params, files, "photo", "photo")
        body: dict[str, Any] = {"photo": self._photo_sizes(file)}
        if caption:
            body["caption"] = caption
        if entities:
            body["caption_entities"] = entities
        return self._store_bot_message(
            chat, params, body, markup=markup, parse_mode=parse_mode, source=source, file=file
        )

    def _send_document(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict:
        markup = self._parse_markup(params.get("reply_markup"))
        caption, entities, parse_mode, source = self._formatted(
            params, "caption", "caption_entities", caption=True
        )
        chat = self._target_chat(params)
        file = self._upload(params, files, "document", "document")
        body: dict[str, Any] = {"document": self._file_object(file, "document")}
        if caption:
            body["caption"] = caption
        if entities:
            body["caption_entities"] = entities
        return self._store_bot_message(
            chat, params, body, markup=markup, parse_mode=parse_mode, source=source, file=file
        )

    def _send_location(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict:
        markup = self._parse_markup(params.get("reply_markup"))
        chat = self._target_chat(params)
        latitude, longitude = params.get("latitude"), params.get("longitude")
        if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
            raise _bad("wrong latitude or longitude specified")
        body = {"location": {"latitude": latitude, "longitude": longitude}}
        return self._store_bot_message(chat, params, body, markup=markup)

    def _editable(self, params: dict[str, Any]) -> tuple[_Chat, _Stored]:
        if params.get("inline_message_id"):
            raise _bad("message to edit not found")
        chat = self._target_chat(params)
        stored = chat.messages.get(self._message_id(params))
        if stored is None:
            raise _bad("message to edit not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return chat, stored

    @staticmethod
    def _not_modified() -> _ApiError:
        return _bad(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )

    def _apply_edit(
        self,
        stored: _Stored,
        changes: dict[str, Any],
        markup: dict[str, Any] | None,
        *,
        parse_mode: str | None = None,
        source: str | None = None,
        keep_source: bool = False,
    ) -> dict[str, Any]:
        """Replace the stored message (never mutate: snapshots handed out stay valid)."""
        inline = self._inline(markup)
        old = stored.json
        unchanged = all(old.get(k) == v for k, v in changes.items() if v is not None) and all(
            k in old for k, v in changes.items() if v is not None
        )
        removed = [k for k, v in changes.items() if v is None and k in old]
        if unchanged and not removed and old.get("reply_markup") == inline:
            raise self._not_modified()
        message = {**old, "edit_date": int(time.time())}
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        if inline:
            message["reply_markup"] = inline
        else:
            message.pop("reply_markup", None)
        stored.json = message
        stored.markup = markup
        stored.edited = True
        if not keep_source:
            stored.parse_mode, stored.source = parse_mode, source
        return message

    def _edit_message_text(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        markup = self._parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        text, entities, parse_mode, source = self._formatted(
            params, "text", "entities", caption=False
        )
        _, stored = self._editable(params)
        if "text" not in stored.json:
            raise _bad("there is no text in the message to edit")
        changes = {"text": text, "entities": entities or None}
        return self._apply_edit(stored, changes, markup, parse_mode=parse_mode, source=source)

    def _edit_message_caption(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        markup = self._parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        caption, entities, parse_mode, source = self._formatted(
            params, "caption", "caption_entities", caption=True
        )
        _, stored = self._editable(params)
        if "text" in stored.json:
            raise _bad("there is no caption in the message to edit")
        changes = {"caption": caption or None, "caption_entities": entities or None}
        return self._apply_edit(stored, changes, markup, parse_mode=parse_mode, source=source)

    def _edit_message_reply_markup(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        markup = self._parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        _, stored = self._editable(params)
        return self._apply_edit(stored, {}, markup, keep_source=True)

    def _delete_message(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        chat = self._target_chat(params)
        message_id = self._message_id(params)
        stored = chat.messages.get(message_id)
        if stored is None:
            raise _bad("message to delete not found")
        if not stored.from_bot and chat.type != "private":
            raise _bad("message can't be deleted")
        del chat.messages[message_id]
        chat.bot_messages -= stored.from_bot
        return True

    def _delete_messages(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        chat = self._target_chat(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a non-empty list of at most 100 identifiers")
        for message_id in ids:
            stored = chat.messages.get(_as_int(message_id, 0))
            if stored is not None and (stored.from_bot or chat.type == "private"):
                del chat.messages[int(message_id)]
                chat.bot_messages -= stored.from_bot
        return True

    def _answer_callback_query(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        opened = self._open_queries.get(query_id)
        if opened is None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > _CALLBACK_TEXT_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        del self._open_queries[query_id]
        update_id, user_id = opened
        answer = CallbackAnswer(
            query_id=query_id,
            update_id=update_id,
            user_id=user_id,
            text=None if text is None else str(text),
            show_alert=params.get("show_alert") is True,
            url=params.get("url"),
            cache_time=params.get("cache_time"),
        )
        self.callback_answers.append(answer)
        self._answers[query_id] = answer
        return True

    def _send_chat_action(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> bool:
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._target_chat(params)
        return True

    def _get_file(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": stored.size,
            "file_path": stored.path,
        }

    def _get_chat(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict:
        chat = self._target_chat(params)
        return {
            **chat.data,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
