"""Throwaway databases on the configured server, for tests and benchmarks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

from geo.config import Settings
from geo.db import database_url, make_engine
from geo.migrate import upgrade


def _admin_url(url: URL) -> URL:
    return url.set(database="postgres")


@contextmanager
def throwaway_database(settings: Settings | None = None, prefix: str = "wj_test", migrate: bool = True,
                       pool_size: int = 4) -> Iterator[Engine]:
    """Create a fresh PostGIS database, migrate it, yield an engine, and drop it afterwards.

    Raises:
        DatabaseUnavailable: the server could not be started or reached.
    """
    settings = settings or Settings.from_env()
    base = make_url(database_url(settings))
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_admin_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(base.set(database=name).render_as_string(hide_password=False), pool_size=pool_size)
        try:
            if migrate:
                upgrade(engine)
            else:
                with engine.begin() as conn:
                    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
