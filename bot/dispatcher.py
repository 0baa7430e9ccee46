"""Send due reminders: claim a batch with a lease, send, write the outcome back.

At least once: a reminder is only marked sent after Telegram accepted it, so a crash between
the two sends it again once the lease runs out (the only way to get a duplicate). Nothing is
kept in memory between ticks, and any number of instances can run this side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot import render
from bot.core.programme import build_programme
from bot.core.schedule import Reschedule, catch_up, local_date
from bot.core.sessions import retest_due, todays_session
from bot.services import Services
from bot.storage.reminders import Saved

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(minutes=10)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Dispatcher:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.token = uuid.uuid4().hex  # this worker's name on the leases it holds

    async def run(self, bot: Bot, stop: asyncio.Event) -> None:
        """Tick until `stop`; a failing tick is logged and the next one tries again."""
        while not stop.is_set():
            try:
                await self.tick(bot)
            except Exception:
                log.exception("reminder tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.s.config.tick)
        released = await self.s.reminders.release(self.token)
        log.info("reminder dispatcher stopped, %d claim(s) released", released)

    async def tick(self, bot: Bot) -> int:
        """Send everything due now, batch by batch; returns how many were sent."""
        sent = 0
        while True:
            now = self.s.clock()
            batch = await self.s.reminders.claim_due(
                now, limit=self.s.config.batch, lease=self.s.config.lease, token=self.token
            )
            if not batch:
                return sent
            results = await asyncio.gather(*(self._deliver(bot, r, due, now) for r, due in batch))
            sent += sum(results)
            if len(batch) < self.s.config.batch:
                return sent

    async def _deliver(self, bot: Bot, reminder: Saved, due: datetime, now: datetime) -> bool:
        store, user_id = self.s.reminders, reminder.user_id
        decision = catch_up(due, now, reminder.schedule, self.s.config.grace)
        if isinstance(decision, Reschedule):
            await store.finish(
                user_id, self.token, due=due, outcome="skipped", next_due=decision.at
            )
            return False
        try:
            text, keyboard = await self._message(reminder, now)
            await bot.send_message(
                reminder.chat_id, text, reply_markup=keyboard, rate_limit_args={"bulk": True}
            )
        except Forbidden:
            log.info("user %s blocked the bot: reminders turned off", user_id)
            await store.finish(user_id, self.token, due=due, outcome="blocked", next_due=None)
            return False
        except RetryAfter as e:
            at = now + timedelta(seconds=_seconds(e.retry_after))
            await store.retry_at(user_id, self.token, at)
            return False
        except BadRequest as e:
            # Telegram will refuse this one every time: move on to the next occurrence.
            log.warning("reminder for user %s refused: %s", user_id, e.message)
            await store.finish(
                user_id, self.token, due=due, outcome="failed", next_due=decision.then
            )
            return False
        except NetworkError:
            backoff = min(timedelta(seconds=2 ** (reminder.attempts + 1)), MAX_BACKOFF)
            await store.retry_at(user_id, self.token, now + backoff)
            log.warning("reminder for user %s: network error, retry in %s", user_id, backoff)
            return False
        await store.finish(user_id, self.token, due=due, outcome="sent", next_due=decision.then)
        return True

    async def _message(self, reminder: Saved, now: datetime) -> tuple[str, render.Keyboard]:
        k = self.s.knowledge
        tests = await self.s.repo.assessments(reminder.user_id)
        factors = tests[-1].factors if tests else ()
        programme = build_programme(factors, k.blocks, k.exercises)
        day = local_date(reminder.schedule.zone, now)
        retest = retest_due(tests[-1].created_at if tests else None, now)
        return render.reminder(k, todays_session(programme, day), day, retest=retest)
