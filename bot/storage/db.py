"""Engine creation and schema migration (Alembic, run in-process at start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x616E6B6C  # PostgreSQL advisory lock key: one instance migrates at a time


def create_engine(url: str) -> AsyncEngine:
    # hide_parameters: a database error's message (logged with its traceback) would otherwise
    # carry the statement's values, such as the text of a user's question.
    engine = create_async_engine(
        url, pool_pre_ping=not url.startswith("sqlite"), hide_parameters=True
    )
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers and one writer overlap; the busy timeout rides out short write locks."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to head; safe to run from several instances at once on PostgreSQL."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


async def schema_revision(engine: AsyncEngine) -> tuple[str | None, str]:
    """(the database's revision, the code's head): equal when no migration is pending."""

    def current(sync: Connection) -> str | None:
        return MigrationContext.configure(sync).get_current_revision()

    async with engine.connect() as conn:
        revision = await conn.run_sync(current)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return revision, head
