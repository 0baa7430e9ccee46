"""End to end: our bot against a bare PTB echo bot, long polling over HTTP, many users at once.

Run from the project root:
    .venv/bin/python -m bench.e2e_bench [--users 50] [--questions 20] [--postgres URL] [--profile]

Each bot runs alone in a fresh subprocess (the real PTB Application, long polling with the
production settings poll_interval=0, timeout=10) against tests/fake_telegram.py, which runs in
this (the parent) process together with the simulated users. Every user asks FAQ questions one
at a time: the next question is pushed only once the fake has answered the bot's sendMessage to
that user's chat. Latency is the time from pushing the update to the arrival of that
sendMessage request at the fake (one clock, the parent's). Throughput is replies in the
measured phase divided by the time from its first push to its last reply. A warm-up round (a
few questions per user, not measured) runs first in the same process.

Rows:
- echo, sequential: tests/echo_bot.py as built there (concurrent_updates=False, PTB's default).
  The like-for-like baseline for a bot that handles updates one at a time.
- echo, concurrent: the same bot with concurrent_updates=True (256 at once).
- echo + our limiter: the echo bot with our TelegramRateLimiter at its defaults (30 msg/s overall).
- echo + our HTTP client: the concurrent echo bot on bot/http.py's aiohttp client instead of
  PTB's httpx: how much of our speed is the HTTP client (not part of the goal's baseline).
- ours, as is: build_application() + start() exactly as the bot runs (default Reminders config,
  so the 30 msg/s overall limit applies), on a fresh migrated database. The "updates" column
  shows how the Application schedules updates (read from it, not assumed).
- ours, limit lifted: the same with Reminders(overall_per_second=1e9): what processing costs.

Memory is the peak RSS (VmHWM from /proc/self/status) of the bot's own subprocess: once when
it is ready (imports, initialize, polling started) and at the end of the run. "bot CPU" is the
subprocess's user+system time (all threads; the main thread's share in brackets) during the
measured phase per reply; "fake+users CPU" is this process's share of one core meanwhile (if it
nears 100 %, the fake is the limit); "other procs" is what the rest of the machine used.
SQL/reply counts the statements, commits, rollbacks, pool checkouts and aiosqlite thread hops
(a counting wrapper around aiosqlite's Connection._execute, well under 1 % of the CPU) during
the measured phase, reminder dispatcher ticks included, divided by replies.

--profile adds runs of the echo bot and of ours (SQLite, limit lifted) with wall-time wrappers
around each stage of a text update, and one of ours under cProfile (main thread only; it
inflates times). --repeat N runs every row N times, interleaved, and shows the median run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import pstats
import resource
import shlex
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench.e2e_bench"
POLLING: dict[str, float] = {"poll_interval": 0, "timeout": 10}  # as bot/cli.py serves
LIFTED = 1e9  # messages per second: the limiter still runs but never waits
REPLY_TIMEOUT = 60.0

# What people type, including a typo, a vague one, off-topic and one warning sign.
QUESTIONS = (
    "how often should I do these?",
    "my ankle clicks, is that bad?",
    "how long until it's fixed",
    "what is dorsiflexion",
    "what is dorsiflextion",
    "should it hurt when I stretch?",
    "do I need any equipment",
    "how ofen should i do thees?",
    "what does knee to wall measure",
    "is it ok to do them every day",
    "why is my ankle stiff",
    "how many reps",
    "my calf feels tight after",
    "should I warm up first",
    "does it matter if i use cm or inches",
    "is it normal to feel it in my calf",
    "when should I test again",
    "should i do both sides",
    "can i do the exercises barefoot",
    "sudden swelling after a fall",
)


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    kind: str  # "echo" or "ours"
    db: str | None = None  # "sqlite" / "postgresql" for ours
    limit: float | None = None  # ours: overall_per_second; None = as configured by default
    concurrent: bool = False  # echo: concurrent_updates
    limiter: bool = False  # echo: with TelegramRateLimiter()
    aiohttp: bool = False  # echo: with our HTTP client (bot/http.py) instead of PTB's httpx
    mode: str = ""  # "", "stages" or "cprofile"

    @property
    def limiter_label(self) -> str:
        if self.kind == "echo":
            return "30/s" if self.limiter else "none"
        return "30/s" if self.limit is None else "lifted"


def variants(postgres: bool) -> list[Variant]:
    rows = [
        Variant("echo", "echo, sequential", "echo"),
        Variant("echo-concurrent", "echo, concurrent", "echo", concurrent=True),
        Variant("echo-limited", "echo + our limiter", "echo", limiter=True),
        Variant("echo-aiohttp", "echo + our HTTP client", "echo", concurrent=True, aiohttp=True),
        Variant("ours-sqlite", "ours, as is", "ours", db="sqlite"),
        Variant("ours-sqlite-lifted", "ours, limit lifted", "ours", db="sqlite", limit=LIFTED),
    ]
    if postgres:
        rows += [
            Variant("ours-pg", "ours, as is", "ours", db="postgresql"),
            Variant("ours-pg-lifted", "ours, limit lifted", "ours", db="postgresql", limit=LIFTED),
        ]
    return rows


PROFILE_VARIANTS = (
    Variant("echo-stages", "echo sequential, stage timers", "echo", mode="stages"),
    Variant("stages", "ours, stage timers", "ours", db="sqlite", limit=LIFTED, mode="stages"),
    Variant("cprofile", "ours, cProfile", "ours", db="sqlite", limit=LIFTED, mode="cprofile"),
)


# --- the bot side (subprocess) ---------------------------------------------------------------
def _status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise KeyError(name)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _thread_cpu() -> dict[int, float]:
    """CPU seconds (user+system) of each thread of this process, by thread id."""
    ticks = os.sysconf("SC_CLK_TCK")
    threads = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            stat = (task / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            threads[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return threads


def _machine_busy() -> float:
    """CPU seconds all processes on this machine have used (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _emit(**data: Any) -> None:
    print(json.dumps(data), flush=True)


async def _expect(word: str) -> None:
    line = (await asyncio.to_thread(sys.stdin.readline)).strip()
    if line != word:
        raise RuntimeError(f"child expected {word!r} on stdin, got {line!r}")


@dataclass
class ChildStats:
    sql: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    stage_seconds: Counter[str] = field(default_factory=Counter)
    stage_calls: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        for counter in (self.sql, self.events, self.stage_seconds, self.stage_calls):
            counter.clear()


def _sql_label(statement: str) -> str:
    """`SELECT assessment_drafts`, `INSERT faq_events`: verb and first table."""
    words = statement.replace('"', "").replace("\n", " ").split()
    verb = words[0].upper() if words else "?"
    marker = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE", "DELETE": "FROM"}.get(verb)
    upper = [w.upper() for w in words]
    if marker and marker in upper[:-1]:
        return f"{verb} {words[upper.index(marker) + 1]}"
    return " ".join(words[:3])


def _count_sql(engine: Any, stats: ChildStats) -> None:
    from sqlalchemy import event

    sync = engine.sync_engine

    def statement(_conn, _cursor, text, _params, _context, _many) -> None:
        stats.sql[_sql_label(text)] += 1

    def counter(name: str) -> Callable[..., None]:
        def bump(*_args: Any) -> None:
            stats.events[name] += 1

        return bump

    event.listen(sync, "before_cursor_execute", statement)
    event.listen(sync, "commit", counter("commit"))
    event.listen(sync, "rollback", counter("rollback"))
    event.listen(sync.pool, "checkout", counter("checkout"))
    with contextlib.suppress(ImportError):  # every aiosqlite call is one hop to its thread
        import aiosqlite.core

        original = aiosqlite.core.Connection._execute

        async def hop(self, fn, *args, **kwargs):
            stats.events["aiosqlite thread hop"] += 1
            return await original(self, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = hop  # type: ignore[method-assign]


def _timed(stats: ChildStats, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            stats.stage_seconds[name] += time.perf_counter() - started
            stats.stage_calls[name] += 1

    return wrapper


def _timed_sync(stats: ChildStats, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stats.stage_seconds[name] += time.perf_counter() - started
            stats.stage_calls[name] += 1

    return wrapper


def _instrument(app: Any, services: Any | None, stats: ChildStats) -> None:
    """Wall-time wrappers around the stages of a text update (bench only, instance level)."""
    app.process_update = _timed(stats, "PTB process_update (whole update)", app.process_update)
    texts = {("bot.handlers.chat", "text"), ("tests.echo_bot", "echo")}  # no imports: no RSS
    for handler in app.handlers[0]:
        callback = getattr(handler, "callback", None)
        if (getattr(callback, "__module__", ""), getattr(callback, "__name__", "")) in texts:
            handler.callback = _timed(stats, f"handler {callback.__name__}", callback)
    request = app.bot.request  # the sends' (getUpdates has its own)
    request.do_request = _timed(stats, "sendMessage HTTP", request.do_request)
    if services is None:
        return
    repo, faq_log = services.repo, services.faq_log
    repo.pending = _timed(stats, "repo.pending (SELECT draft and set-up)", repo.pending)
    faq_log.suggest = _timed(stats, "faq_log.suggest (INSERT event, COMMIT)", faq_log.suggest)
    faq_log.flush = _timed(stats, "faq_log.flush (batched INSERT, off the reply)", faq_log.flush)
    matcher = services.knowledge.faq.matcher
    matcher.answer = _timed_sync(stats, "matcher.answer (FAQ match)", matcher.answer)
    limiter = app.bot.rate_limiter
    limiter.process_request = _timed(
        stats, "sendMessage incl. rate limiter", limiter.process_request
    )


def _build_echo(spec: dict[str, Any]) -> Any:
    from tests import echo_bot

    limiter = request = None
    if spec["limiter"]:
        from bot.ratelimit import TelegramRateLimiter

        limiter = TelegramRateLimiter()
    if spec["aiohttp"]:
        from bot.http import AiohttpRequest

        request = AiohttpRequest
    return echo_bot.build_echo_application(
        spec["base_url"],
        spec["token"],
        concurrent_updates=spec["concurrent"],
        rate_limiter=limiter,
        request=request,
    )


async def _start_ours(spec: dict[str, Any], stats: ChildStats) -> tuple[Any, Any]:
    """Our Application as the bot runs it; returns it and a coroutine function that stops it."""
    from bot.app import build_application, start, stop
    from bot.config import Reminders
    from bot.knowledge import load_knowledge
    from bot.services import Services
    from bot.storage.db import create_engine

    engine = create_engine(spec["db"])
    _count_sql(engine, stats)
    limit = spec["limit"]
    config = Reminders() if limit is None else Reminders(overall_per_second=limit)
    services = Services.on(engine, load_knowledge(), config)
    app = build_application(services, spec["token"], base_url=spec["base_url"])
    if spec["mode"] == "stages":
        _instrument(app, services, stats)
    await start(app, **POLLING)

    async def shut_down() -> None:
        await stop(app)
        await engine.dispose()

    return app, shut_down


async def _start_echo(spec: dict[str, Any], stats: ChildStats) -> tuple[Any, Any]:
    """The echo bot, started like tests start it; imports nothing of ours (fair RSS)."""
    from telegram import Update

    app = _build_echo(spec)
    if spec["mode"] == "stages":
        _instrument(app, None, stats)
    await app.initialize()
    await app.start()
    await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, **POLLING)

    async def shut_down() -> None:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    return app, shut_down


async def child(spec: dict[str, Any]) -> None:
    """One bot in this process; stdin says when to measure and when to stop."""
    stats = ChildStats()
    starter = _start_ours if spec["kind"] == "ours" else _start_echo
    app, shut_down = await starter(spec, stats)
    processor = app.update_processor
    limit = processor.max_concurrent_updates
    updates = "sequential" if limit == 1 else f"{type(processor).__name__}({limit})"
    _emit(event="ready", pid=os.getpid(), hwm_kb=_status_kb("VmHWM"), updates=updates)

    await _expect("mark")
    profiler = cProfile.Profile() if spec["mode"] == "cprofile" else None
    stats.reset()
    cpu, threads = _cpu(), _thread_cpu()
    if profiler:
        profiler.enable()
    _emit(event="marked")

    await _expect("stop")
    if profiler:
        profiler.disable()
        profiler.dump_stats(spec["profile_out"])
    cpu = _cpu() - cpu
    after = _thread_cpu()
    main_cpu = after.get(os.getpid(), 0.0) - threads.get(os.getpid(), 0.0)
    measured = {
        "cpu": cpu,
        "main_cpu": main_cpu,
        "threads": len(after),
        "sql": dict(stats.sql),
        "events": dict(stats.events),
        "stage_seconds": dict(stats.stage_seconds),
        "stage_calls": dict(stats.stage_calls),
        "errors": len(app.bot_data.get("errors", [])),
    }
    await shut_down()
    _emit(event="done", hwm_kb=_status_kb("VmHWM"), **measured)


# --- the user side (this process) ------------------------------------------------------------
@dataclass
class Phase:
    latencies: list[float]
    seconds: float
    parent_cpu: float
    machine_cpu: float
    polls: int  # getUpdates requests answered during the phase
    extra: int  # sendMessages nobody was waiting for (a question answered twice)


async def drive(fake: Any, users: Sequence[Any], questions: int, offset: int) -> Phase:
    """Every user asks `questions` questions, each after the previous reply arrived."""
    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future[float]] = {}
    seen = len(fake.calls)
    extra = 0

    async def watch() -> None:
        nonlocal seen, extra
        while True:
            await fake.wait_for(lambda n=seen: len(fake.calls) > n, timeout=3600)
            calls = fake.calls
            for call in calls[seen:]:
                if call.method.lower() != "sendmessage" or not call.ok:
                    continue
                future = waiting.pop(call.params.get("chat_id"), None)
                if future is None or future.done():
                    extra += 1
                else:
                    future.set_result(call.time)
            seen = len(calls)

    async def ask(index: int, user: Any) -> list[float]:
        latencies = []
        for n in range(questions):
            question = QUESTIONS[(offset + index + n) % len(QUESTIONS)]
            future: asyncio.Future[float] = loop.create_future()
            waiting[user.chat_id] = future
            pushed = time.monotonic()
            user.send(question)
            try:
                answered = await asyncio.wait_for(future, REPLY_TIMEOUT)
            except TimeoutError:
                raise RuntimeError(
                    f"no reply to {question!r} for user {user.user_id} in {REPLY_TIMEOUT}s"
                ) from None
            latencies.append(answered - pushed)
        return latencies

    watcher = asyncio.create_task(watch())
    cpu, busy, started = _cpu(), _machine_busy(), time.monotonic()
    try:
        per_user = await asyncio.gather(*(ask(i, u) for i, u in enumerate(users)))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    sends = [c.time for c in fake.calls if c.method.lower() == "sendmessage"]
    polls = sum(1 for c in fake.calls if c.method.lower() == "getupdates" and c.time >= started)
    latencies = [x for lat in per_user for x in lat]
    seconds = max(sends) - started
    return Phase(latencies, seconds, _cpu() - cpu, _machine_busy() - busy, polls, extra)


@dataclass
class Result:
    variant: Variant
    replies: int
    seconds: float
    latencies: list[float]
    parent_cpu: float
    machine_cpu: float
    polls: int
    extra: int
    ready_kb: int
    peak_kb: int
    updates: str  # how the Application schedules updates
    child: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.replies / self.seconds

    @property
    def others(self) -> float:
        """Cores that other processes on the machine kept busy during the measured phase."""
        return max(0.0, self.machine_cpu - self.parent_cpu - self.child["cpu"]) / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(p / 100 * len(ordered)))  # nearest rank
        return ordered[rank - 1] * 1000


@asynccontextmanager
async def fresh_database(kind: str, postgres: str | None, tmp: Path) -> AsyncIterator[str]:
    """A migrated empty database: a new SQLite file, or a throw-away PostgreSQL database."""
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.storage.db import create_engine, migrate

    async def migrated(url: str) -> None:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()

    if kind == "sqlite":
        path = tmp / f"e2e_{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite+aiosqlite:///{path}"
        try:
            await migrated(url)
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert postgres
    name = f"ankle_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(postgres, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(postgres).set(database=name).render_as_string(hide_password=False)
            await migrated(url)
            yield url
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


class Child:
    """The bot subprocess and its JSON-lines protocol."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr: list[str] = []
        assert proc.stderr
        self._drain = asyncio.create_task(self._read_stderr(proc.stderr))

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.stderr.append(line.decode(errors="replace").rstrip())

    async def read(self, expected: str, timeout: float = 120) -> dict[str, Any]:
        assert self.proc.stdout
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not line:
                await asyncio.sleep(0.2)  # let stderr drain
                tail = "\n".join(self.stderr[-30:])
                raise RuntimeError(f"bot subprocess exited before {expected!r}:\n{tail}")
            if line.startswith(b"{"):
                message = json.loads(line)
                if message.get("event") == expected:
                    return message

    async def say(self, word: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(f"{word}\n".encode())
        await self.proc.stdin.drain()

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 15)
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self._drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain


async def run_variant(
    variant: Variant, args: argparse.Namespace, tmp: Path
) -> tuple[Result, Path | None]:
    from tests.fake_telegram import FakeTelegram

    profile_out = tmp / f"{variant.key}.prof" if variant.mode == "cprofile" else None
    async with contextlib.AsyncExitStack() as stack:
        url = None
        if variant.db:
            url = await stack.enter_async_context(fresh_database(variant.db, args.postgres, tmp))
        fake = await stack.enter_async_context(FakeTelegram())
        users = [fake.user(10_000 + i, f"User{i}") for i in range(args.users)]
        spec = {
            "kind": variant.kind,
            "db": url,
            "limit": variant.limit,
            "concurrent": variant.concurrent,
            "limiter": variant.limiter,
            "aiohttp": variant.aiohttp,
            "mode": variant.mode,
            "profile_out": str(profile_out) if profile_out else None,
            "base_url": fake.base_url,
            "token": fake.token,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.e2e_bench", "--child", json.dumps(spec),
            cwd=PROJECT_DIR, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        bot = Child(proc)
        stack.push_async_callback(bot.close)
        ready = await bot.read("ready")
        await drive(fake, users, args.warmup, offset=7)
        await bot.say("mark")
        await bot.read("marked")
        phase = await drive(fake, users, args.questions, offset=0)
        await bot.say("stop")
        done = await bot.read("done")
    result = Result(
        variant,
        len(phase.latencies),
        phase.seconds,
        phase.latencies,
        phase.parent_cpu,
        phase.machine_cpu,
        phase.polls,
        phase.extra,
        ready["hwm_kb"],
        done["hwm_kb"],
        ready["updates"],
        done,
    )
    return result, profile_out


# --- report ----------------------------------------------------------------------------------
def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rows = [rows[0], ["-" * w for w in widths], *rows[1:]]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def main_table(results: Sequence[Result], runs: dict[str, list[Result]]) -> list[str]:
    echo = next((r for r in results if r.variant.key == "echo"), None)
    repeated = any(len(v) > 1 for v in runs.values())
    rows = [
        (
            "bot",
            "DB",
            "limit",
            "updates",
            "replies",
            "replies/s",
            *(["all runs"] if repeated else []),
            "vs echo seq",
            "p50 ms",
            "p99 ms",
            "max ms",
            "getUpdates/reply",
            "bot CPU ms/reply (main thread)",
            "fake+users CPU",
            "other procs",
            "SQL/reply",
            "peak RSS MB ready -> end",
        )
    ]
    for r in results:
        sql = sum(r.child["sql"].values())
        every = ", ".join(f"{x.rate:.0f}" for x in runs[r.variant.key])
        ms = 1000 / r.replies  # seconds in total -> milliseconds per reply
        rows.append(
            (
                r.variant.label,
                r.variant.db or "-",
                r.variant.limiter_label,
                r.updates,
                f"{r.replies}",
                f"{r.rate:.1f}",
                *([every] if repeated else []),
                f"{r.rate / echo.rate:.0%}" if echo else "-",
                f"{r.pct(50):.1f}",
                f"{r.pct(99):.1f}",
                f"{max(r.latencies) * 1000:.1f}",
                f"{r.polls / r.replies:.2f}",
                f"{r.child['cpu'] * ms:.2f} ({r.child['main_cpu'] * ms:.2f})",
                f"{r.parent_cpu / r.seconds:.0%}",
                f"{r.others:.2f} cores",
                f"{sql / r.replies:.2f}" if r.variant.kind == "ours" else "-",
                f"{r.ready_kb / 1024:.1f} -> {r.peak_kb / 1024:.1f}",
            )
        )
    return _table(rows)


def verdicts(results: Sequence[Result]) -> list[str]:
    """Each of our rows against each echo row: >= 80 % of its throughput meets the goal."""
    echoes = [r for r in results if r.variant.kind == "echo"]
    if not echoes:
        return []
    lines = []
    for ours in results:
        if ours.variant.kind != "ours" or ours.variant.mode:
            continue
        parts = []
        for echo in echoes:
            ratio = ours.rate / echo.rate
            mark = "meets" if ratio >= 0.8 else "MISSES"
            parts.append(f"{ratio:.0%} of {echo.variant.label} ({mark})")
        lines.append(
            f"  {ours.variant.label} ({ours.variant.db}, {ours.updates}): " + "; ".join(parts)
        )
    return lines


def sql_breakdown(results: Sequence[Result]) -> list[str]:
    lines: list[str] = []
    for r in results:
        if r.variant.kind != "ours" or r.variant.mode:
            continue
        n = r.replies
        parts = [
            f"{label} {count / n:.2f}"
            for label, count in sorted(r.child["sql"].items(), key=lambda kv: -kv[1])
        ]
        events = r.child["events"]
        extra = [f"{name} {events[name] / n:.2f}" for name in sorted(events)]
        lines.append(
            f"  {r.variant.label} ({r.variant.db}): " + ", ".join(parts) + "; " + ", ".join(extra)
        )
    return lines


def stage_report(result: Result) -> list[str]:
    seconds, calls = result.child["stage_seconds"], result.child["stage_calls"]
    rows = [("stage (wall time, measured phase)", "calls", "mean ms", "ms per reply")]
    for name, total in sorted(seconds.items(), key=lambda kv: -kv[1]):
        rows.append(
            (
                name,
                f"{calls[name]}",
                f"{total / calls[name] * 1000:.3f}",
                f"{total / result.replies * 1000:.3f}",
            )
        )
    where = f"{result.variant.db}, limit lifted" if result.variant.db else "no DB"
    return [
        f"Stage timers, {result.variant.label} ({where}, updates {result.updates}): "
        f"{result.rate:.1f} replies/s, p50 {result.pct(50):.1f} ms, bot CPU "
        f"{result.child['cpu'] / result.replies * 1000:.2f} ms/reply. Wall time from entering to "
        "leaving each stage; with concurrent updates it includes waiting for the event loop, "
        "the connection pool and SQLite's lock while other users' updates run",
        *_table(rows),
    ]


#: (file suffix, function name) of calls worth a line of their own in the cProfile report
WATCHED = (
    ("bot/handlers/chat.py", "text"),
    ("bot/storage/repository.py", "pending"),
    ("bot/storage/curation.py", "suggest"),
    ("bot/storage/curation.py", "flush"),
    ("bot/core/faq.py", "answer"),
    ("bot/ratelimit.py", "process_request"),
    ("telegram/_bot.py", "send_message"),
    ("telegram/_update.py", "de_json"),
    ("telegram/ext/_updater.py", "polling_action_cb"),
    ("bot/http.py", "do_request"),
    ("<frozen importlib._bootstrap>", "_find_and_load"),
    ("sqlalchemy/util/_concurrency_py3k.py", "await_only"),
    ("sqlalchemy/util/concurrency.py", "await_"),
)


def _short(file: str) -> str:
    return file.split("site-packages/")[-1].replace(str(PROJECT_DIR) + "/", "")


def cprofile_report(result: Result, path: Path, top: int = 25) -> list[str]:
    raw = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    n = result.replies
    header = ("tottime ms/reply", "cumtime ms/reply", "calls/reply", "function")

    def row(key: tuple[str, int, str], value: tuple[Any, ...]) -> tuple[str, ...]:
        (file, line, name), (_cc, calls, tt, ct, _callers) = key, value
        return (
            f"{tt / n * 1000:.3f}",
            f"{ct / n * 1000:.3f}",
            f"{calls / n:.1f}",
            f"{_short(file)}:{line}({name})",
        )

    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    watched = [
        (k, v)
        for k, v in sorted(raw.items(), key=lambda kv: -kv[1][3])
        if any(k[0].endswith(f) and k[2] == name for f, name in WATCHED)
    ]
    return [
        f"cProfile of the bot's main thread, measured phase ({n} replies, {result.rate:.1f} "
        f"replies/s under the profiler, updates {result.updates}); profiled own time "
        f"{total / n * 1000:.2f} ms/reply. Coroutines count only while running (not while "
        "awaiting); SQLite runs in aiosqlite's threads, not profiled. Top by own time:",
        *_table([header, *(row(k, v) for k, v in ranked)]),
        "",
        "Selected calls (cumulative"
        + (
            "):"
            if result.updates == "sequential"
            else "; unreliable here: updates overlap, so "
            "suspended coroutines and SQLAlchemy's greenlets stay on the profiler's stack):"
        ),
        *_table([header, *(row(k, v) for k, v in watched)]),
    ]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


async def environment(postgres: str | None) -> str:
    parts = [
        f"Python {platform.python_version()}",
        f"PTB {_version('python-telegram-bot')}",
        f"httpx {_version('httpx')}",
        f"httpcore {_version('httpcore')}",
        "sniffio "
        + (_version("sniffio") if importlib.util.find_spec("sniffio") else "not importable"),
        f"SQLAlchemy {_version('SQLAlchemy')}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if postgres:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(postgres)
        async with engine.connect() as conn:
            version = (await conn.execute(text("show server_version"))).scalar()
        await engine.dispose()
        parts.append(f"PostgreSQL {version}")
    parts.append(f"{os.cpu_count()} CPUs")
    return ", ".join(parts)


def question_mix() -> str:
    from bot.knowledge import load_knowledge

    matcher = load_knowledge().faq.matcher
    kinds = Counter(type(matcher.answer(q)).__name__ for q in QUESTIONS)
    return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())


def shown_command(argv: Sequence[str]) -> str:
    from sqlalchemy import make_url

    shown = list(argv)
    for i, arg in enumerate(shown[:-1]):
        if arg == "--postgres":
            shown[i + 1] = make_url(shown[i + 1]).render_as_string(hide_password=True)
    return " ".join([COMMAND, *(shlex.quote(a) for a in shown)])


async def run(args: argparse.Namespace) -> None:
    selected = variants(bool(args.postgres))
    if args.only:
        wanted = set(args.only.split(","))
        selected = [v for v in selected if v.key in wanted]
    print(f"Command: {shown_command(args.argv)}")
    print(f"Environment: {await environment(args.postgres)}")
    print(
        f"Load: {args.users} users at once, each asking {args.questions} questions one at a time "
        f"after {args.warmup} warm-up questions; {len(QUESTIONS)} phrasings ({question_mix()})"
    )
    print(
        "Each bot in its own subprocess, long polling (poll_interval=0, timeout=10) over HTTP to "
        "tests/fake_telegram.py in this process\n",
        flush=True,
    )
    runs: dict[str, list[Result]] = {}
    profiled: list[tuple[Result, Path | None]] = []
    with tempfile.TemporaryDirectory(prefix="e2e_bench_") as tmp:
        for round_ in range(1, args.repeat + 1):
            for variant in selected:
                note = f" round {round_}/{args.repeat}" if args.repeat > 1 else ""
                print(f"  running {variant.label} ({variant.db or 'no DB'}){note} ...", flush=True)
                result, _ = await run_variant(variant, args, Path(tmp))
                runs.setdefault(variant.key, []).append(result)
        if args.profile:
            for variant in PROFILE_VARIANTS:
                print(f"  running {variant.label} ({variant.db or 'no DB'}) ...", flush=True)
                profiled.append(await run_variant(variant, args, Path(tmp)))
        # with --repeat, each row is the run with the median throughput
        results = [
            sorted(runs[v.key], key=lambda r: r.rate)[len(runs[v.key]) // 2] for v in selected
        ]
        print()
        print(*main_table(results, runs), sep="\n")
        print()
        if lines := verdicts(results):
            print("Throughput goal (ours >= 80% of echo):", *lines, sep="\n")
            print()
        if lines := sql_breakdown(results):
            print("Database work per reply (measured phase):", *lines, sep="\n")
            print()
        everything = [r for rs in runs.values() for r in rs] + [r for r, _ in profiled]
        problems = [
            f"  {r.variant.label}: {r.extra} unexpected sendMessage, {r.child['errors']} errors"
            for r in everything
            if r.extra or r.child["errors"]
        ]
        if problems:
            print("Problems:", *problems, sep="\n")
            print()
        for result, path in profiled:
            report = cprofile_report(result, path) if path else stage_report(result)
            print(*report, sep="\n")
            print()
    print(
        "Peak RSS = VmHWM of the bot's subprocess (the fake and the users live in the parent); "
        "'ready' is after imports, initialize() and start of polling. 'other procs' = CPU the "
        "rest of the machine used meanwhile (/proc/stat); near the CPU count, numbers are noise."
    )


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        asyncio.run(child(json.loads(argv[1])))
        return
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent users (50)")
    parser.add_argument("--questions", type=int, default=20, help="measured questions per user")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up questions per user (2)")
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (throw-away DB)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds over all rows; shows the median run (1)"
    )
    parser.add_argument(
        "--only", metavar="KEYS", help="comma-separated rows: " + ", ".join(
            v.key for v in variants(True)
        ),
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true", help="also time stages and run cProfile (ours, SQLite)"
    )
    args = parser.parse_args(argv)
    args.argv = argv
    if args.postgres:
        from bot.config import normalise_database_url

        args.postgres = normalise_database_url(args.postgres)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
