"""The private PostgreSQL cluster: init, start, status, stop under a fresh data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from geo import localdb

ROOT = Path(__file__).resolve().parents[1]


def test_private_cluster_lifecycle(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cluster = localdb.locate(data_dir)
    if os.geteuid() == 0:
        assert cluster.run_as == "postgres"
        assert localdb._user_can_reach("postgres", cluster.root.parent)
    assert not localdb.is_running(cluster)
    try:
        localdb.start(cluster)
        assert localdb.is_running(cluster)
        localdb.ensure_database(cluster)
        conninfo = f"host={cluster.socket_dir} port={localdb.PORT} user={localdb.SUPERUSER} dbname={localdb.DB_NAME}"
        with psycopg.connect(conninfo) as conn:
            version = conn.execute("SELECT postgis_lib_version()").fetchone()
            jit = conn.execute("SHOW jit").fetchone()
        assert version and version[0].startswith("3")
        assert jit == ("off",)
        assert localdb.init(cluster) is False  # second init is a no-op
    finally:
        assert localdb.stop(cluster) is True
    assert not localdb.is_running(cluster)
    assert localdb.stop(cluster) is False
    if cluster.root != data_dir / "pg":  # the fallback location is recorded and reused
        assert localdb.locate(data_dir).root == cluster.root
        subprocess.run(["rm", "-rf", str(cluster.root)], check=True)


def test_db_cli_reports_status_and_revision(engine) -> None:
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    out = subprocess.run([sys.executable, "app.py", "db", "status"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "external database" in out.stdout
    assert "revision 00" in out.stdout


def test_unreachable_data_folder_moves_the_cluster(tmp_path: Path) -> None:
    """As root, a data folder the postgres user cannot reach puts the cluster elsewhere."""
    locked = tmp_path / "home"
    locked.mkdir(mode=0o700)
    data_dir = locked / "clone" / "var"
    cluster = localdb.locate(data_dir)
    if os.geteuid() != 0:
        assert cluster.root == data_dir / "pg" and cluster.run_as is None
        return
    assert not localdb._user_can_reach("postgres", data_dir)
    assert str(cluster.root).startswith("/var/tmp/weijian-pg-")
    assert (data_dir / "pg.location").read_text().strip() == str(cluster.root)
