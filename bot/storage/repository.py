"""The queries the bot needs, behind one small class; handlers never see SQL or sessions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.core.assessment import Draft, Leg, Result
from bot.storage.models import (
    Assessment,
    AssessmentDraft,
    Base,
    Delivery,
    Reminder,
    SessionDone,
    Setup,
    User,
    utcnow,
)


@dataclass(frozen=True)
class SavedAssessment:
    id: int
    created_at: datetime
    left_cm: float
    right_cm: float
    same_for_both: bool
    factors: tuple[str, ...]


@dataclass(frozen=True)
class Pending:
    """What a user's typed text answers, if anything: the open assessment or set-up question."""

    draft: Draft | None = None
    setup: tuple[str, dict[str, Any]] | None = None  # what is awaited, the set-up's state


_PENDING = (
    select(AssessmentDraft.rev, AssessmentDraft.state, Setup.awaiting, Setup.state)
    .select_from(User)
    .outerjoin(AssessmentDraft, AssessmentDraft.user_id == User.id)
    .outerjoin(Setup, Setup.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)


def insert_for(engine: AsyncEngine) -> type[postgresql.Insert] | type[sqlite.Insert]:
    """The dialect's INSERT, for ON CONFLICT upserts (both databases speak it)."""
    return postgresql.Insert if engine.dialect.name == "postgresql" else sqlite.Insert


async def ensure_user(session: AsyncSession, user_id: int, chat_id: int) -> None:
    """Every row that belongs to a person hangs off `users`, so it is created on first need."""
    bind = session.bind
    assert isinstance(bind, AsyncEngine)
    stmt = insert_for(bind)(User).values(id=user_id, chat_id=chat_id, created_at=utcnow())
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[User.id], set_={"chat_id": chat_id})
    )


class Repository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # A lone SELECT needs no transaction: on PostgreSQL that saves the BEGIN and ROLLBACK
        # round trips; SQLite opens none for a read anyway (and switching costs it a call).
        postgres = engine.dialect.name == "postgresql"
        self._reads = engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else engine

    def _insert(self) -> type[postgresql.Insert] | type[sqlite.Insert]:
        return insert_for(self.engine)

    async def pending(self, user_id: int) -> Pending:
        """Draft and set-up in one round trip. It runs on every typed message, so it is one
        prebuilt Core statement on a bare connection (no ORM session, no statement building)."""
        async with self._reads.connect() as conn:
            row = (await conn.execute(_PENDING, {"user_id": user_id})).first()
        if row is None:  # never seen: nothing can be open
            return Pending()
        rev, draft, awaiting, setup = row
        return Pending(
            replace(Draft.from_json(draft), rev=rev) if rev is not None else None,
            (awaiting, dict(setup)) if awaiting is not None else None,
        )

    async def get_draft(self, user_id: int) -> Draft | None:
        async with self._sessions() as session:
            row = await session.get(AssessmentDraft, user_id)
            return replace(Draft.from_json(row.state), rev=row.rev) if row else None

    async def start_draft(self, user_id: int, chat_id: int) -> Draft:
        """Replace any unfinished assessment with a fresh one. Its rev continues past the old
        one's, or starts at random after a cancel, so that buttons left over from an abandoned
        assessment are recognised as stale."""
        fresh = Draft()
        async with self._sessions.begin() as session:
            await ensure_user(session, user_id, chat_id)
            stmt = self._insert()(AssessmentDraft).values(
                user_id=user_id,
                rev=secrets.randbelow(2**30),
                state=fresh.to_json(),
                updated_at=utcnow(),
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[AssessmentDraft.user_id],
                set_={
                    "rev": AssessmentDraft.rev + 1,
                    "state": fresh.to_json(),
                    "updated_at": utcnow(),
                },
            ).returning(AssessmentDraft.rev)
            rev = (await session.execute(stmt)).scalar_one()
        return replace(fresh, rev=rev)

    async def save_draft(self, user_id: int, expected_rev: int, draft: Draft) -> bool:
        """Compare-and-set: False when another update (a double tap, another instance) won."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(AssessmentDraft)
                .where(AssessmentDraft.user_id == user_id, AssessmentDraft.rev == expected_rev)
                .values(rev=draft.rev, state=draft.to_json(), updated_at=utcnow())
            )
            return result.rowcount == 1

    async def delete_draft(self, user_id: int) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(AssessmentDraft).where(AssessmentDraft.user_id == user_id)
            )
            return result.rowcount > 0

    async def finish_assessment(
        self, user_id: int, expected_rev: int, draft: Draft, result: Result
    ) -> SavedAssessment | None:
        """Store the result and drop the draft in one transaction, so it is saved exactly once."""
        async with self._sessions.begin() as session:
            gone = await session.execute(
                delete(AssessmentDraft).where(
                    AssessmentDraft.user_id == user_id, AssessmentDraft.rev == expected_rev
                )
            )
            if gone.rowcount != 1:
                return None
            by_leg = {r.leg: r for r in result.legs}
            left = by_leg.get(Leg.LEFT) or by_leg[Leg.BOTH]
            right = by_leg.get(Leg.RIGHT) or by_leg[Leg.BOTH]
            row = Assessment(
                user_id=user_id,
                created_at=utcnow(),
                left_cm=left.cm,
                right_cm=right.cm,
                same_for_both=Leg.BOTH in by_leg,
                left_location=left.location,
                right_location=right.location,
                factors=list(result.factors),
                answers=draft.to_json(),
            )
            session.add(row)
            await session.flush()
            return _saved(row)

    async def assessments(self, user_id: int) -> list[SavedAssessment]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Assessment)
                .where(Assessment.user_id == user_id)
                .order_by(Assessment.created_at, Assessment.id)
            )
            return [_saved(row) for row in rows]


def _saved(row: Assessment) -> SavedAssessment:
    return SavedAssessment(
        row.id, row.created_at, row.left_cm, row.right_cm, row.same_for_both, tuple(row.factors)
    )


# Every table that holds a person's rows, and the column that names them.
PERSONAL: tuple[tuple[type[Base], str], ...] = (
    (User, "id"),
    (AssessmentDraft, "user_id"),
    (Assessment, "user_id"),
    (Reminder, "user_id"),
    (Setup, "user_id"),
    (SessionDone, "user_id"),
    (Delivery, "user_id"),
)


async def export_user(engine: AsyncEngine, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about one person, table by table, as JSON-ready values."""
    result: dict[str, list[dict[str, Any]]] = {}
    async with async_sessionmaker(engine)() as session:
        for model, column in PERSONAL:
            rows = await session.scalars(select(model).where(getattr(model, column) == user_id))
            result[model.__tablename__] = [_plain(row) for row in rows]
    return result


def _plain(row: Base) -> dict[str, Any]:
    values = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in values.items()}


async def forget_user(engine: AsyncEngine, user_id: int) -> int:
    """Delete every row that belongs to the person, in one transaction; returns the count.
    Explicit deletes, child tables first, rather than trusting every database's cascades."""
    deleted = 0
    async with async_sessionmaker(engine).begin() as session:
        for model, column in reversed(PERSONAL):
            result = await session.execute(delete(model).where(getattr(model, column) == user_id))
            deleted += result.rowcount
    return deleted


async def totals(engine: AsyncEngine) -> dict[str, int]:
    """Counts for the admin's /stats: people, tests, reminders that will fire."""
    async with async_sessionmaker(engine)() as session:
        return {
            "users": await session.scalar(select(func.count()).select_from(User)) or 0,
            "assessments": await session.scalar(select(func.count()).select_from(Assessment)) or 0,
            "active_reminders": await session.scalar(
                select(func.count()).where(Reminder.next_due.is_not(None))
            )
            or 0,
        }
