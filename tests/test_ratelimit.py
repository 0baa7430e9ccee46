"""The rate limiter against Telegram's limits, in virtual time and once through real PTB."""

from __future__ import annotations

import asyncio
import datetime as dtm
import heapq
import itertools
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Coroutine
from typing import Any

import pytest
from telegram.error import Forbidden, RetryAfter, TelegramError
from telegram.ext import ApplicationBuilder

from bot.ratelimit import TelegramRateLimiter
from tests.fake_telegram import FakeTelegram

# PTB itself warns when it builds a RetryAfter with PTB_TIMEDELTA unset; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ALL = object()
BULK = {"bulk": True}  # an unattended send (a reminder): spaced per chat, 429s not retried
EPS = 1e-9  # float slack for virtual times built by repeated addition


async def _settle() -> None:
    """Yield until no callback is ready, i.e. every task waits on a timer or a lock."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    while loop._ready:  # type: ignore[attr-defined]  # CPython's queue of ready callbacks
        await asyncio.sleep(0)


class VirtualTime:
    """Injected clock + sleep: time jumps to the next timer once all tasks are blocked."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(delay, 0.0), next(self._seq), future))
        await future

    async def run(self, *coros: Coroutine[Any, Any, Any], return_exceptions: bool = False) -> list:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while True:
            await _settle()
            if all(t.done() for t in tasks):
                break
            if not self._timers:
                raise AssertionError("deadlock: tasks are waiting but no timer is set")
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not future.done():
                future.set_result(None)
        return await asyncio.gather(*tasks, return_exceptions=return_exceptions)


class FakeApi:
    """Stands in for ``Bot._do_post``: records (endpoint, chat_id, text, time), may raise."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.calls: list[tuple[str, Any, Any, float]] = []
        self.errors: dict[Any, deque[TelegramError]] = defaultdict(deque)

    async def __call__(self, endpoint: str, data: dict[str, Any], **_: Any) -> bool:
        chat_id = data.get("chat_id")
        self.calls.append((endpoint, chat_id, data.get("text"), self.vt.now))
        if self.errors[chat_id]:
            raise self.errors[chat_id].popleft()
        return True

    def times(self, chat_id: Any = ALL) -> list[float]:
        return [t for _, chat, _, t in self.calls if chat_id is ALL or chat == chat_id]


def make(**options: Any) -> tuple[VirtualTime, FakeApi, TelegramRateLimiter]:
    vt = VirtualTime()
    return vt, FakeApi(vt), TelegramRateLimiter(clock=vt.clock, sleep=vt.sleep, **options)


async def send(
    limiter: TelegramRateLimiter,
    api: FakeApi,
    chat_id: Any = None,
    text: Any = None,
    endpoint: str = "sendMessage",
    rate_limit_args: object | None = BULK,
) -> Any:
    """Call the limiter the way ExtBot._do_post does; a bulk send unless told otherwise."""
    data = {} if chat_id is None else {"chat_id": chat_id, "text": text}
    return await limiter.process_request(
        callback=api,
        args=(endpoint, data),
        kwargs={"read_timeout": None},
        endpoint=endpoint,
        data=data,
        rate_limit_args=rate_limit_args,
    )


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_one_chat_gets_one_message_per_second_in_order() -> None:
    vt, api, limiter = make()
    await vt.run(*(send(limiter, api, 7, i) for i in range(100)))
    times = api.times(7)
    assert len(times) == 100 and limiter.sent == 100
    assert min(gaps(times)) >= 1 - EPS
    assert 99 - EPS <= times[-1] <= 99 + EPS  # no slower than needed either
    assert [text for _, _, text, _ in api.calls] == list(range(100))


async def test_a_chat_id_given_as_text_is_the_same_chat() -> None:
    vt, api, limiter = make()
    await vt.run(send(limiter, api, 7), send(limiter, api, "7"), send(limiter, api, "@news"))
    assert [t for _, _, _, t in api.calls] == pytest.approx([0, 1 / 30, 1])


async def test_many_chats_share_a_smooth_overall_limit_first_come_first_served() -> None:
    vt, api, limiter = make()
    await vt.run(*(send(limiter, api, chat, "hi") for chat in range(300)))
    times = api.times()
    assert len(times) == 300
    assert 9.9 <= times[-1] <= 10.0  # 299 gaps of 1/30 s
    assert min(gaps(times)) >= 1 / 30 - EPS  # smooth: no burst at all
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t < start + 1 - EPS]
        assert len(in_window) <= 30, f"{len(in_window)} sends in the second from {start}"
    assert [chat for _, chat, _, _ in api.calls] == list(range(300))


async def test_both_limits_hold_together_without_wasting_slots() -> None:
    vt, api, limiter = make()
    await vt.run(*(send(limiter, api, chat, i) for i in range(3) for chat in range(60)))
    times = api.times()
    assert min(gaps(times)) >= 1 / 30 - EPS  # a chat's wait never pushes a send out of turn
    assert times[-1] <= 179 / 30 + EPS  # and never leaves an overall slot unused
    for chat in range(60):
        assert min(gaps(api.times(chat))) >= 1 - EPS


async def test_waiting_for_a_chat_holds_no_overall_slot() -> None:
    vt, api, limiter = make()

    async def later(delay: float, chat: int) -> Any:
        await vt.sleep(delay)
        return await send(limiter, api, chat)

    # A's second message waits until t=1 for its chat; 30 other chats arrive at t=0.5
    await vt.run(*(send(limiter, api, "A") for _ in range(2)), *(later(0.5, c) for c in range(30)))
    assert api.times("A")[1] >= 1
    assert min(gaps(api.times())) >= 1 / 30 - EPS


async def test_a_busy_chat_does_not_hold_up_other_chats() -> None:
    vt, api, limiter = make()
    busy = [send(limiter, api, "A", i) for i in range(10)]
    await vt.run(*busy, send(limiter, api, "B", 0), send(limiter, api, "C", 0))
    assert api.times("B")[0] <= 2 / 30 + EPS
    assert api.times("C")[0] <= 3 / 30 + EPS
    assert api.times("A")[-1] == pytest.approx(9)


@pytest.mark.parametrize(
    "args",
    [None, {}, {"bulk": False}, {"priority": "bulk"}, "bulk", 3],
    ids=["none", "empty", "bulk-false", "other-key", "str", "int"],
)
async def test_interactive_sends_skip_the_chat_spacing_but_share_the_overall_limit(
    args: object,
) -> None:
    vt, api, limiter = make()
    await vt.run(
        *(send(limiter, api, "A", i, rate_limit_args=args) for i in range(10)),
        *(send(limiter, api, f"C{i}") for i in range(20)),
    )
    assert api.times() == pytest.approx([i / 30 for i in range(30)])  # smooth, no slot wasted
    assert [text for _, chat, text, _ in api.calls if chat == "A"] == list(range(10))
    a_times = api.times("A")
    assert a_times[:2] == pytest.approx([0, 1 / 30])  # a two-message reply: no 1 s gap
    assert a_times[-1] < 1  # spaced per chat, the last one would go at t=9
    assert limiter.sent == 30 and limiter.retried == 0


async def test_a_bulk_send_after_an_interactive_one_still_waits_the_chat_interval() -> None:
    vt, api, limiter = make()
    await vt.run(
        send(limiter, api, "A", "i0", rate_limit_args=None),
        send(limiter, api, "A", "b1"),
        send(limiter, api, "A", "i2", rate_limit_args=None),
        send(limiter, api, "A", "b3"),
    )
    assert [text for _, _, text, _ in api.calls] == ["i0", "b1", "i2", "b3"]
    # each bulk send waits 1 s after the send before it, whatever kind that one was
    assert api.times("A") == pytest.approx([0, 1, 1 + 1 / 30, 2 + 1 / 30])


@pytest.mark.parametrize("ptb_timedelta", ["false", "true"])
async def test_interactive_429_pauses_only_that_chat_and_is_retried(
    monkeypatch: pytest.MonkeyPatch, ptb_timedelta: str
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", ptb_timedelta)
    vt, api, limiter = make()
    api.errors["A"].append(RetryAfter(dtm.timedelta(seconds=3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading retry_after must not warn either way
        results = await vt.run(
            *(send(limiter, api, "A", f"a{i}", rate_limit_args=None) for i in range(3)),
            *(send(limiter, api, "B", f"b{i}", rate_limit_args=None) for i in range(5)),
        )
    assert results == [True] * 8
    # 429 at 0, retried after 3 s; a1 and a2 wait behind it, then go back to back
    assert api.times("A") == pytest.approx([0, 3, 3 + 1 / 30, 3 + 2 / 30])
    assert [text for _, chat, text, _ in api.calls if chat == "A"] == ["a0", "a0", "a1", "a2"]
    assert api.times("B") == pytest.approx([i / 30 for i in range(1, 6)])  # B never paused
    assert limiter.retried == 1 and limiter.sent == 8


@pytest.mark.parametrize("max_retries", [0, 2])
async def test_interactive_gives_up_after_max_retries_with_the_retry_after(
    max_retries: int,
) -> None:
    vt, api, limiter = make(max_retries=max_retries)
    api.errors["A"].extend(RetryAfter(1) for _ in range(5))
    [result] = await vt.run(send(limiter, api, "A", rate_limit_args=None), return_exceptions=True)
    assert isinstance(result, RetryAfter)
    assert api.times("A") == pytest.approx(list(range(max_retries + 1)))  # 1 s pause each
    assert len(api.errors["A"]) == 5 - (max_retries + 1)
    assert limiter.retried == max_retries and limiter.sent == 0


@pytest.mark.parametrize("next_args", [BULK, None], ids=["bulk", "interactive"])
async def test_bulk_429_is_raised_at_once_and_pauses_only_that_chat(next_args: object) -> None:
    vt, api, limiter = make()
    api.errors["A"].append(RetryAfter(3))

    async def first() -> float:
        with pytest.raises(RetryAfter):
            await send(limiter, api, "A", "a0")
        return vt.now

    raised_at, *results = await vt.run(
        first(),
        send(limiter, api, "A", "a1", rate_limit_args=next_args),
        send(limiter, api, "A", "a2"),
        *(send(limiter, api, f"B{i}", "b") for i in range(5)),
    )
    assert raised_at == 0 and results == [True] * 7
    assert [text for _, chat, text, _ in api.calls if chat == "A"] == ["a0", "a1", "a2"]
    # a1 waits out the pause, whatever its kind; a2 (bulk) then waits the chat interval
    assert api.times("A") == pytest.approx([0, 3, 4])
    assert [t for _, chat, _, t in api.calls if chat != "A"] == pytest.approx(
        [i / 30 for i in range(1, 6)]
    )  # other chats are not delayed
    assert limiter.retried == 0 and limiter.sent == 7


async def test_a_paused_chat_is_not_forgotten_by_pruning() -> None:
    vt, api, limiter = make(overall_per_second=1000)
    api.errors["P"].append(RetryAfter(10))
    [result] = await vt.run(send(limiter, api, "P"), return_exceptions=True)
    assert isinstance(result, RetryAfter)
    await vt.run(vt.sleep(2))  # P's chat interval is over, its pause is not
    await vt.run(
        *(send(limiter, api, chat) for chat in range(300)),
        send(limiter, api, "P", rate_limit_args=None),
    )
    assert limiter._prune_at > 256  # the 300 new chats did trigger a prune
    assert api.times("P") == pytest.approx([0, 10])


@pytest.mark.parametrize(
    ("args", "second_at"), [(BULK, 1), (None, 1 / 30)], ids=["bulk", "interactive"]
)
async def test_other_errors_propagate_unchanged_and_are_not_retried(
    args: object, second_at: float
) -> None:
    vt, api, limiter = make()
    blocked = Forbidden("Forbidden: bot was blocked by the user")
    api.errors["A"].append(blocked)
    first, second = await vt.run(
        send(limiter, api, "A", rate_limit_args=args),
        send(limiter, api, "A", rate_limit_args=args),
        return_exceptions=True,
    )
    assert first is blocked and second is True
    assert api.times("A") == pytest.approx([0, second_at])  # the failed send used its slots
    assert limiter.retried == 0 and limiter.sent == 1


async def test_429_without_a_chat_pauses_everything() -> None:
    vt, api, limiter = make()
    api.errors[None].append(RetryAfter(2))
    await vt.run(
        *(send(limiter, api, f"X{i}") for i in range(5)),  # X1.. already hold later slots
        send(limiter, api, endpoint="getMe", rate_limit_args=None),  # 429 at 0: global limit
        send(limiter, api, "Y"),
    )
    assert api.times(None) == [0, 2]
    chat_times = [t for _, chat, _, t in api.calls if chat is not None]
    assert chat_times[0] == 0 and len(chat_times) == 6
    assert min(chat_times[1:]) >= 2  # nobody sent during the pause ...
    assert min(gaps(chat_times[1:])) >= 1 / 30 - EPS  # ... and no burst after it
    assert limiter.retried == 1 and limiter.sent == 6


async def test_requests_without_a_chat_are_not_limited() -> None:
    vt, api, limiter = make()
    endpoints = ["getMe", "answerCallbackQuery", "setMyCommands", "getMyCommands"]
    await vt.run(*(send(limiter, api, endpoint=e) for e in endpoints * 25))
    assert vt.sleeps == 0 and api.times() == [0] * 100

    # ... not even while bulk chat messages queue up; rate_limit_args of any kind are accepted
    queued = [send(limiter, api, "A") for _ in range(20)]
    kinds = [None, BULK, 3, {"priority": "bulk"}]
    quick = [send(limiter, api, endpoint="getMe", rate_limit_args=k) for k in kinds * 5]
    await vt.run(*queued, *quick)
    assert api.times(None)[100:] == [0] * 20
    assert api.times("A")[-1] == pytest.approx(19)


async def test_memory_stays_bounded_with_many_distinct_chats() -> None:
    # a fast overall rate, so that only the per-chat slot can hold "R" back
    vt, api, limiter = make(overall_per_second=1000)
    largest = 0
    for wave in range(100):  # 10,000 distinct chats, 100 at a time, plus "R" every wave
        new = range(wave * 100, wave * 100 + 100)
        await vt.run(*(send(limiter, api, chat) for chat in [*new, "R"]))
        largest = max(largest, len(limiter._chats))
    assert limiter.sent == 100 * 101
    assert largest <= 512, largest
    # pruning (which the new chats trigger before "R" comes) never forgot R's last send
    assert min(gaps(api.times("R"))) >= 1 - EPS


async def test_end_to_end_through_ptb_and_the_fake_server() -> None:
    a, b, c, d = 101, 102, 103, 104
    async with FakeTelegram() as fake:
        for chat in (a, b, c, d):
            fake.user(chat)
        fake.fail("sendMessage", 429, retry_after=1, chat_id=a)
        fake.fail("sendMessage", 429, retry_after=1, chat_id=d)
        limiter = TelegramRateLimiter(overall_per_second=50, per_chat_per_second=5)
        app = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .rate_limiter(limiter)
            .updater(None)
            .build()
        )
        async with app:
            started = time.monotonic()
            bulk = [
                app.bot.send_message(chat, f"m{i}", rate_limit_args={"bulk": True})
                for i in range(3)
                for chat in (a, b, c)
            ]
            reply = [app.bot.send_message(d, f"r{i}") for i in range(2)]
            results = await asyncio.gather(*bulk, *reply, return_exceptions=True)
            elapsed = time.monotonic() - started
        assert fake.internal_errors == []

    assert elapsed < 3
    assert isinstance(results[0], RetryAfter)  # a's m0: a bulk 429 is not retried
    assert not any(isinstance(r, BaseException) for r in results[1:])
    calls = fake.calls_to("sendMessage")
    by_chat = {
        chat: [call for call in calls if call.params["chat_id"] == chat] for chat in (a, b, c, d)
    }
    assert [call.status for call in by_chat[a]] == [429, 200, 200]
    assert fake.texts(a) == ["m1", "m2"]
    limited_at = by_chat[a][0].time
    assert by_chat[a][1].time - limited_at >= 1 - 0.05  # m1 waited out a's pause
    for chat in (a, b, c):  # bulk sends keep the per-chat spacing
        assert all(gap >= 0.2 - 0.05 for gap in gaps([call.time for call in by_chat[chat]]))
    for chat in (b, c):  # not paused by a's 429
        assert [call.status for call in by_chat[chat]] == [200, 200, 200]
        assert by_chat[chat][-1].time < limited_at + 0.8
    # the reply to d: retried after its 429, then its second message right away
    assert [call.status for call in by_chat[d]] == [429, 200, 200]
    assert fake.texts(d) == ["r0", "r1"]
    d_times = [call.time for call in by_chat[d]]
    assert d_times[1] - d_times[0] >= 1 - 0.05
    assert d_times[2] - d_times[1] < 0.2 - 0.05
    assert limiter.retried == 1 and limiter.sent == 10
