"""Indicators from the event log, rebuilt from the reports' worked examples (domain.md)."""

from __future__ import annotations

from datetime import timedelta

from reports import config as rconfig
from reports import fmt, indicators, periods, scope
from reports.scope import TOTAL
from tests.report_states import add_district, bj, close_by, complaints, item, move, sortie, target


def _figures(session, district, label="2025-03"):
    sc = scope.resolve(session, district.name)
    table = indicators.compute(session, [periods.parse(label)], sc, rconfig.load())
    return table[0]


def test_complaint_completion_462_of_502(session) -> None:
    district, (st, _) = add_district(session)
    complaints(session, st, bj(2025, 3, 5, 10), true_resolved=462, true_open=40, untrue=411, explained=149)
    fig = _figures(session, district)[st.id]
    assert (fig.complaints_true, fig.complaints_resolved, fig.complaints_in_progress) == (502, 462, 40)
    assert (fig.complaints_untrue, fig.complaints_explained, fig.complaints_received) == (411, 149, 1062)
    assert fmt.pct(fig.complaint_completion) == "92.03 %"


def test_closure_progress_122950_of_120000(session) -> None:
    district, (st1, st2) = add_district(session)
    target(session, district, 2025, 120_000)
    close_by(session, st1, "demolished", 61_603.83, bj(2025, 2, 10, 9))
    close_by(session, st1, "demolished", 11_346.17, bj(2025, 3, 31, 23, 30))
    close_by(session, st2, "permit_granted", 50_000, bj(2025, 3, 3, 9))
    # a regularised closure is not demolition nor 补证销项 and does not count
    close_by(session, st2, "regularised", 9_999, bj(2025, 3, 3, 9))
    # closed last year: not in this year's progress
    close_by(session, st2, "demolished", 5_000, bj(2024, 12, 31, 23, 0))
    total = _figures(session, district)[TOTAL]
    assert total.closed_area == 122_950
    assert (total.closed_demolition, total.closed_permit, total.closed_other) == (2, 1, 1)
    assert fmt.pct(total.closure_progress) == "102.46 %"
    assert fmt.area(total.closed_area) == "122,950.00"


def test_permit_closure_69500_of_36772(session) -> None:
    district, (st, _) = add_district(session)
    target(session, st, 2024, 150_000, permit_area=36_772)
    for a in (30_000, 25_000, 14_500):
        close_by(session, st, "permit_granted", a, bj(2024, 6, 10, 9))
    fig = _figures(session, district, "2024-12")[st.id]
    assert fig.closed_permit_area == 69_500 and fig.closed_permit == 3
    assert fmt.pct(fig.permit_progress) == "189.00 %"
    # the district has no target of its own: the sum of its streets' targets
    assert _figures(session, district, "2024-12")[TOTAL].permit_target_area == 36_772


def test_empty_month_shows_dashes(session) -> None:
    district, (st, _) = add_district(session)
    figs = _figures(session, district, "2025-05")
    for fig in (figs[st.id], figs[TOTAL]):
        for rate in (fig.proactive_rate, fig.lawful_disposal_rate, fig.closure_progress,
                     fig.complaint_completion, fig.permit_progress, fig.median_days_to_closure):
            assert rate is None
        assert fmt.pct(fig.proactive_rate) == "—"
        assert fmt.days(fig.median_days_to_closure) == "—"
        assert fig.found_total == 0 and fig.sorties == 0


def test_new_items_sources_disposal_and_zero_growth(session) -> None:
    district, (st, _) = add_district(session)
    march = bj(2025, 3, 2, 9)
    a = item(session, st, march, source="imagery", area=50)
    b = item(session, st, march, source="patrol", area=30)
    c = item(session, st, march, source="complaint", area=20)
    d = item(session, st, march, source="imagery", area=70)
    move(session, a.id, ("confirmed", march + timedelta(days=1)), ("demolished", march + timedelta(days=5)))
    # disposed after the 30-day deadline but before the end of March? no: confirmed 3 March → due 2 April
    move(session, b.id, ("confirmed", march + timedelta(days=1)), ("demolished", bj(2025, 4, 20, 9)))
    move(session, c.id, ("confirmed", march + timedelta(days=1)))
    move(session, d.id, ("dismissed", march + timedelta(days=3)))  # not an illegal structure
    sortie(session, st, "张飞手", bj(2025, 3, 4, 8))
    sortie(session, st, "张飞手", bj(2025, 3, 4, 15))
    sortie(session, st, "李飞手", bj(2025, 3, 4, 15))
    sortie(session, st, "李飞手", bj(2025, 3, 31, 23, 59))
    fig = _figures(session, district)[st.id]
    assert (fig.found_total, fig.found_imagery, fig.found_patrol, fig.found_complaint) == (3, 1, 1, 1)
    assert fmt.pct(fig.proactive_rate) == "66.67 %"
    assert fig.found_area == 100
    # a disposed in time; b and c still inside their deadline at the end of March
    assert (fig.confirmed_new, fig.disposed_in_time, fig.disposal_due, fig.disposal_pending) == (3, 1, 1, 2)
    assert fmt.pct(fig.lawful_disposal_rate) == "100.00 %"
    assert (fig.removed_new, fig.removed_new_area, fig.zero_growth_kept) == (1, 50, False)
    assert (fig.sorties, fig.pilot_shifts) == (4, 3)
    # April: b demolished after its deadline, c never disposed → 1 of 3 in time
    april = _figures(session, district, "2025-04")[st.id]
    assert april.confirmed_new == 0 and april.found_total == 0 and april.removed_new == 1


def test_median_days_and_annotations(session) -> None:
    district, (st, _) = add_district(session)
    for days in (10, 20, 60):
        v = item(session, st, bj(2025, 3, 20, 9) - timedelta(days=days), status="confirmed")
        move(session, v.id, ("demolished", bj(2025, 3, 20, 8)), ("closed", bj(2025, 3, 20, 9)))
    old = item(session, st, bj(2025, 3, 20, 9) - timedelta(days=400), kind="stock", source="database",
               status="confirmed")
    move(session, old.id, ("demolished", bj(2025, 3, 20, 8)), ("closed", bj(2025, 3, 20, 9)))
    w = item(session, st, bj(2025, 1, 5), kind="stock", source="database", status="confirmed")
    move(session, w.id, ("annotated", bj(2025, 3, 6)), ("annotation_lifted", bj(2025, 3, 25)))
    fig = _figures(session, district)[st.id]
    assert (fig.closed_in_period, fig.closed_new_in_period) == (4, 3)
    assert fmt.days(fig.median_days_to_closure) == "40.0"  # 10, 20, 60, 400 days
    assert fmt.days(fig.median_days_new) == "20.0"  # the index scores new items only
    assert (fig.annotated, fig.lifted) == (1, 1)
