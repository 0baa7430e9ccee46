"""Reminder schedules, their delivery leases, done sessions, and the set-up a user is typing.

The dispatcher never keeps schedules in memory: it claims a batch of due rows with a lease
(`claimed_until`, `claim_token`), sends, and writes the next due time back under that same
token. A worker that dies leaves its lease to expire and another picks the rows up. On
PostgreSQL `FOR UPDATE SKIP LOCKED` lets several instances claim side by side; on SQLite the
single UPDATE is atomic on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.core.schedule import Schedule
from bot.storage.models import Delivery, Reminder, SessionDone, Setup
from bot.storage.repository import ensure_user, insert_for


@dataclass(frozen=True)
class Saved:
    user_id: int
    chat_id: int
    schedule: Schedule
    next_due: datetime | None
    attempts: int = 0  # failed sends of the current occurrence, for back-off


def _schedule(row: Reminder) -> Schedule:
    return Schedule(
        time.fromisoformat(row.local_time),
        row.zone,
        frozenset(int(d) for d in row.days),
        row.paused,
    )


def _saved(row: Reminder) -> Saved:
    return Saved(row.user_id, row.chat_id, _schedule(row), row.next_due, row.attempts)


class ReminderStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get(self, user_id: int) -> Saved | None:
        async with self._sessions() as session:
            row = await session.get(Reminder, user_id)
            return _saved(row) if row else None

    async def save(
        self, user_id: int, chat_id: int, schedule: Schedule, next_due: datetime | None
    ) -> None:
        """Create or replace a schedule; any lease on the old one is dropped with it."""
        values: dict[str, Any] = {
            "chat_id": chat_id,
            "local_time": schedule.local_time.strftime("%H:%M"),
            "days": "".join(str(d) for d in sorted(schedule.days)),
            "zone": schedule.zone,
            "paused": schedule.paused,
            "next_due": next_due,
            "claimed_until": None,
            "claim_token": None,
            "attempts": 0,
        }
        async with self._sessions.begin() as session:
            await ensure_user(session, user_id, chat_id)
            stmt = insert_for(self.engine)(Reminder).values(user_id=user_id, **values)
            await session.execute(
                stmt.on_conflict_do_update(index_elements=[Reminder.user_id], set_=values)
            )

    async def move(self, user_id: int, next_due: datetime | None) -> bool:
        """Snooze or skip: only the next due time changes."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Reminder)
                .where(Reminder.user_id == user_id)
                .values(next_due=next_due, claimed_until=None, claim_token=None, attempts=0)
            )
            return result.rowcount == 1

    async def delete(self, user_id: int) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(Reminder).where(Reminder.user_id == user_id))
            return result.rowcount > 0

    # --- the dispatcher's side -----------------------------------------------------------
    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta, token: str
    ) -> list[tuple[Saved, datetime]]:
        """Lease up to `limit` due reminders to `token`; returns them with their due time."""
        due = (
            select(Reminder.user_id)
            .where(
                Reminder.next_due <= now,
                or_(Reminder.claimed_until.is_(None), Reminder.claimed_until < now),
            )
            .order_by(Reminder.next_due)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(Reminder)
            .where(Reminder.user_id.in_(due))
            .values(claimed_until=now + lease, claim_token=token)
            .returning(Reminder)
            .execution_options(synchronize_session=False)
        )
        async with self._sessions.begin() as session:
            claimed = [(_saved(r), r.next_due) for r in await session.scalars(claim) if r.next_due]
        return sorted(claimed, key=lambda pair: pair[1])

    async def finish(
        self, user_id: int, token: str, *, due: datetime, outcome: str, next_due: datetime | None
    ) -> bool:
        """Record the outcome and release the lease, unless another worker took it over."""
        values: dict[str, Any] = {"claimed_until": None, "claim_token": None, "attempts": 0}
        values["next_due"] = next_due
        if outcome == "blocked":
            values["paused"] = True
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Reminder)
                .where(Reminder.user_id == user_id, Reminder.claim_token == token)
                .values(**values)
            )
            if result.rowcount != 1:
                return False
            session.add(Delivery(user_id=user_id, due=due, outcome=outcome))
            return True

    async def retry_at(self, user_id: int, token: str, at: datetime) -> bool:
        """Keep the reminder due but out of reach until `at`."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Reminder)
                .where(Reminder.user_id == user_id, Reminder.claim_token == token)
                .values(claimed_until=at, claim_token=None, attempts=Reminder.attempts + 1)
            )
            return result.rowcount == 1

    async def release(self, token: str) -> int:
        """On shutdown: hand this worker's unfinished claims straight back."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Reminder)
                .where(Reminder.claim_token == token)
                .values(claimed_until=None, claim_token=None)
            )
            return result.rowcount

    async def deliveries_since(self, since: datetime) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Delivery.outcome, func.count())
                .where(Delivery.at >= since)
                .group_by(Delivery.outcome)
            )
            return {outcome: count for outcome, count in rows}

    # --- sessions done -------------------------------------------------------------------
    async def mark_done(self, user_id: int, chat_id: int, day: date) -> bool:
        """False when that day was already recorded: a second tap on Done counts once."""
        async with self._sessions.begin() as session:
            await ensure_user(session, user_id, chat_id)
            stmt = insert_for(self.engine)(SessionDone).values(user_id=user_id, day=day)
            result = await session.execute(stmt.on_conflict_do_nothing())
            return result.rowcount == 1

    async def done_days(self, user_id: int) -> list[date]:
        async with self._sessions() as session:
            days = await session.scalars(
                select(SessionDone.day).where(SessionDone.user_id == user_id)
            )
            return sorted(days)

    # --- what the user is typing for the set-up ------------------------------------------
    async def awaiting(self, user_id: int) -> tuple[str, dict[str, Any]] | None:
        async with self._sessions() as session:
            row = await session.get(Setup, user_id)
            return (row.awaiting, dict(row.state)) if row else None

    async def expect(
        self, user_id: int, chat_id: int, awaiting: str, state: dict[str, Any]
    ) -> None:
        async with self._sessions.begin() as session:
            await ensure_user(session, user_id, chat_id)
            stmt = insert_for(self.engine)(Setup).values(
                user_id=user_id, awaiting=awaiting, state=state
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[Setup.user_id], set_={"awaiting": awaiting, "state": state}
                )
            )

    async def stop_expecting(self, user_id: int) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(Setup).where(Setup.user_id == user_id))
            return result.rowcount > 0
