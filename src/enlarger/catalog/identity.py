"""Which catalog this is: the random id migration 0006 wrote, read by the storage ownership check."""

from __future__ import annotations

from sqlalchemy import Engine, select

from enlarger.catalog.schema import catalog_meta


def catalog_id(engine: Engine) -> str:
    """The catalog's id; every replica on the same database reads the same one."""
    with engine.connect() as c:
        value: str = c.execute(select(catalog_meta.c.value).where(catalog_meta.c.name == "catalog_id")).scalar_one()
    return value
