"""Periods are Beijing-time months and ISO weeks, whatever the server's time zone."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from reports import config as rconfig
from reports import indicators, periods, scope
from reports.errors import PeriodError
from tests.report_states import add_district, bj, item


@pytest.fixture
def foreign_tz():
    """The process (and libc) in New York time for the test."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_2330_on_31_march_beijing_is_march(foreign_tz) -> None:
    moment = bj(2025, 3, 31, 23, 30)  # 15:30 UTC, 11:30 in New York
    assert time.strftime("%Z") in ("EST", "EDT")
    march, april = periods.month("2025-03"), periods.month("2025-04")
    assert march.contains(moment) and not april.contains(moment)
    assert periods.containing(moment).label == "2025-03"
    assert periods.containing(datetime(2025, 3, 31, 16, 0, tzinfo=UTC)).label == "2025-04"  # 00:00 on 1 April
    assert march.end.isoformat() == "2025-04-01T00:00:00+08:00"


def test_iso_weeks() -> None:
    w = periods.week("2025-W12")
    assert (w.first_day.isoformat(), w.last_day.isoformat()) == ("2025-03-17", "2025-03-23")
    assert periods.containing(bj(2025, 3, 23, 23, 59), "week").label == "2025-W12"
    assert periods.containing(bj(2025, 3, 24, 0, 0), "week").label == "2025-W13"
    assert periods.week("2025-W01").first_day.isoformat() == "2024-12-30"
    assert [p.label for p in periods.trailing(periods.month("2025-02"), 3)] == ["2024-12", "2025-01", "2025-02"]


@pytest.mark.parametrize("label", ["2025-13", "2025-3", "March", "2025-W54", "2021-W53"])
def test_bad_labels_are_named(label: str) -> None:
    with pytest.raises(PeriodError, match=label):
        periods.parse(label)


def test_sql_counts_the_late_event_in_march_whatever_the_timezones(session, foreign_tz) -> None:
    session.execute(text("SET LOCAL TIME ZONE 'America/Los_Angeles'"))
    district, (st, _) = add_district(session)
    item(session, st, bj(2025, 3, 31, 23, 30))
    item(session, st, bj(2025, 4, 1, 0, 0))
    sc = scope.resolve(session, district.name)
    table = indicators.compute(session, [periods.month("2025-03"), periods.month("2025-04")], sc, rconfig.load())
    assert table[0][st.id].found_total == 1
    assert table[1][st.id].found_total == 1
