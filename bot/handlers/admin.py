"""For the people running the bot: /stats, and a nudge when something breaks."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from telegram import Update
from telegram.ext import ContextTypes, filters

from bot.services import services
from bot.storage.repository import totals

log = logging.getLogger(__name__)
ALERT_EVERY = 300.0  # seconds: one alert per burst of errors is enough to look at the logs


def only(admins: frozenset[int]) -> filters.BaseFilter:
    """Everyone else falls through to the unknown-command reply, as if /stats did not exist."""
    return filters.User(user_id=admins)


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    assert update.effective_chat
    counts = await totals(s.repo.engine)
    outcomes = await s.reminders.deliveries_since(s.clock() - timedelta(hours=24))
    review = await s.faq_log.review(limit=5)
    unanswered = "\n".join(f"{n}x {q}" for q, n in review.unmatched) or "-"
    await update.effective_chat.send_message(
        s.knowledge.text(
            "stats",
            users=counts["users"],
            assessments=counts["assessments"],
            reminders=counts["active_reminders"],
            sent=outcomes.get("sent", 0),
            failed=outcomes.get("failed", 0),
            blocked=outcomes.get("blocked", 0),
            skipped=outcomes.get("skipped", 0),
            unanswered=unanswered,
        )
    )


async def alert(context: ContextTypes.DEFAULT_TYPE, update_id: int | None) -> None:
    """Tell the admins an update failed, at most once per ALERT_EVERY; details stay in the log."""
    s = services(context)
    now = time.monotonic()
    if not s.admins or now - context.bot_data.get("last_alert", -ALERT_EVERY) < ALERT_EVERY:
        return
    context.bot_data["last_alert"] = now
    error = type(context.error).__name__ if context.error else "error"
    for admin_id in s.admins:
        try:
            await context.bot.send_message(
                admin_id, s.knowledge.text("admin_alert", update=update_id, error=error)
            )
        except Exception:  # an admin who blocked the bot must not hide the original error
            log.warning("could not alert admin %s", admin_id)
