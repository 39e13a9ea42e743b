"""Migrations, the database-enforced event log and concurrent updates, on real PostGIS."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from geo import items, workflow
from geo.errors import ConflictError, InvalidTransition
from geo.migrate import current, downgrade, upgrade
from geo.models import Status, Violation
from geo.testdb import throwaway_database
from tests.builders import add_street, add_violation

TABLES = {
    "admin_units", "parcels", "violations", "violation_events", "complaints", "users", "sorties",
    "scenes", "detections", "detection_jobs", "permits", "annual_targets", "audit_log",
}


def test_upgrade_downgrade_upgrade() -> None:
    with throwaway_database(prefix="wj_mig", migrate=False) as eng:
        upgrade(eng)
        assert current(eng) is not None
        assert TABLES <= set(inspect(eng).get_table_names())
        downgrade(eng, "base")
        assert current(eng) is None
        assert not TABLES & set(inspect(eng).get_table_names())
        upgrade(eng)
        assert TABLES <= set(inspect(eng).get_table_names())


def test_geometries_are_wgs84_with_gist_indexes(engine) -> None:
    with engine.connect() as conn:
        srids = dict(conn.execute(text(
            "SELECT f_table_name || '.' || f_geometry_column, srid FROM geometry_columns"
        )).all())
        gist = {r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'"
        ))}
    assert srids["violations.geom"] == 4326 and srids["parcels.geom"] == 4326
    assert set(srids.values()) == {4326}
    assert {"violations", "parcels", "admin_units", "detections", "scenes", "permits"} <= gist


def test_area_is_metric(session) -> None:
    item = add_violation(session)  # 0.0002° square at 31.21 N
    assert 350 < item.area_m2 < 500, item.area_m2
    db_area = session.execute(
        text("SELECT ST_Area(geom::geography) FROM violations WHERE id = :i"), {"i": item.id}
    ).scalar_one()
    assert abs(db_area - item.area_m2) / db_area < 0.01


def test_transition_appends_event_and_moves_status(session) -> None:
    street = add_street(session)
    item = add_violation(session, street_id=street.id)
    items.transition(session, item.id, workflow.Transition(Status.CONFIRMED, "张三", "现场核查属实", ("photo:1",)))
    items.transition(session, item.id, workflow.Transition(Status.DEMOLISHED, "李四", "自拆", area_m2=12.5))
    session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    events = items.history(session, item.id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "suspected"), ("suspected", "confirmed"), ("confirmed", "demolished")
    ]
    assert events[1].actor_name == "张三" and events[1].evidence == ["photo:1"]
    session.refresh(item)
    assert item.status == "demolished" and item.version == 3


def test_forbidden_transition_leaves_nothing(session) -> None:
    item = add_violation(session)
    with pytest.raises(InvalidTransition, match=r"suspected.*closed"):
        items.transition(session, item.id, workflow.Transition(Status.CLOSED, "x"))
    assert len(items.history(session, item.id)) == 1


def test_event_log_rejects_update_and_delete(session) -> None:
    item = add_violation(session)
    session.flush()
    for sql in ("UPDATE violation_events SET reason = 'x' WHERE violation_id = :i",
                "DELETE FROM violation_events WHERE violation_id = :i"):
        nested = session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(sql), {"i": item.id})
        nested.rollback()


def test_status_must_equal_last_event(session) -> None:
    item = add_violation(session)
    session.execute(text("UPDATE violations SET status = 'closed' WHERE id = :i"), {"i": item.id})
    with pytest.raises(DBAPIError, match="last event says suspected"):
        session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


def test_event_chain_is_checked(session) -> None:
    item = add_violation(session)
    with pytest.raises(DBAPIError, match="starts at confirmed but the item is at suspected"):
        session.execute(text(
            "INSERT INTO violation_events (violation_id, from_status, to_status, occurred_at, actor_name, evidence)"
            " VALUES (:i, 'confirmed', 'case_filed', now(), 'x', '[]')"
        ), {"i": item.id})


def test_stale_version_is_a_conflict(session) -> None:
    item = add_violation(session)
    with pytest.raises(ConflictError):
        items.transition(session, item.id, workflow.Transition(Status.CONFIRMED, "x"), expected_version=99)


def test_two_reviewers_at_once_second_gets_conflict(sessions) -> None:
    """Two real sessions read version 1 and both try to move the item."""
    with sessions.begin() as s:
        item_id = add_violation(s).id
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def review(name: str, target: Status) -> None:
        s = sessions()
        try:
            with s.begin():
                version = s.get(Violation, item_id).version  # type: ignore[union-attr]
                barrier.wait(timeout=10)
                items.transition(s, item_id, workflow.Transition(target, name), expected_version=version)
            outcomes[name] = "ok"
        except ConflictError as exc:
            outcomes[name] = exc
        finally:
            s.close()

    threads = [threading.Thread(target=review, args=("甲", Status.CONFIRMED)),
               threading.Thread(target=review, args=("乙", Status.DISMISSED))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    results = list(outcomes.values())
    assert results.count("ok") == 1, outcomes
    assert sum(isinstance(r, ConflictError) for r in results) == 1, outcomes
    with sessions() as s:
        events = items.history(s, item_id)
        assert len(events) == 2
        assert s.get(Violation, item_id).status == events[-1].to_status  # type: ignore[union-attr]


def test_rebuilt_item_is_new_on_same_parcel(session) -> None:
    item = add_violation(session, status="confirmed", kind="stock", in_database=True)
    for target in (Status.DEMOLISHED, Status.CLOSED):
        items.transition(session, item.id, workflow.Transition(target, "x"))
    again = items.rebuild(session, item.id, code=item.code + "-R", actor="巡查", when=datetime.now(UTC))
    assert again.kind == "new" and again.status == "suspected" and again.rebuilt_from_id == item.id
    with pytest.raises(InvalidTransition):
        items.rebuild(session, again.id, code="nope", actor="x")
