"""What the FAQ learns from use, for curators: never linked to a user."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.storage.models import FaqEvent

QUESTION_CHARS = 300
TICKET = re.compile(r"([1-9][0-9]{0,8})\.([0-9a-f]{8})")  # ids below 2**31 on every database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Review:
    unmatched: list[tuple[str, int]]  # question, times asked
    confirmed: list[tuple[str, str, int]]  # question, entry it was confirmed as, times
    feedback: list[tuple[str, int, int]]  # entry, helpful, not helpful


def _event(kind: str, entry_id: str | None, question: str | None) -> dict[str, Any]:
    return {
        "kind": kind,
        "entry_id": entry_id,
        "question": question[:QUESTION_CHARS] if question else None,
    }


class FaqLog:
    """Events are written in batches, off the reply path (`note`), except the one a button
    must find at once (`suggest`). A crash loses at most `delay` seconds of curation data,
    never anything of a user's."""

    def __init__(self, engine: AsyncEngine, *, delay: float = 0.5) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._delay = delay
        self._queued: list[dict[str, Any]] = []
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def suggest(self, question: str) -> str:
        """Keep the question behind a "Did you mean" prompt; its buttons carry the returned
        ticket, which another user cannot guess."""
        nonce = secrets.token_hex(4)
        async with self._sessions.begin() as session:
            event = FaqEvent(**_event("suggested", None, question), nonce=nonce)
            session.add(event)
            await session.flush()
            return f"{event.id}.{nonce}"

    def note(self, kind: str, *, entry_id: str | None = None, question: str | None = None) -> None:
        """Queue an event; it is written with others within `delay` seconds."""
        self._queued.append(_event(kind, entry_id, question))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(self._delay)
        await self.flush()

    async def flush(self) -> None:
        """Write whatever is queued (at shutdown, and before a review reads the table)."""
        async with self._lock:
            rows, self._queued = self._queued, []
            if not rows:
                return
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(FaqEvent), rows)
            except Exception:  # curation data only: say so, and keep the bot answering
                log.exception("could not write %d FAQ events for curators", len(rows))

    async def take_suggested(self, ticket: str) -> str | None:
        """The question behind a "Did you mean" prompt, once: a second tap, or a ticket that
        is not one of ours, gets None."""
        if not (found := TICKET.fullmatch(ticket)):
            return None
        event_id, nonce = int(found[1]), found[2]
        async with self._sessions.begin() as session:
            return await session.scalar(
                update(FaqEvent)
                .where(FaqEvent.id == event_id, FaqEvent.nonce == nonce)
                .where(FaqEvent.kind == "suggested")
                .values(kind="resolved")
                .returning(FaqEvent.question)
            )

    async def close(self) -> None:
        """Write what is queued and stop the timer: the last thing before the engine goes."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        await self.flush()

    async def review(self, limit: int = 50) -> Review:
        await self.flush()
        async with self._sessions() as session:
            asked = func.count().label("n")
            unmatched = await session.execute(
                select(FaqEvent.question, asked)
                .where(FaqEvent.kind == "unmatched", FaqEvent.question.is_not(None))
                .group_by(FaqEvent.question)
                .order_by(asked.desc(), FaqEvent.question)
                .limit(limit)
            )
            confirmed = await session.execute(
                select(FaqEvent.question, FaqEvent.entry_id, asked)
                .where(FaqEvent.kind == "confirmed")
                .group_by(FaqEvent.question, FaqEvent.entry_id)
                .order_by(asked.desc(), FaqEvent.question)
                .limit(limit)
            )
            helpful = func.sum(func.cast(FaqEvent.kind == "helpful", type_=FaqEvent.id.type))
            unhelpful = func.sum(func.cast(FaqEvent.kind == "not_helpful", type_=FaqEvent.id.type))
            feedback = await session.execute(
                select(FaqEvent.entry_id, helpful, unhelpful)
                .where(FaqEvent.kind.in_(("helpful", "not_helpful")))
                .group_by(FaqEvent.entry_id)
                .order_by(unhelpful.desc(), FaqEvent.entry_id)
            )
            return Review(
                [(q or "", n) for q, n in unmatched],
                [(q or "", e or "", n) for q, e, n in confirmed],
                [(e or "", int(h or 0), int(u or 0)) for e, h, u in feedback],
            )
