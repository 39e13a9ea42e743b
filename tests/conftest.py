"""Shared fixtures: a real PostGIS database per test session (never skipped, never mocked)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A migrated throwaway PostGIS database for the whole test session.

    If PostGIS cannot be started the run stops with the reason: a missing database is a
    failure, not a skip.
    """
    from geo.errors import DatabaseUnavailable
    from geo.testdb import throwaway_database

    try:
        cm = throwaway_database()
        eng = cm.__enter__()
    except DatabaseUnavailable as exc:
        pytest.exit(f"PostGIS is required and could not be started: {exc}", returncode=3)
    try:
        yield eng
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test.

    Deferred constraints fire only at commit; tests that need them call
    ``session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))``.
    """
    conn = engine.connect()
    trans = conn.begin()
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    sess = factory()
    try:
        yield sess
    finally:
        sess.close()
        trans.rollback()
        conn.close()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A factory of real, committing sessions (tests must use unique data)."""
    from geo.db import session_factory

    return session_factory(engine)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real imagery beside the project (read in place, never copied)."""
    assert SHARED_DATA.is_dir(), f"missing {SHARED_DATA}: the shared data folder must sit beside the project"
    return SHARED_DATA
