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

        def step(label: str) -> None:
            bar.set_postfix_str(label)
            bar.update()

        written = samples.generate(out_dir, seed=seed, progress=step)
    for path in written:
        click.echo(f"{path}  {path.stat().st_size / 1e6:.2f} MB")


# ----------------------------------------------------------------------------- imagery
@cli.command("ingest")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sensor", type=click.Choice(["drone", "satellite"]), required=True)
@click.option("--captured", required=True, help="Capture time, ISO 8601 with zone, e.g. 2025-03-14T10:20+08:00.")
@click.option("--sortie", "sortie_code", help="Sortie (出动) code; created when new.")
@click.option("--pilot", help="Pilot (飞手) of a new sortie.")
@click.option("--drone", "drone_name", help="Aircraft of a new sortie.")
@click.option("--task", "task_name", help="Area or task name of a new sortie.")
@click.option("--watch", "watch_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Keep ingesting files that land in this folder (moved to done/ or refused/).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls of --watch.")
@click.option("--no-district-check", is_flag=True, help="Accept footprints outside the district.")
@pass_ctx
def ingest(ctx: Context, files: tuple[Path, ...], sensor: str, captured: str, sortie_code: str | None,
           pilot: str | None, drone_name: str | None, task_name: str | None, watch_dir: Path | None,
           interval: float, no_district_check: bool) -> None:
    """Validate, store and queue GeoTIFF FILES (one result line per file)."""
    from datetime import datetime

    from tqdm import tqdm

    from geo.imagery.batch import default_limits, ingest_paths, watch
    from geo.imagery.ingest import SortieInput
    from geo.imagery.store import cleanup_orphans

    try:
        when = datetime.fromisoformat(captured)
    except ValueError:
        _fail(ValueError(f"--captured: '{captured}' is not an ISO 8601 time (e.g. 2025-03-14T10:20+08:00)"))
    sortie = SortieInput(code=sortie_code, pilot=pilot, drone=drone_name, task=task_name)
    cleanup_orphans(ctx.engine, ctx.settings.data_dir)
    limits = default_limits(ctx.engine, check_district=not no_district_check)

    def bar_for(path: Path):  # type: ignore[no-untyped-def]
        bar = tqdm(total=100, desc=path.name[:30], unit="%", leave=False)

        def update(stage: str, fraction: float) -> None:
            bar.set_postfix_str(stage)
            bar.update(round(fraction * 100) - bar.n)
            if stage == "done":
                bar.close()
        return update

    failed = 0
    if files:
        for out in ingest_paths(ctx.engine, ctx.settings, files, sensor=sensor, captured_at=when, sortie=sortie,
                                limits=limits, progress_for=bar_for):
            failed += out.error is not None
            tqdm.write(out.line)
    if watch_dir is not None:
        click.echo(f"watching {watch_dir} (Ctrl-C to stop)")
        from contextlib import suppress

        with suppress(KeyboardInterrupt):
            watch(ctx.engine, ctx.settings, watch_dir, sensor=sensor, captured_at=when, sortie=sortie,
                  limits=limits, on_outcome=lambda o: tqdm.write(o.line), interval=interval, progress_for=bar_for)
    if failed:
        sys.exit(1)


@cli.command("worker")
@click.option("--concurrency", default=1, show_default=True, type=int, help="Jobs run at the same time.")
@click.option("--once", is_flag=True, help="Process until the queue is empty, then exit.")
@pass_ctx
def worker(ctx: Context, concurrency: int, once: bool) -> None:
    """Run the queued jobs (change detection of new scenes)."""
    import logging

    from geo.queue import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_worker(ctx.engine, ctx.settings, concurrency=concurrency, once=once)


# ----------------------------------------------------------------------------- detect
@cli.command("detect")
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@click.option("--mask", "mask_out", required=True, type=click.Path(dir_okay=False), help="0/255 PNG (AFTER's size)")
@click.option("--geojson", "geojson_out", type=click.Path(dir_okay=False), help="polygons as GeoJSON")
@click.option("--look-back", "look_back", type=click.Path(dir_okay=False),
              help="GeoJSON of recorded violations: structures that vanished there are looked for too")
@click.option("--keep-vegetation", is_flag=True,
              help="保留植被色像元 / do not veto vegetation-coloured pixels (e.g. roofs painted green or teal)")
def detect(
    before: str, after: str, mask_out: str, geojson_out: str | None, look_back: str | None, keep_vegetation: bool
) -> None:
    """变化检测 — detect appeared/demolished structures between BEFORE and AFTER (no database)."""
    from detection.cli_support import run_detect
    from detection.errors import DetectionError
    from detection.types import DetectParams

    params = DetectParams(vegetation_veto=None) if keep_vegetation else None

    with click.progressbar(length=1000, label="检测中 / detecting", file=sys.stderr) as bar:
        def progress(fraction: float) -> None:
            bar.update(int(fraction * 1000) - bar.pos)

        try:
            s = run_detect(before, after, mask_out, geojson_out, params=params, progress=progress, look_back=look_back)
        except (DetectionError, OSError) as exc:
            _fail(exc)
            return
    click.echo(
        f"{s.polygons} 处变化 / changes ({s.appeared} appeared, {s.disappeared} disappeared), "
        f"{s.changed_fraction:.2%} of pixels, CRS {s.crs or 'pixel'}; mask → {mask_out}"
        + (f", polygons → {geojson_out}" if geojson_out else "")
    )


# ----------------------------------------------------------------------------- data: import, export, seed, users
@cli.command("import")
@click.argument("kind", type=click.Choice(["admin-units", "parcels", "violations", "permits", "complaints"]))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--crs", help="CRS of the file's coordinates (e.g. EPSG:4549); required when the file has none.")
@click.option("--encoding", help="Text encoding of a Shapefile without .cpg or of a CSV (e.g. GBK).")
@pass_ctx
def import_cmd(ctx: Context, kind: str, file: str, crs: str | None, encoding: str | None) -> None:
    """Import KIND from FILE (GeoPackage, Shapefile or .zip, GeoJSON, CSV/XLSX with WKT); all or nothing."""
    from tqdm import tqdm

    from geo.db import transaction
    from geo.errors import GeoError
    from geo.io.importer import import_file

    bar = tqdm(total=0, unit="row", desc=f"import {kind}", disable=None)

    def progress(n: int, total: int) -> None:
        bar.total = total
        bar.update(n)

    try:
        with transaction(ctx.sessions) as session:
            report = import_file(session, kind, file, crs=crs, progress=progress, encoding=encoding)
    except GeoError as exc:
        bar.close()
        _fail(exc)
    bar.close()
    click.echo(f"imported {report.rows} {kind} from {report.path} ({report.source_crs} → EPSG:4326) "
               f"in {report.seconds:.1f} s")


@cli.command("export")
@click.argument("kind", type=click.Choice(["parcels", "violations", "detections", "admin-units"]))
@click.option("--format", "fmt", type=click.Choice(["gpkg", "geojson", "csv", "xlsx"]), required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write (replaced atomically).")
@click.option("--street", help="Only this street/town (name or code).")
@click.option("--status", help="Only this status (violations) or review status (detections).")
@pass_ctx
def export_cmd(ctx: Context, kind: str, fmt: str, out: str, street: str | None, status: str | None) -> None:
    """Export KIND to a file (EPSG:4326; CSV/XLSX carry EWKT in a 'wkt' column)."""
    from geo.errors import GeoError
    from geo.io.exporter import export

    try:
        with ctx.sessions() as session:
            report = export(session, kind, fmt, out, street=street, status=status)
    except GeoError as exc:
        _fail(exc)
    click.echo(f"wrote {report.rows} {kind} to {report.path}")


@cli.command("seed-demo")
@click.option("--seed", default=2025, show_default=True, type=int, help="Same seed and day, same data.")
@click.option("--today", help="Day the data runs up to, YYYY-MM-DD (default: today, Asia/Shanghai).")
@click.option("--scale", default=1.0, show_default=True, type=float, help="District size (1 = about 20,000 parcels).")
@pass_ctx
def seed_demo_cmd(ctx: Context, seed: int, today: str | None, scale: float) -> None:
    """Load the synthetic 长宁区 demo district into an EMPTY database (refuses otherwise)."""
    from datetime import date

    from tqdm import tqdm

    from geo.errors import GeoError
    from geo.seed import STAGES, seed_demo
    from geo.synthetic import FULL

    bar = tqdm(total=len(STAGES), unit="step", desc="seed-demo", disable=None)

    def progress(stage: str) -> None:
        bar.set_postfix_str(stage)
        bar.update(1)

    try:
        day = date.fromisoformat(today) if today else None
        report = seed_demo(ctx.engine, seed, today=day, size=FULL.scaled(scale) if scale != 1.0 else FULL,
                           progress=progress)
    except (GeoError, ValueError) as exc:
        bar.close()
        _fail(exc)
    bar.close()
    click.echo(", ".join(f"{k}: {v}" for k, v in report.counts.items()))
    if report.records_file:
        click.echo(f"sample imagery records from {report.records_file}")
    click.echo(f"seeded in {report.seconds:.1f} s")


@cli.group()
def users() -> None:
    """Manage logins."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "office", "street", "drone", "viewer"]), required=True)
@click.option("--street", help="Street/town (name or code) a street user works in.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def users_create(ctx: Context, name: str, role: str, street: str | None, password_stdin: bool) -> None:
    """Create a login NAME (asks for the password twice unless --password-stdin)."""
    from geo.db import transaction
    from geo.errors import GeoError
    from geo.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码 / password", hide_input=True, confirmation_prompt=True)
    try:
        with transaction(ctx.sessions) as session:
            user = create_user(session, name, password, role, street=street)
            click.echo(f"created user {user.username} ({user.role}{', ' + street if street else ''})")
    except GeoError as exc:
        _fail(exc)


@users.command("list")
@pass_ctx
def users_list(ctx: Context) -> None:
    """List the logins."""
    from sqlalchemy import select

    from geo.models import AdminUnit, User

    with ctx.sessions() as session:
        rows = session.execute(
            select(User.username, User.role, AdminUnit.name, User.active)
            .outerjoin(AdminUnit, AdminUnit.id == User.street_id).order_by(User.username)
        ).all()
    for r in rows:
        click.echo(f"{r.username}\t{r.role}\t{r.name or '-'}\t{'active' if r.active else 'disabled'}")


# ----------------------------------------------------------------------------- reports
@cli.group()
def report() -> None:
    """Monthly monitoring-index report and weekly brief: index.html, report.pdf, report.xlsx."""


def _report_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True),
                     help="Index weights and rating bands (default: $DATA_DIR/index_config.toml, "
                          "else reports/index_config.toml).")(f)
    f = click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write into.")(f)
    f = click.option("--district", help="District name or code (default: the only one).")(f)
    return f


def _run_report(ctx: Context, label: str, kind: str, district: str | None, out: str, config_path: str | None,
                lang: str) -> None:
    from reports.errors import ReportError
    from reports.generate import STEPS, run

    try:
        with click.progressbar(length=len(STEPS), label="生成报告 / rendering", show_eta=False) as bar:
            outputs = run(ctx.sessions, label, kind, Path(out), district=district, config_path=config_path,
                          data_dir=ctx.settings.data_dir, lang=lang, progress=lambda _step: bar.update(1))
    except ReportError as exc:
        _fail(exc)
    for path in (outputs.html, outputs.pdf, outputs.xlsx):
        click.echo(str(path))


@report.command("monthly")
@click.option("--month", required=True, help="Calendar month in Beijing time, YYYY-MM.")
@_report_options
@pass_ctx
def report_monthly(ctx: Context, month: str, district: str | None, out: str, config_path: str | None,
                   lang: str) -> None:
    """The monthly report of MONTH for the district and each street."""
    _run_report(ctx, month, "month", district, out, config_path, lang)


@report.command("weekly")
@click.option("--week", required=True, help="ISO week in Beijing time, YYYY-Www.")
@_report_options
@pass_ctx
def report_weekly(ctx: Context, week: str, district: str | None, out: str, config_path: str | None,
                  lang: str) -> None:
    """The weekly brief of WEEK (same figures as the monthly report)."""
    _run_report(ctx, week, "week", district, out, config_path, lang)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    cli(obj=None)
