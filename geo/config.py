"""Settings read from the environment (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Runtime settings.

    Attributes:
        data_dir: where the private database cluster, imagery store and outputs live.
        database_url: an external PostGIS; None means the project's private cluster.
        dask_scheduler: address of an existing Dask scheduler, or None for a LocalCluster.
    """

    data_dir: Path
    database_url: str | None = None
    dask_scheduler: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from environment variables.

        Args:
            environ: mapping to read instead of ``os.environ`` (for tests).
        """
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("DATA_DIR") or PROJECT_ROOT / "var").resolve()
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL") or None,
            dask_scheduler=env.get("DASK_SCHEDULER_ADDRESS") or None,
        )
