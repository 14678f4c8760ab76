"""Bring a catalog database to the newest schema with Alembic, from inside the program.

Every process that opens the catalog upgrades it first; Alembic's version table makes that a
no-op when the schema is current, so replicas can start in any order. Replicas started at the
same moment on a new database (what every orchestrator does with a new version) would otherwise
run the same migration side by side and all but one fail (``DuplicateTable alembic_version``),
so the upgrade runs under one lock: a PostgreSQL transaction-level advisory lock, or on SQLite an
exclusive lock on a file beside the database. The others wait, then find the schema current.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")
#: the advisory lock's key, the same in every Enlarger process ("enlarger" as ASCII digits)
LOCK_KEY = 0x656E6C61726765


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """A transaction in which this process is the only one migrating the database; the lock is
    released after the commit, so the next process finds the schema and its version together."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, after the commit
            with engine.begin() as connection:
                yield connection
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # held to the end of the transaction
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield connection


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied on ``engine``'s database, one process at a time."""
    with _exclusive(engine) as connection:
        command.upgrade(alembic_config(connection), "head")
