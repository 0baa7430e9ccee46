"""What the FAQ learns from use, for curators: never linked to a user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.storage.models import FaqEvent

QUESTION_CHARS = 300


@dataclass(frozen=True)
class Review:
    unmatched: list[tuple[str, int]]  # question, times asked
    confirmed: list[tuple[str, str, int]]  # question, entry it was confirmed as, times
    feedback: list[tuple[str, int, int]]  # entry, helpful, not helpful


class FaqLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def record(
        self, kind: str, *, entry_id: str | None = None, question: str | None = None
    ) -> int:
        async with self._sessions.begin() as session:
            event = FaqEvent(
                kind=kind,
                entry_id=entry_id,
                question=question[:QUESTION_CHARS] if question else None,
            )
            session.add(event)
            await session.flush()
            return event.id

    async def take_suggested(self, event_id: int) -> str | None:
        """The question behind a "Did you mean" prompt, once: a second tap gets None."""
        async with self._sessions.begin() as session:
            return await session.scalar(
                update(FaqEvent)
                .where(FaqEvent.id == event_id, FaqEvent.kind == "suggested")
                .values(kind="resolved")
                .returning(FaqEvent.question)
            )

    async def review(self, limit: int = 50) -> Review:
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
