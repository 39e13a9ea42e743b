"""Report periods: calendar months and ISO weeks in Beijing time (Asia/Shanghai).

Boundaries are aware datetimes at Shanghai midnight, so a period is the same whatever
the server's time zone. A period is half-open: ``start <= t < end``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from reports.errors import PeriodError

TZ = ZoneInfo("Asia/Shanghai")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Period:
    """A calendar month or ISO week.

    Attributes:
        kind: ``"month"`` or ``"week"``.
        label: ``2025-03`` or ``2025-W12``.
        start: first instant (Shanghai midnight, aware).
        end: first instant after the period (exclusive).
    """

    kind: str
    label: str
    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        """The first calendar day (Beijing time)."""
        return self.start.date()

    @property
    def last_day(self) -> date:
        """The last calendar day (Beijing time)."""
        return (self.end - timedelta(days=1)).date()

    @property
    def year(self) -> int:
        """The year the period's targets belong to (that of its last day)."""
        return self.last_day.year

    @property
    def year_start(self) -> datetime:
        """1 January, Shanghai midnight, of :attr:`year`."""
        return _midnight(date(self.year, 1, 1))

    @property
    def year_fraction(self) -> float:
        """Share of the year elapsed at the end of the period (for pacing annual targets)."""
        nxt = _midnight(date(self.year + 1, 1, 1))
        return (self.end - self.year_start) / (nxt - self.year_start)

    def contains(self, moment: datetime) -> bool:
        """Whether an aware ``moment`` falls in the period."""
        if moment.tzinfo is None:
            raise PeriodError("a naive datetime has no time zone; give an aware one")
        return self.start <= moment < self.end

    def title_zh(self) -> str:
        """``2025年3月`` or ``2025年第12周``."""
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        iso = self.first_day.isocalendar()
        return f"{iso.year}年第{iso.week}周"

    def title_en(self) -> str:
        """``March 2025`` or ``week 12 of 2025``."""
        if self.kind == "month":
            return self.start.strftime("%B %Y")
        iso = self.first_day.isocalendar()
        return f"week {iso.week} of {iso.year}"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ)


def month(label: str) -> Period:
    """The calendar month ``YYYY-MM``.

    Raises:
        PeriodError: the label is malformed.
    """
    m = _MONTH.match(label.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise PeriodError(f"month '{label}': expected YYYY-MM, e.g. 2025-03")
    y, mo = int(m.group(1)), int(m.group(2))
    nxt = date(y + 1, 1, 1) if mo == 12 else date(y, mo + 1, 1)
    return Period("month", f"{y:04d}-{mo:02d}", _midnight(date(y, mo, 1)), _midnight(nxt))


def week(label: str) -> Period:
    """The ISO week ``YYYY-Www`` (Monday to Sunday).

    Raises:
        PeriodError: the label is malformed or the year has no such week.
    """
    m = _WEEK.match(label.strip())
    if not m or int(m.group(1)) < 1900:
        raise PeriodError(f"week '{label}': expected YYYY-Www, e.g. 2025-W12")
    y, w = int(m.group(1)), int(m.group(2))
    try:
        monday = date.fromisocalendar(y, w, 1)
    except ValueError as exc:
        raise PeriodError(f"week '{label}': {y} has no ISO week {w}") from exc
    return Period("week", f"{y:04d}-W{w:02d}", _midnight(monday), _midnight(monday + timedelta(days=7)))


def parse(label: str) -> Period:
    """A month or week from its label."""
    return week(label) if "W" in label.upper() else month(label)


def containing(moment: datetime, kind: str = "month") -> Period:
    """The month (or ISO week) in Beijing time that holds the aware ``moment``."""
    if moment.tzinfo is None:
        raise PeriodError("a naive datetime has no time zone; give an aware one")
    local = moment.astimezone(TZ).date()
    if kind == "month":
        return month(f"{local.year:04d}-{local.month:02d}")
    iso = local.isocalendar()
    return week(f"{iso.year:04d}-W{iso.week:02d}")


def previous(period: Period) -> Period:
    """The period just before ``period`` (same kind)."""
    return containing(period.start - timedelta(seconds=1), period.kind)


def trailing(period: Period, count: int = 12) -> list[Period]:
    """``count`` periods ending with ``period``, oldest first."""
    out = [period]
    while len(out) < count:
        out.append(previous(out[-1]))
    return out[::-1]


def now_beijing() -> datetime:
    """The current instant in Beijing time."""
    return datetime.now(TZ)
