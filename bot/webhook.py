"""Webhook mode: Telegram POSTs each update to us instead of us polling for it.

A small aiohttp server rather than PTB's tornado-based `start_webhook`, so that the secret check,
the refusal and its log line are ours. Any number of instances can serve one URL behind a load
balancer: updates carry no state between requests, and reminders are claimed in the database.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.app import prepare, start_reminders
from bot.app import stop as stop_app
from bot.config import ConfigError, Webhook

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def server(app: Application, path: str, secret: str) -> web.Application:  # type: ignore[type-arg]
    """POST `path`: one update per request, queued for the handlers and answered at once (a
    slow answer makes Telegram hold back that chat's next updates). GET /healthz: for the
    load balancer."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode(errors="surrogateescape")
        if not hmac.compare_digest(given, expected):
            problem = "wrong" if given else "no"
            log.warning("webhook request refused (%s secret) from %s", problem, _peer(request))
            return web.Response(status=403)
        try:
            update = Update.de_json(await request.json(), app.bot)
        except Exception:  # not JSON, or not an update: nothing Telegram would send
            log.warning("webhook request refused (not an update) from %s", _peer(request))
            return web.Response(status=400)
        await app.update_queue.put(update)
        return web.Response()

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok") if app.running else web.Response(status=503)

    routes = web.Application()
    routes.router.add_post(path, receive)
    routes.router.add_get("/healthz", health)
    return routes


def _peer(request: web.Request) -> str:
    """Behind a reverse proxy the peer is the proxy: add whom it says it forwarded for."""
    forwarded = request.headers.get("X-Forwarded-For", "")[:100]
    return f"{request.remote} (for {forwarded})" if forwarded else str(request.remote)


async def serve(app: Application, stop: asyncio.Event, webhook: Webhook) -> None:  # type: ignore[type-arg]
    """Serve the webhook until `stop` is set. The webhook stays registered on the way out:
    other instances behind the same URL keep serving, and Telegram keeps what it could not
    deliver until one is back."""
    runner = web.AppRunner(
        server(app, webhook.path, webhook.secret), access_log=None, shutdown_timeout=5
    )
    try:
        await start(app, runner, webhook)
        where = f"{webhook.listen}:{webhook.port}"
        log.info("bot started (webhook %s, listening on %s)", webhook.url, where)
        await stop.wait()
    finally:
        await runner.cleanup()  # stop accepting; requests in flight are answered
        await stop_app(app)  # claims handed back, queued updates handled, connections closed
    log.info("bot stopped")


async def start(app: Application, runner: web.AppRunner, webhook: Webhook) -> None:  # type: ignore[type-arg]
    """`bot.app.start` with the webhook in place of long polling: listen first, then tell
    Telegram where to post."""
    await prepare(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, webhook.listen, webhook.port).start()
    except OSError as e:  # taken, or a privileged port: the operator's to fix
        where, why = f"{webhook.listen}:{webhook.port}", os.strerror(e.errno) if e.errno else e
        raise ConfigError(f"WEBHOOK_LISTEN/WEBHOOK_PORT: cannot listen on {where}: {why}") from None
    await app.bot.set_webhook(
        webhook.url, secret_token=webhook.secret, allowed_updates=Update.ALL_TYPES
    )
    start_reminders(app)
