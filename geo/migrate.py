"""Running the Alembic migrations of ``migrations/`` against a database."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from geo.config import PROJECT_ROOT


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of ``engine`` up to ``revision``."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database of ``engine`` down to ``revision`` (e.g. ``base``)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    command.downgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
