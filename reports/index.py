"""The monitoring index per street: scores, weights, rating bands, ranking and trend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reports.config import INDICATORS, IndexConfig
from reports.indicators import Figures, Table
from reports.periods import Period
from reports.scope import TOTAL, Scope

#: rating key → (Chinese, English), best first.
RATINGS: dict[str, tuple[str, str]] = {
    "excellent": ("优秀", "excellent"),
    "good": ("良好", "good"),
    "fair": ("一般", "fair"),
    "poor": ("较差", "poor"),
}

#: indicator key → (Chinese, English) label.
INDICATOR_LABELS: dict[str, tuple[str, str]] = {
    "proactive_discovery": ("主动发现率", "proactive discovery"),
    "lawful_disposal": ("依法处置率", "lawful disposal"),
    "zero_growth": ("动态零增长", "dynamic zero growth"),
    "closure_progress": ("销项进度", "closure progress"),
    "complaint_completion": ("诉件办结率", "complaint completion"),
    "disposal_time": ("处置时长", "time to disposal"),
}


@dataclass(frozen=True)
class UnitIndex:
    """The index of one unit for one period.

    Attributes:
        unit: street id, or :data:`~reports.scope.TOTAL`.
        name: display name.
        scores: 0–100 score of each indicator, None when undefined ("—").
        value: the weighted index, None when no indicator is defined.
        rating: key of :data:`RATINGS`, None with no value.
        rank: 1 = best among the streets; None for the total or an undefined index.
        flagged: among the bottom streets named in the report.
    """

    unit: int
    name: str
    scores: dict[str, float | None]
    value: float | None
    rating: str | None
    rank: int | None = None
    flagged: bool = False


def _clamp(x: float) -> float:
    return max(0.0, min(100.0, x))


def scores(fig: Figures, period: Period, config: IndexConfig) -> dict[str, float | None]:
    """Score (0–100) of each indicator of ``fig``; None where the indicator is undefined."""
    out: dict[str, float | None] = {}
    out["proactive_discovery"] = None if fig.proactive_rate is None else _clamp(fig.proactive_rate * 100)
    out["lawful_disposal"] = None if fig.lawful_disposal_rate is None else _clamp(fig.lawful_disposal_rate * 100)
    out["zero_growth"] = 100.0 if fig.found_total == 0 else _clamp(100.0 * fig.removed_new / fig.found_total)
    progress = fig.closure_progress
    if progress is None:
        out["closure_progress"] = None
    else:
        expected = period.year_fraction if config.pro_rata else 1.0
        out["closure_progress"] = _clamp(100.0 * progress / expected)
    out["complaint_completion"] = (None if fig.complaint_completion is None
                                   else _clamp(fig.complaint_completion * 100))
    med = fig.median_days_new
    if med is None:
        out["disposal_time"] = None
    else:
        span = config.zero_score_days - config.full_score_days
        out["disposal_time"] = _clamp(100.0 * (config.zero_score_days - med) / span)
    return out


def weighted(sc: dict[str, float | None], config: IndexConfig) -> float | None:
    """Weighted mean of the defined scores (weights of undefined ones are left out).

    None when fewer than ``config.min_defined`` weighted indicators are defined.
    """
    pairs = [(config.weights[k], v) for k in INDICATORS if (v := sc.get(k)) is not None and config.weights[k] > 0]
    total = sum(w for w, _ in pairs)
    if total <= 0 or len(pairs) < config.min_defined:
        return None
    return sum(w * v for w, v in pairs) / total


def rating(value: float | None, config: IndexConfig) -> str | None:
    """The rating key of an index value (bands from the configuration)."""
    if value is None:
        return None
    for key in ("excellent", "good", "fair"):
        if value >= config.bands[key]:
            return key
    return "poor"


def unit_index(fig: Figures, period: Period, config: IndexConfig) -> UnitIndex:
    """The index of one unit."""
    sc = scores(fig, period, config)
    value = weighted(sc, config)
    return UnitIndex(fig.unit, fig.name, sc, None if value is None else round(value, 2), rating(value, config))


def ranking(figures: dict[int, Figures], scope: Scope, period: Period, config: IndexConfig) -> list[UnitIndex]:
    """Streets ranked best first (undefined indexes last, unranked); the bottom ones flagged.

    The bottom ``config.flag_bottom`` streets are flagged only when more streets than that
    are ranked (flagging every street names no laggard).
    """
    rows = [unit_index(figures[s], period, config) for s in scope.street_ids if s in figures]
    ranked = sorted((r for r in rows if r.value is not None), key=lambda r: (-(r.value or 0.0), r.name))
    unranked = sorted((r for r in rows if r.value is None), key=lambda r: r.name)
    n = len(ranked)
    flag = config.flag_bottom if n > config.flag_bottom else 0
    out = [
        UnitIndex(r.unit, r.name, r.scores, r.value, r.rating, rank=i + 1, flagged=i >= n - flag)
        for i, r in enumerate(ranked)
    ]
    return out + unranked


def district_index(figures: dict[int, Figures], period: Period, config: IndexConfig) -> UnitIndex:
    """The index of the district total."""
    return unit_index(figures[TOTAL], period, config)


def trend(table: Table, periods: Sequence[Period], scope: Scope, config: IndexConfig) -> dict[int, list[float | None]]:
    """Index of each street (and the total) in each period, oldest first."""
    out: dict[int, list[float | None]] = {}
    for unit in [*scope.street_ids, TOTAL]:
        out[unit] = [unit_index(table[i][unit], p, config).value for i, p in enumerate(periods)]
    return out
