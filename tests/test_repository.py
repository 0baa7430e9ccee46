"""The repository on both databases: the guarantees handlers rely on."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, text
from sqlalchemy.exc import IntegrityError

from bot.core.assessment import Draft, Step, evaluate
from bot.knowledge import Knowledge
from bot.storage.curation import FaqLog
from bot.storage.models import Base, FaqEvent
from bot.storage.repository import Repository


def _finished(draft: Draft) -> Draft:
    draft = draft.choose_mode(same_for_both=True).give_distance(6.5, "6.5")
    return draft.confirm_heel(True).choose_location("front")


async def test_draft_survives_a_new_repository_on_the_same_database(repo: Repository) -> None:
    draft = await repo.start_draft(1, 10)
    moved = draft.choose_mode(same_for_both=False)
    assert await repo.save_draft(1, draft.rev, moved)
    fresh = Repository(repo.engine)
    assert await fresh.get_draft(1) == moved


async def test_a_stale_revision_cannot_overwrite(repo: Repository) -> None:
    draft = await repo.start_draft(1, 10)
    assert await repo.save_draft(1, draft.rev, draft.choose_mode(same_for_both=True))
    assert not await repo.save_draft(1, draft.rev, draft.choose_mode(same_for_both=False))
    current = await repo.get_draft(1)
    assert current is not None and current.legs and current.step is Step.DISTANCE


async def test_starting_over_moves_the_revision_past_old_buttons(repo: Repository) -> None:
    first = await repo.start_draft(1, 10)
    await repo.save_draft(1, first.rev, first.choose_mode(same_for_both=True))
    second = await repo.start_draft(1, 10)
    assert second.step is Step.MODE and second.rev > first.rev + 1


async def test_an_assessment_is_saved_exactly_once(repo: Repository, knowledge: Knowledge) -> None:
    draft = await repo.start_draft(7, 70)
    done = _finished(draft)
    result = evaluate(done, knowledge.thresholds, knowledge.factor_of)
    assert await repo.finish_assessment(7, draft.rev, done, result) is not None
    assert await repo.finish_assessment(7, draft.rev, done, result) is None
    saved = await repo.assessments(7)
    assert [(a.left_cm, a.right_cm, a.same_for_both, a.factors) for a in saved] == [
        (6.5, 6.5, True, ("joint",))
    ]
    assert await repo.get_draft(7) is None


async def test_cancel_reports_whether_there_was_anything(repo: Repository) -> None:
    assert not await repo.delete_draft(3)
    await repo.start_draft(3, 30)
    assert await repo.delete_draft(3)


async def test_a_new_assessment_after_cancel_does_not_reuse_revisions(repo: Repository) -> None:
    revs = set()
    for _ in range(5):
        draft = await repo.start_draft(4, 40)
        revs.add(draft.rev)
        await repo.delete_draft(4)
    assert len(revs) == 5


async def test_migrations_match_the_models(repo: Repository) -> None:
    """A model change without a migration would only show up on someone's production data."""

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with repo.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_a_database_error_does_not_carry_what_the_user_wrote(repo: Repository) -> None:
    """Errors are logged with their message: the statement's values must not be in it."""
    with pytest.raises(IntegrityError) as error:
        async with repo.engine.begin() as conn:  # kind is NOT NULL
            await conn.execute(insert(FaqEvent).values(kind=None, question="my secret question"))
    assert "my secret question" not in str(error.value)
    assert "hidden due to hide_parameters" in str(error.value)


async def test_a_failed_batch_of_curation_events_is_logged_without_their_text(
    repo: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    log = FaqLog(repo.engine, delay=3600)
    log.note("unmatched", question="my secret question")
    async with repo.engine.begin() as conn:  # the write will fail: no such table any more
        await conn.execute(text("DROP TABLE faq_events"))
    await log.flush()  # does not raise: curation data must not take the bot down
    assert "could not write 1 FAQ events" in caplog.text
    assert "my secret question" not in caplog.text
    await log.close()  # nothing left queued, nothing raised
