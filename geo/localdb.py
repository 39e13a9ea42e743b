"""The project's private PostgreSQL + PostGIS cluster.

With no ``DATABASE_URL`` the project runs its own cluster under the data folder:
``initdb`` on first use, then a server listening on a unix socket only. ``initdb``
refuses to run as root, so as root the server runs as the ``postgres`` user through
``runuser``; when that user cannot reach the data folder (a clone under a mode-700
home is common in CI) the cluster lives in a folder of its own under ``/var/tmp``
and the data folder records where.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geo.errors import DatabaseUnavailable

PORT = 54329
DB_NAME = "weijian"
SUPERUSER = "postgres"
_SERVER_USER = "postgres"


@dataclass(frozen=True)
class Cluster:
    """Where a private cluster lives.

    Attributes:
        root: folder holding ``data/`` (PGDATA), ``run/`` (socket) and ``server.log``.
        bindir: folder of ``initdb``, ``pg_ctl`` and ``postgres``.
        run_as: user the server runs as, or None for the current user.
    """

    root: Path
    bindir: Path
    run_as: str | None

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = DB_NAME) -> str:
        """SQLAlchemy URL for a database of this cluster (psycopg 3 over the socket)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={PORT}"


def find_bindir() -> Path:
    """Return the bin folder of the newest PostgreSQL that has PostGIS installed.

    Raises:
        DatabaseUnavailable: no PostgreSQL with PostGIS is installed.
    """
    candidates: list[tuple[int, Path]] = []
    for base in Path("/usr/lib/postgresql").glob("*/bin"):
        version = base.parent.name
        if not version.isdigit():
            continue
        control = Path(f"/usr/share/postgresql/{version}/extension/postgis.control")
        if (base / "pg_ctl").exists() and control.exists():
            candidates.append((int(version), base))
    if candidates:
        return max(candidates)[1]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:  # conda-forge or another layout: trust the PATH
        return Path(pg_ctl).resolve().parent
    raise DatabaseUnavailable(
        "no PostgreSQL with PostGIS found: install the Debian package postgresql-15-postgis-3 "
        "(make setup does) or set DATABASE_URL to an existing PostGIS"
    )


def _user_can_reach(user: str, path: Path) -> bool:
    """Whether ``user`` can traverse every folder down to ``path``."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(probe), "-a", "-r", str(probe)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def locate(data_dir: Path) -> Cluster:
    """Decide where the private cluster of ``data_dir`` lives (creating nothing but folders)."""
    bindir = find_bindir()
    if os.geteuid() != 0:
        return Cluster(root=data_dir / "pg", bindir=bindir, run_as=None)
    try:
        pwd.getpwnam(_SERVER_USER)
    except KeyError as exc:
        raise DatabaseUnavailable(
            f"running as root needs the '{_SERVER_USER}' system user to run the server; "
            "install the postgresql package or run as an ordinary user"
        ) from exc
    pointer = data_dir / "pg.location"
    if pointer.exists():
        return Cluster(root=Path(pointer.read_text().strip()), bindir=bindir, run_as=_SERVER_USER)
    data_dir.mkdir(parents=True, exist_ok=True)
    root = data_dir / "pg"
    if not _user_can_reach(_SERVER_USER, data_dir):
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        root = Path("/var/tmp") / f"weijian-pg-{digest}"
    pointer.write_text(str(root) + "\n")
    return Cluster(root=root, bindir=bindir, run_as=_SERVER_USER)


def _run(cluster: Cluster, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(cluster.bindir / args[0]), *args[1:]]
    if cluster.run_as:
        cmd = ["runuser", "-u", cluster.run_as, "--", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise DatabaseUnavailable(
            f"{args[0]} failed (exit {result.returncode}): {(result.stderr or result.stdout).strip()}"
        )
    return result


def _prepare_folders(cluster: Cluster) -> None:
    cluster.root.mkdir(parents=True, exist_ok=True)
    cluster.socket_dir.mkdir(parents=True, exist_ok=True)
    if cluster.run_as:
        entry = pwd.getpwnam(cluster.run_as)
        for path in (cluster.root, cluster.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if cluster.pgdata.exists():
            os.chown(cluster.pgdata, entry.pw_uid, entry.pw_gid)
        if cluster.logfile.exists():
            os.chown(cluster.logfile, entry.pw_uid, entry.pw_gid)
        os.chmod(cluster.root, 0o755)
        os.chmod(cluster.socket_dir, 0o755)


def init(cluster: Cluster) -> bool:
    """Create the cluster if it does not exist. Returns True when it was created."""
    _prepare_folders(cluster)
    if (cluster.pgdata / "PG_VERSION").exists():
        return False
    _run(
        cluster,
        ["initdb", "-D", str(cluster.pgdata), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
         "--locale=C.UTF-8", "--no-instructions"],
    )
    settings = {
        "listen_addresses": "''",
        "port": str(PORT),
        "unix_socket_directories": f"'{cluster.socket_dir}'",
        "max_connections": "100",
        "shared_buffers": "256MB",
        "work_mem": "32MB",
        "maintenance_work_mem": "256MB",
        "jit": "off",
        "fsync": "on",
        "timezone": "'UTC'",
        "log_min_messages": "warning",
    }
    conf = cluster.pgdata / "postgresql.conf"
    with conf.open("a", encoding="utf-8") as fh:
        fh.write("\n# written by geo.localdb\n")
        for key, value in settings.items():
            fh.write(f"{key} = {value}\n")
    return True


def is_running(cluster: Cluster) -> bool:
    """Whether the server of this cluster is up."""
    if not (cluster.pgdata / "PG_VERSION").exists():
        return False
    return _run(cluster, ["pg_ctl", "status", "-D", str(cluster.pgdata)], check=False).returncode == 0


def start(cluster: Cluster, timeout: float = 60.0) -> None:
    """Initialise if needed and start the server; wait until it accepts connections.

    Raises:
        DatabaseUnavailable: with the server log's last lines when it does not come up.
    """
    init(cluster)
    if is_running(cluster):
        return
    _prepare_folders(cluster)
    result = _run(
        cluster,
        ["pg_ctl", "start", "-w", "-t", str(int(timeout)), "-D", str(cluster.pgdata),
         "-l", str(cluster.logfile)],
        check=False,
    )
    if result.returncode != 0:
        tail = ""
        if cluster.logfile.exists():
            tail = "\n".join(cluster.logfile.read_text(errors="replace").splitlines()[-15:])
        raise DatabaseUnavailable(f"the private PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
    _wait_ready(cluster, timeout)


def _wait_ready(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = _run(cluster, ["pg_ctl", "status", "-D", str(cluster.pgdata)], check=False)
        if probe.returncode == 0 and (cluster.socket_dir / f".s.PGSQL.{PORT}").exists():
            return
        time.sleep(0.2)
    raise DatabaseUnavailable(f"the private PostgreSQL at {cluster.root} did not become ready in {timeout:.0f} s")


def stop(cluster: Cluster) -> bool:
    """Stop the server cleanly. Returns False when it was not running."""
    if not is_running(cluster):
        return False
    _run(cluster, ["pg_ctl", "stop", "-w", "-m", "fast", "-D", str(cluster.pgdata)])
    return True


def ensure_database(cluster: Cluster, dbname: str = DB_NAME) -> None:
    """Create ``dbname`` with PostGIS if it does not exist."""
    import psycopg

    conninfo = f"host={cluster.socket_dir} port={PORT} user={SUPERUSER} dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    with psycopg.connect(conninfo.replace("dbname=postgres", f"dbname={dbname}"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def current_user() -> str:
    """Name of the user running this process (for messages)."""
    return getpass.getuser()
