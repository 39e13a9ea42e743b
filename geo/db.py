"""Engines and sessions for the configured PostGIS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from geo import localdb
from geo.config import Settings


def normalise_url(url: str) -> str:
    """Make any PostgreSQL URL use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url(settings: Settings, start: bool = True) -> str:
    """Return the SQLAlchemy URL of the database to use.

    With ``DATABASE_URL`` set, that one. Otherwise the private cluster under the data
    folder, started (and its database created) when ``start`` is true.
    """
    if settings.database_url:
        return normalise_url(settings.database_url)
    cluster = localdb.locate(settings.data_dir)
    if start:
        localdb.start(cluster)
        localdb.ensure_database(cluster)
    return cluster.url()


def make_engine(url: str, pool_size: int = 4) -> Engine:
    """Create an engine with the session settings every connection needs."""
    engine = create_engine(url, pool_size=pool_size, max_overflow=8, pool_pre_ping=True, future=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
        dbapi_conn.commit()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    session = factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()
