"""Configuration from the environment (and `.env`); one clear line per problem."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_DIR / 'data' / 'ankle-bot.db'}"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # Telegram's rule for secret_token
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ConfigError(Exception):
    """Bad configuration; the message is a single line meant for the operator."""


@dataclass(frozen=True)
class Reminders:
    """How the reminder dispatcher behaves; the defaults suit Telegram's published limits."""

    grace: timedelta = timedelta(hours=2)
    tick: float = 5.0  # seconds between looks for due reminders
    lease: timedelta = timedelta(minutes=2)
    batch: int = 100
    overall_per_second: float = 30.0
    per_chat_per_second: float = 1.0


@dataclass(frozen=True)
class Webhook:
    """Telegram POSTs updates to `url`; we listen on `listen:port`, usually behind a proxy."""

    url: str
    secret: str = field(repr=False)
    listen: str = "127.0.0.1"
    port: int = 8443

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


@dataclass(frozen=True)
class Settings:
    token: str | None
    api_base_url: str | None
    database_url: str
    log_level: str
    reminders: Reminders = field(default_factory=Reminders)
    admin_ids: frozenset[int] = frozenset()
    webhook: Webhook | None = None  # None: long polling

    @property
    def console(self) -> bool:
        """Without a token the bot chats in the terminal instead of Telegram."""
        return self.token is None


def normalise_database_url(url: str) -> str:
    """Accept the URLs people usually have and pick the async driver for them."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ConfigError(
        "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
        f"(got scheme '{url.split(':', 1)[0]}')"
    )


def load_settings(env: Mapping[str, str]) -> Settings:
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
    if token is not None and not _TOKEN.match(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits:secret)")
    base_url = env.get("TELEGRAM_API_BASE_URL", "").strip() or None
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "TELEGRAM_API_BASE_URL must be an http(s) URL, e.g. http://127.0.0.1:8081/bot"
            )
    level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR (got '{level}')")
    database_url = normalise_database_url(
        env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    )
    reminders = Reminders(
        grace=timedelta(minutes=_number(env, "REMINDER_GRACE_MINUTES", 120)),
        tick=_number(env, "REMINDER_TICK_SECONDS", 5),
        lease=timedelta(seconds=_number(env, "REMINDER_LEASE_SECONDS", 120)),
        overall_per_second=_number(env, "SEND_RATE_PER_SECOND", 30),
        per_chat_per_second=_number(env, "SEND_RATE_PER_CHAT_PER_SECOND", 1),
    )
    admins = env.get("ADMIN_USER_IDS", "").replace(",", " ").split()
    if not all(a.isdigit() for a in admins):
        raise ConfigError("ADMIN_USER_IDS must be Telegram user ids (numbers), separated by commas")
    return Settings(
        token,
        base_url,
        database_url,
        level,
        reminders,
        frozenset(int(a) for a in admins),
        webhook=_webhook(env, token),
    )


def _webhook(env: Mapping[str, str], token: str | None) -> Webhook | None:
    """Webhook mode when WEBHOOK_URL is set; its secret is what tells Telegram from strangers."""
    url = env.get("WEBHOOK_URL", "").strip()
    if not url:
        return None
    if token is None:
        raise ConfigError("WEBHOOK_URL needs TELEGRAM_BOT_TOKEN (console mode has no webhook)")
    try:
        parts = urlsplit(url)
        scheme, host, _ = parts.scheme, parts.hostname, parts.port  # .port raises if not a port
    except ValueError:
        scheme, host = "", None
    if not host or not (scheme == "https" or (scheme == "http" and host in _LOOPBACK)):
        raise ConfigError(
            "WEBHOOK_URL must be an https URL, e.g. https://bot.example.org/telegram "
            "(http only on 127.0.0.1 or localhost)"
        )
    secret = env.get("WEBHOOK_SECRET", "").strip()
    if not _WEBHOOK_SECRET.fullmatch(secret):
        problem = "is required with WEBHOOK_URL" if not secret else "is not valid"
        raise ConfigError(f"WEBHOOK_SECRET {problem}: 1-256 characters of A-Z, a-z, 0-9, _ and -")
    port = env.get("WEBHOOK_PORT", "").strip() or "8443"
    if not (port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(f"WEBHOOK_PORT must be a port number, 1-65535 (got '{port}')")
    listen = env.get("WEBHOOK_LISTEN", "").strip() or "127.0.0.1"
    return Webhook(url, secret, listen, int(port))


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not value > 0:
        raise ConfigError(f"{name} must be a positive number (got '{raw}')")
    return value
