"""Entry point: ``create_app()`` for WSGI servers and the ``python app.py`` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from geo.config import Settings


def create_app(config: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    """Build the Flask application (see :func:`webmap.factory.create_app`)."""
    from webmap.factory import create_app as _create

    return _create(config)


class Context:
    """Lazily opened resources shared by the commands."""

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self._engine: Any = None

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        if self._engine is None:
            from geo.db import database_url, make_engine

            self._engine = make_engine(database_url(self.settings))
        return self._engine

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        from geo.db import session_factory

        return session_factory(self.engine)


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _fail(exc: Exception) -> None:
    click.secho(f"错误 / error: {exc}", fg="red", err=True)
    sys.exit(1)


@click.group()
def cli() -> None:
    """违法建筑监测平台 — illegal-structure monitoring platform."""


# ----------------------------------------------------------------------------- db
@cli.group()
def db() -> None:
    """Manage the database (the private cluster when DATABASE_URL is unset)."""


@db.command("start")
@pass_ctx
def db_start(ctx: Context) -> None:
    """Initialise (first time) and start the private PostgreSQL + PostGIS."""
    from geo import localdb
    from geo.errors import GeoError

    try:
        cluster = localdb.locate(ctx.settings.data_dir)
        created = localdb.init(cluster)
        localdb.start(cluster)
        localdb.ensure_database(cluster)
    except GeoError as exc:
        _fail(exc)
    click.echo(f"PostgreSQL {'initialised and ' if created else ''}running at {cluster.socket_dir}")


@db.command("stop")
@pass_ctx
def db_stop(ctx: Context) -> None:
    """Stop the private cluster."""
    from geo import localdb

    cluster = localdb.locate(ctx.settings.data_dir)
    click.echo("stopped" if localdb.stop(cluster) else "not running")


@db.command("status")
@pass_ctx
def db_status(ctx: Context) -> None:
    """Show whether the database runs and its migration revision."""
    from geo import localdb

    if ctx.settings.database_url:
        from geo.migrate import current

        click.echo(f"external database (DATABASE_URL); revision {current(ctx.engine)}")
        return
    cluster = localdb.locate(ctx.settings.data_dir)
    running = localdb.is_running(cluster)
    click.echo(f"private cluster at {cluster.root}: {'running' if running else 'stopped'}")
    if running:
        from geo.migrate import current

        click.echo(f"revision: {current(ctx.engine)}")
    else:
        sys.exit(3)


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_ctx
def db_upgrade(ctx: Context, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from geo.migrate import current, upgrade

    upgrade(ctx.engine, revision)
    click.echo(f"database at revision {current(ctx.engine)}")


@db.command("downgrade")
@click.argument("revision")
@pass_ctx
def db_downgrade(ctx: Context, revision: str) -> None:
    """Revert migrations down to REVISION (e.g. base)."""
    from geo.migrate import current, downgrade

    downgrade(ctx.engine, revision)
    click.echo(f"database at revision {current(ctx.engine)}")


# ----------------------------------------------------------------------------- web
@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the web app (a production WSGI server when available)."""
    app = create_app()
    try:
        from waitress import serve as wserve  # type: ignore[import-not-found]

        wserve(app, host=host, port=port, threads=8)
    except ImportError:
        app.run(host=host, port=port, threaded=True)


@cli.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo district but do not serve it.")
@pass_ctx
def demo(ctx: Context, host: str, port: int, no_serve: bool) -> None:
    """Start the database, load the demo district and serve the web map."""
    from geo.demo import prepare
    from geo.errors import GeoError

    try:
        logins = prepare(ctx.engine, ctx.settings, say=lambda m: click.echo(f"· {m}"))
    except GeoError as exc:
        _fail(exc)
    click.echo("")
    click.secho(f"违法建筑监测平台 demo: http://{host}:{port}", fg="green", bold=True)
    click.echo("logins (用户名 / 角色 / 街道 / 密码):")
    for login in logins:
        click.echo(f"  {login.username:<10} {login.role:<7} {login.street or '-':<8} {login.password}")
    if not no_serve:
        ctx.engine.dispose()
        serve.callback(host=host, port=port)  # type: ignore[misc]


# ----------------------------------------------------------------------------- samples
@cli.command("make-samples")
@click.option("--out", "out_dir", default="sample_tiles", show_default=True, type=click.Path(file_okay=False))
@click.option("--seed", default=2025, show_default=True, type=int, help="Same seed, same pixels.")
def make_samples(out_dir: str, seed: int) -> None:
    """Generate the synthetic sample orthophotos, their ground truth and the demo records."""
    from tqdm import tqdm

    from geo import samples

    with tqdm(total=samples.steps(), desc="make-samples", unit="step") as bar:
        written = samples.generate(out_dir, seed=seed, progress=lambda label: (bar.set_postfix_str(label), bar.update()))
    for path in written:
        click.echo(f"{path}  {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    cli(obj=None)
