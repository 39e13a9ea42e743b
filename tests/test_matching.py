"""Matching change polygons against violations, permits, parcels and streets, on real PostGIS."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from sqlalchemy import event

from geo import matching
from geo.crs import area_m2
from geo.errors import ValidationError
from geo.matching import Change, Overlap, Rules, classify
from geo.models import DetectionClass as K
from tests.builders import add_parcel, add_permit, add_street, add_violation, metric_box, walk

_origins = itertools.count()


@pytest.fixture
def at() -> Callable[..., object]:
    """A box builder at an origin of its own (far from other tests' data)."""
    k = next(_origins)
    origin = (121.60 + 0.003 * (k % 20), 31.05 + 0.003 * (k // 20))

    def build(dx: float, dy: float, w: float, h: float) -> object:
        return metric_box(dx, dy, w, h, origin=origin)

    build.origin = origin  # type: ignore[attr-defined]
    return build


def change(kind: str, geom: object) -> Change:
    mp = matching.as_multipolygon(geom)  # type: ignore[arg-type]
    return Change(kind, mp, area_m2(mp), 0.9)


def one(session, kind: str, geom: object) -> matching.Classification:
    [m] = matching.match(session, [change(kind, geom)])
    return m.result


# ---------------------------------------------------------------------------- pure rules
def test_pure_rules_each_class() -> None:
    v_open = Overlap("violation", 1, overlap_m2=80, ref_area_m2=100, status="case_filed", recorded_area_m2=100,
                     union_m2=140, street_id=7, parcel_id=8)
    permit = Overlap("permit", 2, overlap_m2=90, ref_area_m2=200)
    assert classify("appeared", 100, [v_open]).klass == K.KNOWN_CHANGED
    c = classify("appeared", 100, [v_open])
    assert (c.area_before_m2, c.area_after_m2, c.violation_id, c.street_id, c.parcel_id) == (100, 140, 1, 7, 8)
    d = classify("disappeared", 100, [v_open])
    assert d.klass == K.DEMOLITION_EVIDENCE and (d.area_before_m2, d.area_after_m2) == (100, 20)
    assert classify("appeared", 100, [permit]).klass == K.PERMITTED
    assert classify("appeared", 100, [permit]).review_status == "not_queued"
    assert classify("appeared", 100, []).klass == K.NEW_SUSPECT
    assert classify("appeared", 100, []).review_status == "pending"
    assert classify("disappeared", 100, []).klass == K.UNMATCHED
    assert classify("disappeared", 100, [permit]).review_status == "not_queued"
    # a recorded open item beats a permit: it must reach a reviewer
    assert classify("appeared", 100, [permit, v_open]).klass == K.KNOWN_CHANGED


def test_pure_rules_status_and_thresholds() -> None:
    closed = Overlap("violation", 1, overlap_m2=90, ref_area_m2=100, status="closed", recorded_area_m2=100)
    dismissed = Overlap("violation", 2, overlap_m2=90, ref_area_m2=100, status="dismissed", recorded_area_m2=100)
    # a structure appearing on a closed item's spot is a rebuild: a new item
    assert classify("appeared", 100, [closed]).klass == K.NEW_SUSPECT
    # vanishing from a closed item is look-back evidence of the demolition
    assert classify("disappeared", 100, [closed]).klass == K.DEMOLITION_EVIDENCE
    assert classify("appeared", 100, [dismissed]).klass == K.NEW_SUSPECT
    assert classify("disappeared", 100, [dismissed]).klass == K.UNMATCHED
    grazing = Overlap("violation", 3, overlap_m2=5, ref_area_m2=100, distance_m=0, status="confirmed")
    assert classify("disappeared", 100, [grazing]).klass == K.UNMATCHED
    far = Overlap("violation", 4, overlap_m2=0, ref_area_m2=100, distance_m=5, status="confirmed")
    assert classify("appeared", 100, [far]).klass == K.NEW_SUSPECT
    assert classify("appeared", 100, [far], Rules(near_m=6)).klass == K.KNOWN_CHANGED
    small_permit = Overlap("permit", 5, overlap_m2=20, ref_area_m2=20)
    assert classify("appeared", 100, [small_permit]).klass == K.NEW_SUSPECT


def test_pure_rules_largest_overlap_wins() -> None:
    rows = [Overlap("street", 10, 30), Overlap("street", 11, 70), Overlap("parcel", 20, 60), Overlap("parcel", 21, 40),
            Overlap("violation", 1, 40, 50, status="confirmed"), Overlap("violation", 2, 60, 80, status="confirmed")]
    c = classify("appeared", 100, rows)
    assert (c.street_id, c.parcel_id, c.violation_id) == (11, 20, 2)
    with pytest.raises(ValidationError, match="change must be"):
        classify("moved", 100, [])


def test_fingerprint_is_stable_and_discriminating(at) -> None:
    g = matching.as_multipolygon(at(0, 0, 10, 10))
    same = matching.as_multipolygon(at(0, 0, 10, 10))
    assert matching.fingerprint("appeared", g) == matching.fingerprint("appeared", same)
    assert matching.fingerprint("appeared", g) != matching.fingerprint("disappeared", g)
    assert matching.fingerprint("appeared", g) != matching.fingerprint("appeared", at(1, 0, 10, 10))


# ---------------------------------------------------------------------------- on the database
def test_new_suspect_gets_street_and_parcel(session, at) -> None:
    street = add_street(session, lon=at.origin[0] - 0.001, lat=at.origin[1] - 0.001)
    parcel = add_parcel(session, at(-20, -20, 60, 60), street_id=street.id)
    c = one(session, "appeared", at(5, 5, 8, 6))
    assert c.klass == K.NEW_SUSPECT and c.review_status == "pending"
    assert (c.street_id, c.parcel_id, c.violation_id, c.permit_id) == (street.id, parcel.id, None, None)


def test_known_item_grew(session, at) -> None:
    item = add_violation(session, geom=at(0, 0, 10, 10), status="confirmed")
    # the structure grew by 4 m on one side: the new outline covers the item and more
    c = one(session, "appeared", at(0, 0, 14, 10))
    assert c.klass == K.KNOWN_CHANGED and c.violation_id == item.id and c.review_status == "pending"
    assert c.area_before_m2 == pytest.approx(item.area_m2)
    assert c.area_after_m2 == pytest.approx(140, rel=0.01)
    # only the extension detected, touching the recorded outline
    c2 = one(session, "appeared", at(10.5, 0, 4, 10))
    assert c2.klass == K.KNOWN_CHANGED and c2.violation_id == item.id
    assert c2.area_after_m2 == pytest.approx(140, rel=0.01)


def test_demolition_evidence_in_case_filed_item(session, at) -> None:
    item = add_violation(session, geom=at(0, 0, 12, 8), status="confirmed")
    walk(session, item.id, "case_filed")
    c = one(session, "disappeared", at(0.5, 0.5, 11, 7))
    assert c.klass == K.DEMOLITION_EVIDENCE and c.violation_id == item.id and c.review_status == "pending"
    assert c.area_before_m2 == pytest.approx(item.area_m2)


def test_demolition_look_back_on_closed_item(session, at) -> None:
    item = add_violation(session, geom=at(0, 0, 12, 8), status="confirmed")
    walk(session, item.id, "demolished", "closed")
    assert one(session, "disappeared", at(0, 0, 12, 8)).klass == K.DEMOLITION_EVIDENCE
    # rebuilt on the same spot after closure (反弹): a new suspect, not the closed item
    rebuilt = one(session, "appeared", at(0, 0, 12, 8))
    assert rebuilt.klass == K.NEW_SUSPECT and rebuilt.violation_id is None


def test_permitted_is_kept_out_of_the_queue(session, at) -> None:
    permit = add_permit(session, at(0, 0, 30, 20))
    c = one(session, "appeared", at(5, 5, 10, 10))
    assert c.klass == K.PERMITTED and c.permit_id == permit.id and c.review_status == "not_queued"


def test_unmatched_disappearance_and_dismissed_item(session, at) -> None:
    item = add_violation(session, geom=at(40, 0, 10, 10))
    walk(session, item.id, "dismissed")
    assert one(session, "disappeared", at(0, 0, 10, 10)).klass == K.UNMATCHED
    c = one(session, "disappeared", at(40, 0, 10, 10))
    assert c.klass == K.UNMATCHED and c.review_status == "not_queued" and c.violation_id is None


def test_street_by_largest_overlap(session, at) -> None:
    lon, lat = at.origin
    west = add_street(session, lon=lon - 0.04, lat=lat - 0.02)  # ends at lon
    east = add_street(session, lon=lon, lat=lat - 0.02)  # starts at lon
    assert one(session, "appeared", at(-7, 0, 10, 10)).street_id == west.id
    assert one(session, "appeared", at(-3, 0, 10, 10)).street_id == east.id


def test_one_query_per_batch(session, at) -> None:
    add_violation(session, geom=at(0, 0, 10, 10), status="confirmed")
    add_permit(session, at(30, 0, 20, 20))
    changes = [change("appeared", at(0, 0, 12, 10)), change("appeared", at(32, 2, 5, 5)),
               change("disappeared", at(60, 0, 5, 5)), change("appeared", at(80, 0, 5, 5))] * 3
    statements: list[str] = []
    conn = session.connection()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(conn, "before_cursor_execute", count)
    try:
        results = matching.match(session, changes, batch_size=5)
    finally:
        event.remove(conn, "before_cursor_execute", count)
    assert len(statements) == 3  # 12 changes in batches of 5
    assert [m.result.klass for m in results[:4]] == [K.KNOWN_CHANGED, K.PERMITTED, K.UNMATCHED, K.NEW_SUSPECT]
    assert [m.result.klass for m in results] == [m.result.klass for m in results[:4]] * 3


def test_pixel_polygons_are_refused() -> None:
    from shapely.geometry import box

    with pytest.raises(ValidationError, match="without a CRS"):
        matching.to_change("appeared", box(0, 0, 5, 5), 0.5, None)


# ---------------------------------------------------------------------------- pairing
def test_pairing_newest_earlier_same_sensor(session, at) -> None:
    from datetime import UTC, datetime

    from geo import pairing
    from tests.builders import add_scene

    def when(month: int) -> datetime:
        return datetime(2024, month, 1, tzinfo=UTC)

    new = add_scene(session, at(0, 0, 100, 100), when(9))
    old_drone = add_scene(session, at(10, 0, 100, 100), when(3))
    newer_drone = add_scene(session, at(-20, 0, 100, 100), when(6))
    newest_sat = add_scene(session, at(0, 0, 100, 100), when(8), sensor="satellite")
    add_scene(session, at(95, 0, 100, 100), when(7))  # covers 5 %: too little
    add_scene(session, at(0, 0, 100, 100), when(10))  # later: never a "before"
    add_scene(session, at(500, 500, 100, 100), when(5))  # elsewhere

    cands = pairing.candidates(session, new.id)
    assert [c.scene_id for c in cands][:1] == [newest_sat.id]
    share = {c.scene_id: c.share for c in cands}
    assert share[newer_drone.id] == pytest.approx(0.8, abs=0.01)
    assert share[newest_sat.id] == pytest.approx(1.0, abs=0.01)
    assert [c.scene_id for c in pairing.earlier_scenes(session, new.id)] == [newer_drone.id]
    # a satellite scene is compared with the satellite scene when there is one ...
    sat_new = add_scene(session, at(0, 0, 100, 100), when(12), sensor="satellite")
    assert [c.scene_id for c in pairing.earlier_scenes(session, sat_new.id)] == [newest_sat.id]
    # ... and with the newest drone tile when there is none
    assert pairing.earlier_scenes(session, newest_sat.id)[0].scene_id == newer_drone.id
    assert pairing.earlier_scenes(session, old_drone.id) == []


def test_pairing_covers_the_new_scene_with_several_earlier_ones(session, at) -> None:
    from datetime import UTC, datetime

    from geo import pairing
    from tests.builders import add_scene

    def new_area(chosen: list[pairing.Candidate]) -> float:
        assert chosen[0].new_footprint is not None
        return float(chosen[0].new_footprint.area)

    def when(month: int) -> datetime:
        return datetime(2023, month, 1, tzinfo=UTC)

    new = add_scene(session, at(0, 0, 100, 100), when(9))
    west = add_scene(session, at(-40, 0, 100, 100), when(6))  # covers x 0..60
    east = add_scene(session, at(50, 0, 100, 100), when(5))  # covers x 50..100: adds 40 %
    inside = add_scene(session, at(5, 5, 50, 50), when(7))  # the newest: 25 %
    sat = add_scene(session, at(0, 0, 100, 100), when(8), sensor="satellite")  # drone tiles come first

    # the newest drone tile first, then each further one only for what is still uncovered
    chosen = pairing.earlier_scenes(session, new.id, max_pairs=3)
    assert [c.scene_id for c in chosen] == [inside.id, west.id, east.id]
    assert chosen[1].adds is not None and chosen[1].adds.area == pytest.approx(0.35 * new_area(chosen), rel=0.02)
    assert [c.scene_id for c in pairing.earlier_scenes(session, new.id, max_pairs=2)] == [inside.id, west.id]
    # with a higher bar the small tile does not qualify, and west then east cover it all
    chosen = pairing.earlier_scenes(session, new.id, min_share=0.3, max_pairs=3)
    assert [c.scene_id for c in chosen] == [west.id, east.id]
    assert chosen[1].adds is not None and chosen[1].adds.area == pytest.approx(0.4 * new_area(chosen), rel=0.02)
    assert sat.id not in [c.scene_id for c in chosen]
    assert [c.scene_id for c in pairing.earlier_scenes(session, new.id, min_share=0.3, max_pairs=1)] == [west.id]


def test_pairing_unknown_scene(session) -> None:
    from geo import pairing
    from geo.errors import NotFound

    with pytest.raises(NotFound, match="scene 987654"):
        pairing.earlier_scenes(session, 987654)
    with pytest.raises(ValueError, match="max_pairs"):
        pairing.choose([], max_pairs=0)
