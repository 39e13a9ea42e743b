"""The demo district: what ``make demo`` loads before serving the web map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from geo.config import Settings
from geo.db import session_factory, transaction
from geo.models import AdminUnit, Role, User
from geo.users import create_user

#: The demo logins (username, role, street, password). Printed by ``make demo``.
DEMO_USERS: tuple[tuple[str, Role, str | None, str], ...] = (
    ("admin", Role.ADMIN, None, "admin-demo-2025"),
    ("office", Role.OFFICE, None, "office-demo-2025"),
    ("huayang", Role.STREET, "华阳路街道", "street-demo-2025"),
    ("pilot", Role.DRONE, None, "drone-demo-2025"),
    ("leader", Role.VIEWER, None, "viewer-demo-2025"),
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    street: str | None
    password: str


def district_loaded(engine: Engine) -> bool:
    """Whether a district is already in the database."""
    with session_factory(engine)() as session:
        return bool(session.scalar(select(func.count()).select_from(AdminUnit)))


def ensure_users(engine: Engine) -> list[DemoLogin]:
    """Create the demo logins that do not exist yet; return all of them."""
    with transaction(session_factory(engine)) as session:
        existing = set(session.scalars(select(User.username)))
        for name, role, street, password in DEMO_USERS:
            if name not in existing:
                create_user(session, name, password, role.value, street=street)
    return [DemoLogin(n, r.value, s, p) for n, r, s, p in DEMO_USERS]


ProgressFn = Callable[[str], None]


def prepare(engine: Engine, settings: Settings, say: ProgressFn = print, seed: int = 2025) -> list[DemoLogin]:
    """Migrate, seed the district once, create the logins, and load the sample imagery.

    Running it again keeps the data and only does what is missing.
    """
    from geo.migrate import upgrade

    say("migrating the database …")
    upgrade(engine)
    if district_loaded(engine):
        say("demo district already loaded: keeping its data")
    else:
        from tqdm import tqdm

        from geo.seed import STAGES, seed_demo

        say("loading the demo district (长宁区) …")
        with tqdm(total=len(STAGES), unit="step", desc="seed-demo") as bar:

            def step(stage: str) -> None:
                bar.set_postfix_str(stage)
                bar.update()

            report = seed_demo(engine, seed=seed, progress=step)
        say(f"demo district loaded in {report.seconds:.1f} s")
    logins = ensure_users(engine)
    _load_sample_imagery(engine, settings, say)
    return logins


def _load_sample_imagery(engine: Engine, settings: Settings, say: ProgressFn) -> None:
    """Ingest ``sample_tiles/`` and run their detection jobs (skipped when done before)."""
    from geo.demo_imagery import load

    say("ingesting sample imagery and running change detection …")
    load(engine, settings)
