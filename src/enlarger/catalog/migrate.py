"""Bring a catalog database to the newest schema with Alembic, from inside the program.

Every process that opens the catalog upgrades it first; Alembic's version table makes that a
no-op when the schema is current, so replicas can start in any order.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> None:
    """Apply every migration not yet applied on ``connection``'s database."""
    command.upgrade(alembic_config(connection), "head")
