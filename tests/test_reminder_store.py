"""Reminder storage on both databases: leases, hand-over and idempotence."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.core.schedule import WEEKDAYS, Schedule
from bot.storage.db import create_engine
from bot.storage.reminders import ReminderStore
from bot.storage.repository import Repository

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
DAILY = Schedule(time(7, 30), "Europe/Berlin")


@pytest.fixture
def store(repo: Repository) -> ReminderStore:
    return ReminderStore(repo.engine)


async def add_due(store: ReminderStore, count: int, due: datetime = NOW) -> None:
    for user_id in range(1, count + 1):
        await store.save(user_id, user_id, DAILY, due - timedelta(seconds=user_id))


async def test_a_schedule_round_trips(store: ReminderStore) -> None:
    schedule = Schedule(time(19, 5), "UTC+05:30", WEEKDAYS, paused=True)
    await store.save(1, 10, schedule, None)
    saved = await store.get(1)
    assert saved is not None and (saved.chat_id, saved.schedule, saved.next_due) == (
        10,
        schedule,
        None,
    )


async def test_claims_take_due_rows_oldest_first_and_hold_them(store: ReminderStore) -> None:
    await add_due(store, 5)
    await store.save(9, 9, DAILY, NOW + timedelta(minutes=1))  # not due yet
    first = await store.claim_due(NOW, limit=3, lease=LEASE, token="a")
    assert [s.user_id for s, _ in first] == [5, 4, 3]
    second = await store.claim_due(NOW, limit=10, lease=LEASE, token="b")
    assert sorted(s.user_id for s, _ in second) == [1, 2]
    assert await store.claim_due(NOW, limit=10, lease=LEASE, token="c") == []


async def test_an_expired_lease_is_taken_over(store: ReminderStore) -> None:
    await add_due(store, 1)
    [(saved, due)] = await store.claim_due(NOW, limit=10, lease=LEASE, token="dead")
    later = NOW + LEASE + timedelta(seconds=1)
    [(again, due_again)] = await store.claim_due(later, limit=10, lease=LEASE, token="alive")
    assert again.user_id == saved.user_id and due_again == due
    # the dead worker's late write must not clobber the new owner's claim
    assert not await store.finish(1, "dead", due=due, outcome="sent", next_due=None)
    assert await store.finish(1, "alive", due=due, outcome="sent", next_due=NOW + timedelta(1))
    assert (await store.deliveries_since(NOW - timedelta(1))) == {"sent": 1}


async def test_retry_keeps_it_due_but_out_of_reach_until_then(store: ReminderStore) -> None:
    await add_due(store, 1)
    await store.claim_due(NOW, limit=10, lease=LEASE, token="a")
    assert await store.retry_at(1, "a", NOW + timedelta(seconds=30))
    assert await store.claim_due(NOW + timedelta(seconds=29), limit=9, lease=LEASE, token="b") == []
    assert (
        len(await store.claim_due(NOW + timedelta(seconds=31), limit=9, lease=LEASE, token="b"))
        == 1
    )


async def test_blocked_turns_reminders_off(store: ReminderStore) -> None:
    await add_due(store, 1)
    [(_, due)] = await store.claim_due(NOW, limit=1, lease=LEASE, token="a")
    await store.finish(1, "a", due=due, outcome="blocked", next_due=None)
    saved = await store.get(1)
    assert saved is not None and saved.schedule.paused and saved.next_due is None


async def test_release_hands_claims_back_at_once(store: ReminderStore) -> None:
    await add_due(store, 3)
    await store.claim_due(NOW, limit=10, lease=LEASE, token="stopping")
    assert await store.release("stopping") == 3
    assert len(await store.claim_due(NOW, limit=10, lease=LEASE, token="next")) == 3


async def test_concurrent_claimers_never_share_a_row(
    store: ReminderStore, database_url: str
) -> None:
    await add_due(store, 60)
    engines = [create_engine(database_url) for _ in range(3)]
    stores = [ReminderStore(e) for e in engines]

    async def drain(s: ReminderStore, token: str) -> list[int]:
        got: list[int] = []
        while batch := await s.claim_due(NOW, limit=7, lease=LEASE, token=token):
            got += [saved.user_id for saved, _ in batch]
        return got

    try:
        results = await asyncio.gather(*(drain(s, f"w{n}") for n, s in enumerate(stores)))
    finally:
        for e in engines:
            await e.dispose()
    claimed = [user for batch in results for user in batch]
    assert sorted(claimed) == list(range(1, 61))


async def test_done_counts_once_a_day(store: ReminderStore) -> None:
    day = date(2026, 3, 2)
    assert await store.mark_done(1, 1, day)
    assert not await store.mark_done(1, 1, day)
    assert await store.mark_done(1, 1, day + timedelta(1))
    assert await store.done_days(1) == [day, day + timedelta(1)]


async def test_what_the_user_is_typing_is_remembered(store: ReminderStore) -> None:
    assert await store.awaiting(1) is None
    await store.expect(1, 1, "time", {"zone": "Europe/Berlin"})
    await store.expect(1, 1, "days", {"zone": "Europe/Berlin", "time": "07:30"})
    assert await store.awaiting(1) == ("days", {"zone": "Europe/Berlin", "time": "07:30"})
    assert await store.stop_expecting(1)
    assert await store.awaiting(1) is None
