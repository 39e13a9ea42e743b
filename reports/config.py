"""The index configuration (weights, deadline, rating bands) read from a TOML file.

The packaged default is ``reports/index_config.toml``; the office's copy in the data folder
(``$DATA_DIR/index_config.toml``) or an explicit path replaces it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo.models import Status
from reports.errors import ReportConfigError

DEFAULT_PATH = Path(__file__).with_name("index_config.toml")
FILE_NAME = "index_config.toml"

INDICATORS: tuple[str, ...] = (
    "proactive_discovery",
    "lawful_disposal",
    "zero_growth",
    "closure_progress",
    "complaint_completion",
    "disposal_time",
)


@dataclass(frozen=True)
class IndexConfig:
    """Settings of the monitoring index.

    Attributes:
        weights: weight of each indicator (keys of :data:`INDICATORS`), summing to > 0.
        deadline_days: days after confirmation within which a new item must be disposed.
        disposal_statuses: statuses that count as disposal.
        full_score_days / zero_score_days: scoring of the median days to closure.
        pro_rata: compare closure progress with the elapsed share of the year.
        bands: lowest index of ``excellent``, ``good`` and ``fair``.
        flag_bottom: how many streets are flagged at the bottom.
        min_defined: fewest defined indicators for an index (else it is undefined, "—").
        source: the file it came from.
    """

    weights: dict[str, float]
    deadline_days: int
    disposal_statuses: tuple[str, ...]
    full_score_days: float
    zero_score_days: float
    pro_rata: bool
    bands: dict[str, float]
    flag_bottom: int
    min_defined: int
    source: str


def resolve_path(explicit: str | Path | None = None, data_dir: Path | None = None) -> Path:
    """The configuration file to use: ``explicit``, else the data folder's copy, else the default."""
    if explicit:
        return Path(explicit)
    if data_dir is not None and (data_dir / FILE_NAME).is_file():
        return data_dir / FILE_NAME
    return DEFAULT_PATH


def load(path: str | Path | None = None, data_dir: Path | None = None) -> IndexConfig:
    """Read and validate the configuration.

    Raises:
        ReportConfigError: naming the file, the setting and the reason.
    """
    p = resolve_path(path, data_dir)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportConfigError(str(p), f"cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ReportConfigError(str(p), f"not valid TOML: {exc}") from exc
    return parse(raw, str(p))


def _number(raw: dict[str, Any], section: str, key: str, src: str, minimum: float = 0.0) -> float:
    table = raw.get(section)
    if not isinstance(table, dict) or key not in table:
        raise ReportConfigError(src, "missing", f"{section}.{key}")
    val = table[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise ReportConfigError(src, f"expected a number, got {val!r}", f"{section}.{key}")
    if val < minimum:
        raise ReportConfigError(src, f"must be at least {minimum}, got {val}", f"{section}.{key}")
    return float(val)


def parse(raw: dict[str, Any], src: str = "<config>") -> IndexConfig:
    """Validate a parsed TOML mapping (see :func:`load`)."""
    weights_raw = raw.get("weights")
    if not isinstance(weights_raw, dict):
        raise ReportConfigError(src, "missing table", "weights")
    unknown = set(weights_raw) - set(INDICATORS)
    if unknown:
        raise ReportConfigError(src, f"unknown indicator(s) {sorted(unknown)}; known: {list(INDICATORS)}",
                                "weights")
    weights = {k: _number(raw, "weights", k, src) if k in weights_raw else 0.0 for k in INDICATORS}
    if sum(weights.values()) <= 0:
        raise ReportConfigError(src, "at least one weight must be positive", "weights")
    deadline = _number(raw, "lawful_disposal", "deadline_days", src, 1)
    statuses = raw.get("lawful_disposal", {}).get("statuses", [])
    valid = {s.value for s in Status}
    if not isinstance(statuses, list) or not statuses or any(s not in valid for s in statuses):
        raise ReportConfigError(src, f"expected a non-empty list of statuses among {sorted(valid)}",
                                "lawful_disposal.statuses")
    full = _number(raw, "disposal_time", "full_score_days", src)
    zero = _number(raw, "disposal_time", "zero_score_days", src)
    if zero <= full:
        raise ReportConfigError(src, "must be greater than full_score_days", "disposal_time.zero_score_days")
    pro_rata = raw.get("closure_progress", {}).get("pro_rata", True)
    if not isinstance(pro_rata, bool):
        raise ReportConfigError(src, "expected true or false", "closure_progress.pro_rata")
    bands = {k: _number(raw, "bands", k, src) for k in ("excellent", "good", "fair")}
    if not bands["excellent"] >= bands["good"] >= bands["fair"]:
        raise ReportConfigError(src, "bands must satisfy excellent >= good >= fair", "bands")
    ranking = raw.get("ranking", {})
    flag = int(_number(raw, "ranking", "flag_bottom", src)) if "flag_bottom" in ranking else 3
    min_defined = int(_number(raw, "ranking", "min_defined", src, 1)) if "min_defined" in ranking else 1
    return IndexConfig(
        weights=weights,
        deadline_days=int(deadline),
        disposal_statuses=tuple(statuses),
        full_score_days=full,
        zero_score_days=zero,
        pro_rata=pro_rata,
        bands=bands,
        flag_bottom=flag,
        min_defined=min_defined,
        source=src,
    )
