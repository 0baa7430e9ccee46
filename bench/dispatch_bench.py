"""The reminder dispatcher against a raw PTB bot: throughput, due-query time and memory.

Run from the project root: .venv/bin/python -m bench.dispatch_bench [--users N] [--full]
    [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

1. Throughput: N users with a reminder due now, the real Application (build_application, our
   rate limiter) over HTTP to tests/fake_telegram.py, timing Dispatcher.tick until all are sent;
   once with no limit, once at 30 msg/s (rates and spacing read from the fake's call log).
   Baseline: a plain PTB Application sending the same message with asyncio.gather, no DB, no
   limiter. The fake answers from this process's event loop, so its CPU time counts on both
   sides.
2. Due query: one claim_due(limit=100) and a plain SELECT ... ORDER BY next_due LIMIT 100 among
   100k and 1M schedules with 1% due; median of several runs, and EXPLAIN for the next_due index.
3. Memory: the bot's peak RSS (VmHWM) in a fresh subprocess per size, dispatching 1k vs 20k
   (--full: 100k) reminders with no limit to a latency-free Bot API stub.
PostgreSQL runs use a throw-away database created next to the one in --postgres, dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import sqlalchemy
import telegram
from sqlalchemy import event, insert, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from telegram.ext import ApplicationBuilder
from telegram.request import BaseRequest, RequestData

from bot import render
from bot.app import build_application
from bot.config import Reminders, normalise_database_url
from bot.core.programme import build_programme
from bot.core.sessions import todays_session
from bot.dispatcher import Dispatcher
from bot.knowledge import Knowledge, load_knowledge
from bot.services import Services
from bot.storage.db import create_engine, migrate
from bot.storage.models import Reminder, User
from bot.storage.reminders import ReminderStore
from tests.fake_telegram import DEFAULT_TOKEN, FakeTelegram

PROJECT_DIR = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench.dispatch_bench"
NO_LIMIT = 1e6  # msgs/s: the limiter is installed but never makes anyone wait
LIMIT = 30.0
LIMITED_USERS = 1_500  # ~50 s at 30/s; --full uses --users
BATCH = 100
SCHEDULE_SIZES = (100_000, 1_000_000)
DUE_FRACTION = 0.01
QUERY_RUNS = 15
MEMORY_USERS = (1_000, 20_000)  # 100k takes ~12 min at SQLite's ~150 msgs/s
MEMORY_USERS_FULL = (1_000, 100_000)
CHUNK = 10_000
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC+05:30", "Australia/Sydney")
PARTS = ("dispatch", "query", "memory")


# --- databases -----------------------------------------------------------------------------
@asynccontextmanager
async def fresh_database(kind: str, postgres: str | None, tmp: Path) -> AsyncIterator[str]:
    """An empty, migrated database URL: a new SQLite file or a throw-away PostgreSQL DB."""
    if kind == "sqlite":
        path = tmp / f"{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite+aiosqlite:///{path}"
        try:
            await _migrate(url)
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert postgres
    name = f"ankle_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(postgres, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(postgres).set(database=name).render_as_string(hide_password=False)
        await _migrate(url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def seed(engine: AsyncEngine, dues: Sequence[datetime | None], first: int = 1) -> None:
    """A user and a daily reminder for each due time (user ids from `first`), inserted with
    executemany in chunks."""
    now = datetime.now(UTC)
    ids = range(first, first + len(dues))
    users = ({"id": i, "chat_id": i, "created_at": now} for i in ids)
    reminders = (
        {
            "user_id": i,
            "chat_id": i,
            "local_time": "07:30",
            "days": "0123456",
            "zone": ZONES[i % len(ZONES)],
            "paused": False,
            "next_due": due,
            "claimed_until": None,
            "claim_token": None,
            "attempts": 0,
            "updated_at": now,
        }
        for i, due in zip(ids, dues, strict=True)
    )
    async with engine.begin() as conn:
        for chunk in _chunks(users):
            await conn.execute(insert(User), chunk)
        for chunk in _chunks(reminders):
            await conn.execute(insert(Reminder), chunk)


def due_now(n: int, now: datetime) -> list[datetime | None]:
    """Everyone due within the last minute (well inside the 2 h grace)."""
    return [now - timedelta(seconds=1 + i % 60) for i in range(n)]


# --- 1. throughput -------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    label: str
    db: str
    limit: float | None  # the overall msgs/s the limiter enforced, if it mattered
    sent: int
    seconds: float
    times: list[float]  # when each accepted sendMessage reached the fake (monotonic)
    chats: list[int]

    @property
    def rate(self) -> float:
        return self.sent / self.seconds

    @property
    def log_rate(self) -> float:
        """The rate in the fake's log: sends after the first / first-to-last arrival."""
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    def max_in_window(self, width: float = 1.0) -> int:
        """Most arrivals in any half-open window [t, t + width)."""
        t = sorted(self.times)
        return max(bisect.bisect_left(t, x + width) - i for i, x in enumerate(t))

    def shortest_span(self, count: int) -> float:
        """The least time `count` consecutive arrivals took (>= 1 s keeps them to count-1/s)."""
        t = sorted(self.times)
        return min(t[i + count - 1] - t[i] for i in range(len(t) - count + 1))

    def per_chat_violations(self, width: float = 1.0) -> int:
        last: dict[int, float] = {}
        bad = 0
        for at, chat in sorted(zip(self.times, self.chats, strict=True)):
            bad += chat in last and at - last[chat] < width
            last[chat] = at
        return bad


def _sends(fake: FakeTelegram) -> tuple[list[float], list[int]]:
    calls = [c for c in fake.calls if c.method.lower() == "sendmessage" and c.ok]
    return [c.time for c in calls], [c.params["chat_id"] for c in calls]


def sample_message(knowledge: Knowledge) -> tuple[str, render.Keyboard]:
    """What the dispatcher sends a user without an assessment today."""
    k = knowledge
    programme = build_programme((), k.blocks, k.exercises)
    day = date.today()
    return render.reminder(k, todays_session(programme, day), day, retest=False)


async def raw_ptb(n: int, knowledge: Knowledge) -> Run:
    """A plain Application (no limiter, no DB) sending the reminder text to n chats."""
    message, keyboard = sample_message(knowledge)
    async with FakeTelegram() as fake:
        for i in range(1, n + 1):
            fake.user(i)
        app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
        await app.initialize()
        try:
            start = time.perf_counter()
            # One gather per 100, like the dispatcher's batches: with one gather of all n,
            # httpcore's pool rescans its whole queue per request (10k ran > 10 min).
            for first in range(1, n + 1, BATCH):
                await asyncio.gather(
                    *(
                        app.bot.send_message(i, message, parse_mode="HTML", reply_markup=keyboard)
                        for i in range(first, min(first + BATCH, n + 1))
                    )
                )
            seconds = time.perf_counter() - start
        finally:
            await app.shutdown()
        times, chats = _sends(fake)
    return Run("raw PTB, gather per 100", "-", None, len(times), seconds, times, chats)


async def dispatch(url: str, n: int, rate: float, knowledge: Knowledge) -> Run:
    engine = create_engine(url)
    try:
        await seed(engine, due_now(n, datetime.now(UTC)))
        services = Services.on(
            engine, knowledge, Reminders(overall_per_second=rate, per_chat_per_second=1)
        )
        async with FakeTelegram() as fake:
            for i in range(1, n + 1):
                fake.user(i)
            app = build_application(services, fake.token, base_url=fake.base_url)
            await app.initialize()
            try:
                dispatcher, sent = Dispatcher(services), 0
                start = time.perf_counter()
                while sent < n and (more := await dispatcher.tick(app.bot)):
                    sent += more
                seconds = time.perf_counter() - start
            finally:
                await app.shutdown()
            times, chats = _sends(fake)
    finally:
        await engine.dispose()
    limit = rate if rate < NO_LIMIT else None
    label = f"ours, limit {rate:g}/s" if limit else "ours, no limit"
    if sent != n:
        print(f"warning: {label} on {engine.dialect.name} sent {sent} of {n}", file=sys.stderr)
    return Run(label, engine.dialect.name, limit, sent, seconds, times, chats)


async def part_dispatch(args: argparse.Namespace, kinds: Sequence[str], tmp: Path) -> list[str]:
    knowledge = load_knowledge()
    limited = args.users if args.full else min(LIMITED_USERS, args.users)
    runs = [await raw_ptb(args.users, knowledge)]
    for kind in kinds:
        for n, rate in ((args.users, NO_LIMIT), (limited, LIMIT)):
            async with fresh_database(kind, args.postgres, tmp) as url:
                runs.append(await dispatch(url, n, rate, knowledge))
    over = int(LIMIT) + 1
    rows = [
        (
            "run",
            "db",
            "sent",
            "seconds",
            "msgs/s",
            "vs raw PTB",
            "log msgs/s",
            f"of {LIMIT:g}/s",
            "max in 1 s",
            f"{over} sends took",
            "chat <1 s",
        )
    ]
    for r in runs:
        rows.append(
            (
                r.label,
                r.db,
                f"{r.sent:,}",
                f"{r.seconds:.1f}",
                f"{r.rate:,.2f}" if r.limit else f"{r.rate:,.0f}",
                "-" if r.limit else f"{r.rate / runs[0].rate:.0%}",
                f"{r.log_rate:,.2f}" if r.limit else f"{r.log_rate:,.0f}",
                f"{r.log_rate / r.limit:.1%}" if r.limit else "-",
                str(r.max_in_window()),
                f">= {r.shortest_span(over) * 1000:.0f} ms",
                str(r.per_chat_violations()),
            )
        )
    return [
        f"1. Dispatch throughput: {args.users:,} users due now ({limited:,} in the {LIMIT:g}/s "
        "runs), FakeTelegram over HTTP in this process",
        "   msgs/s = sent / wall time of the ticks; log msgs/s = from the fake's arrival times "
        "(first to last send); max in 1 s = most arrivals in any sliding 1 s window;",
        f"   {over} sends took = shortest time of {over} consecutive arrivals; chat <1 s = two "
        "sends to one chat under 1 s apart (one reminder per chat here: it counts duplicates)",
        *_table(rows),
    ]


# --- 2. due query --------------------------------------------------------------------------
def schedule_dues(n: int, now: datetime, seed: int = 7) -> list[datetime | None]:
    """1% due within the last hour, the rest spread over the next 24 h, in random order."""
    rng = random.Random(seed)
    due = int(n * DUE_FRACTION)
    dues: list[datetime | None] = []
    dues += [now - timedelta(seconds=rng.uniform(1, 3600)) for _ in range(due)]
    dues += [now + timedelta(seconds=rng.uniform(60, 86_400)) for _ in range(n - due)]
    rng.shuffle(dues)
    return dues


@asynccontextmanager
async def captured(engine: AsyncEngine) -> AsyncIterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) the engine sends while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> list[str]:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    async with engine.connect() as conn:
        rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
        await conn.rollback()
    return [str(row[-1]) for row in rows]


async def time_queries(engine: AsyncEngine, now: datetime, due: int) -> dict[str, Any]:
    store = ReminderStore(engine)
    sessions = async_sessionmaker(engine)
    plain = select(Reminder).where(Reminder.next_due <= now).order_by(Reminder.next_due).limit(100)

    async def claim() -> int:
        return len(await store.claim_due(now, limit=100, lease=timedelta(minutes=2), token="b"))

    async def select_due() -> int:
        async with sessions() as session:
            return len((await session.scalars(plain)).all())

    result: dict[str, Any] = {}
    for name, query in (("claim", claim), ("select", select_due)):
        times = []
        for run in range(QUERY_RUNS + 1):  # the first run warms caches and is not counted
            async with captured(engine) as sql:
                start = time.perf_counter()
                found = await query()
                elapsed = time.perf_counter() - start
            await store.release("b")
            assert found == min(due, 100), f"{name} found {found} of {due} due"
            if run:
                times.append(elapsed)
        statement, parameters = next(
            (s, p) for s, p in sql if s.lstrip().upper().startswith(("UPDATE", "SELECT"))
        )
        result[name] = statistics.median(times)
        result[f"{name}_plan"] = await explain(engine, statement, parameters)
    return result


def plan_summary(plan: list[str]) -> str:
    index = any("ix_reminders_next_due" in line for line in plan)
    full_scan = any("Seq Scan" in line or line.lstrip().startswith("SCAN ") for line in plan)
    return ("next_due index" if index else "NO index") + (" + full scan" if full_scan else "")


async def part_query(args: argparse.Namespace, kinds: Sequence[str], tmp: Path) -> list[str]:
    rows = [
        (
            "schedules",
            "db",
            "due",
            "load s",
            "claim_due(100) ms",
            "SELECT..LIMIT 100 ms",
            "plan: claim",
            "plan: select",
        )
    ]
    plans: list[str] = []
    for kind in kinds:
        async with fresh_database(kind, args.postgres, tmp) as url:
            engine = create_engine(url)
            try:
                now, loaded = datetime.now(UTC), 0
                for size in SCHEDULE_SIZES:  # grow the same table: 100k, then 900k more
                    start = time.perf_counter()
                    await seed(engine, schedule_dues(size - loaded, now, size), loaded + 1)
                    await analyze(engine)
                    load = time.perf_counter() - start
                    loaded = size
                    r = await time_queries(engine, now, int(size * DUE_FRACTION))
                    rows.append(
                        (
                            f"{size:,}",
                            kind,
                            f"{int(size * DUE_FRACTION):,}",
                            f"{load:.1f}",
                            f"{r['claim'] * 1000:.2f}",
                            f"{r['select'] * 1000:.2f}",
                            plan_summary(r["claim_plan"]),
                            plan_summary(r["select_plan"]),
                        )
                    )
                    if size == SCHEDULE_SIZES[-1]:
                        for name in ("claim", "select"):
                            plans.append(f"   {kind}, {name}, {size:,} schedules:")
                            plans += [f"     {line}" for line in r[f"{name}_plan"]]
            finally:
                await engine.dispose()
    return [
        f"2. Due query among N schedules, {DUE_FRACTION:.0%} due; median of {QUERY_RUNS} runs "
        "(claims released between runs, untimed)",
        *_table(rows),
        "   query plans (EXPLAIN of the SQL each call sent):",
        *plans,
    ]


async def analyze(engine: AsyncEngine) -> None:
    """What autovacuum would soon do on PostgreSQL; the bot never runs ANALYZE on SQLite."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))


# --- 3. memory -----------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


class InstantTelegram(BaseRequest):
    """A latency-free Bot API stand-in without HTTP that keeps nothing: for the memory runs."""

    def __init__(self) -> None:
        self.sent = 0

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_: Any
    ) -> tuple[int, bytes]:
        params = request_data.json_parameters if request_data else {}
        if url.endswith("/getMe"):
            result: dict[str, Any] = {"id": 1, "is_bot": True, "first_name": "b", "username": "b"}
        else:
            self.sent += 1
            chat = {"id": int(params["chat_id"]), "type": "private", "first_name": "Ann"}
            result = {"message_id": self.sent, "date": int(time.time()), "chat": chat}
            result |= {"text": params.get("text", "")}
        return 200, json.dumps({"ok": True, "result": result}).encode()


async def child(url: str, n: int) -> None:
    """The bot alone in this process: dispatch n due reminders, print its memory as JSON."""
    engine = create_engine(url)
    services = Services.on(engine, load_knowledge(), Reminders(overall_per_second=NO_LIMIT))
    app = build_application(services, DEFAULT_TOKEN, request=InstantTelegram())
    await app.initialize()
    started = _status_kb("VmHWM")
    dispatcher, sent = Dispatcher(services), 0
    start = time.perf_counter()
    while sent < n and (more := await dispatcher.tick(app.bot)):
        sent += more
    seconds = time.perf_counter() - start
    await app.shutdown()
    await engine.dispose()
    peak = _status_kb("VmHWM")
    print(json.dumps({"sent": sent, "seconds": seconds, "started": started, "peak": peak}))


async def part_memory(args: argparse.Namespace, kinds: Sequence[str], tmp: Path) -> list[str]:
    sizes = MEMORY_USERS_FULL if args.full else MEMORY_USERS
    rows = [
        ("users", "sent", "seconds", "msgs/s", "peak at start MB", "peak after MB", "growth MB")
    ]
    for n in sizes:
        async with fresh_database("sqlite", None, tmp) as url:
            engine = create_engine(url)
            await seed(engine, due_now(n, datetime.now(UTC)))
            await engine.dispose()
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bench.dispatch_bench", "--child", url, str(n)),
                cwd=PROJECT_DIR,
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"memory run for {n} users exited with {proc.returncode}")
        r = json.loads(out.decode().splitlines()[-1])
        rows.append(
            (
                f"{n:,}",
                f"{r['sent']:,}",
                f"{r['seconds']:.1f}",
                f"{r['sent'] / r['seconds']:.0f}",
                f"{r['started'] / 1024:.1f}",
                f"{r['peak'] / 1024:.1f}",
                f"{(r['peak'] - r['started']) / 1024:+.1f}",
            )
        )
    return [
        "3. Peak RSS (VmHWM) of the bot, a fresh subprocess per size: no limit, SQLite, a "
        "latency-free in-process Bot API stub (no HTTP);",
        "   'at start' = after imports and app.initialize(); seconds = the ticks only"
        + ("" if args.full else f"; --full runs {MEMORY_USERS_FULL[-1]:,} users (slow)"),
        *_table(rows),
    ]


# --- main ----------------------------------------------------------------------------------
def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rows = [rows[0], ["-" * w for w in widths], *rows[1:]]
    return [
        "   " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


async def environment(postgres: str | None) -> str:
    async with aiosqlite.connect(":memory:") as conn:
        (sqlite_version,) = await (await conn.execute("select sqlite_version()")).fetchone()
    parts = [
        f"Python {platform.python_version()}",
        f"PTB {telegram.__version__}",
        f"SQLAlchemy {sqlalchemy.__version__}",
        f"SQLite {sqlite_version}",
    ]
    if postgres:
        engine = create_async_engine(postgres)
        async with engine.connect() as conn:
            parts.append(f"PostgreSQL {(await conn.execute(text('show server_version'))).scalar()}")
        await engine.dispose()
    parts.append(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    return ", ".join(parts)


PART_RUNNERS = {"dispatch": part_dispatch, "query": part_query, "memory": part_memory}


async def run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    kinds = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    print(f"Reminder dispatch benchmark ({await environment(args.postgres)})\n", flush=True)
    took = []
    with tempfile.TemporaryDirectory(prefix="ankle_bench_") as tmp:
        for part in args.parts:
            start = time.perf_counter()
            lines = await PART_RUNNERS[part](args, kinds, Path(tmp))
            took.append(f"{part} {time.perf_counter() - start:.0f} s")
            print("\n".join(lines) + "\n", flush=True)
    print(f"time per part: {', '.join(took)}; load average now {os.getloadavg()[0]:.2f}")
    print(f"command: {' '.join([COMMAND, *map(shlex.quote, argv)])}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dispatch_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=10_000, help="users for the throughput runs")
    parser.add_argument(
        "--full", action="store_true", help="all --users in the 30/s runs, 100k in the memory run"
    )
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (throw-away DB)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # memory: URL, users
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(child(args.child[0], int(args.child[1])))
        return
    if args.postgres:
        args.postgres = normalise_database_url(args.postgres)
    asyncio.run(run(args, argv))


if __name__ == "__main__":
    main()
