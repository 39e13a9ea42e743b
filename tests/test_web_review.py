"""Reviewing detections through the API: confirm, dismiss, merge, assign; each audited, each once."""

from __future__ import annotations

from sqlalchemy import select

from geo.models import AuditEntry, Detection
from tests.webapp import World, app, client, world  # noqa: F401


def test_confirm_creates_a_confirmed_item_with_timeline(app, world: World, sessions) -> None:  # noqa: F811
    c = client(app, world, "office")
    det = world.detections_q[0]
    r = c.post_json(f"/api/detections/{det}/review", {"action": "confirm", "reason": "现场核实", "vtype": "rooftop"})
    assert r.status_code == 200, r.json
    item = r.json["violation"]
    assert item["status"] == "confirmed" and item["vtype"] == "rooftop" and item["street_id"] == world.street_q
    assert r.json["detection"]["review_status"] == "confirmed"
    full = c.get(f"/api/items/{item['id']}").json
    assert [e["to"] for e in full["events"]] == ["suspected", "confirmed"]
    assert f"detection:{det}" in full["events"][-1]["evidence"]
    again = c.post_json(f"/api/detections/{det}/review", {"action": "dismiss", "reason": "x"})
    assert again.status_code == 409 and "already reviewed" in again.json["message"]
    with sessions() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target == f"detection:{det}")).all()
        assert actions == ["review_confirm"]


def test_confirm_of_a_known_suspected_item_moves_that_item(app, world: World, sessions) -> None:  # noqa: F811
    from datetime import UTC, datetime

    from tests.builders import add_detection, add_scene

    with sessions.begin() as s:
        before = add_scene(s, captured_at=datetime(2025, 1, 1, tzinfo=UTC))
        after = add_scene(s, captured_at=datetime(2025, 7, 1, tzinfo=UTC))
        det = add_detection(s, after, before, street_id=world.street_a, klass="known_changed",
                            violation_id=world.items["suspected"]).id
    c = client(app, world, "street")
    r = c.post_json(f"/api/detections/{det}/review", {"action": "confirm"})
    assert r.status_code == 200 and r.json["violation"]["id"] == world.items["suspected"]
    assert c.get(f"/api/items/{world.items['suspected']}").json["status"] == "confirmed"


def test_dismiss_needs_a_reason(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    det = world.detections_q[1]
    r = c.post_json(f"/api/detections/{det}/review", {"action": "dismiss"})
    assert r.status_code == 400 and "reason" in r.json["message"]
    r = c.post_json(f"/api/detections/{det}/review", {"action": "dismiss", "reason": "阴影误检"})
    assert r.status_code == 200 and r.json["detection"]["review_status"] == "dismissed"
    assert r.json["detection"]["review_note"] == "阴影误检"


def test_merge_into_an_item_by_code(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    det = world.detections_q[2]
    r = c.post_json(f"/api/detections/{det}/review", {"action": "merge", "violation_code": world.item_b_code})
    assert r.status_code == 200
    assert r.json["detection"]["review_status"] == "merged" and r.json["detection"]["violation_id"] == world.item_b
    r = c.post_json(f"/api/detections/{world.detections_q[3]}/review", {"action": "merge", "violation_code": "NOPE"})
    assert r.status_code == 404


def test_assign_is_for_the_office_and_moves_the_detection(app, world: World, sessions) -> None:  # noqa: F811
    det = world.detections_q[4]
    street = client(app, world, "street")
    assert street.post_json(f"/api/detections/{world.detections_a[2]}/review",
                            {"action": "assign", "street_id": world.street_b}).status_code == 403
    office = client(app, world, "office")
    r = office.post_json(f"/api/detections/{det}/review", {"action": "assign", "street_id": world.street_a})
    assert r.status_code == 200 and r.json["detection"]["street_id"] == world.street_a
    # now the street team of A sees it in its queue, and can confirm it
    assert det in {d["id"] for d in street.get("/api/detections?limit=1000").json["detections"]}
    with sessions() as s:
        assert s.get(Detection, det).street_id == world.street_a


def test_viewer_and_drone_cannot_review(app, world: World) -> None:  # noqa: F811
    for role in ("viewer", "drone"):
        c = client(app, world, role)
        r = c.post_json(f"/api/detections/{world.detections_q[5]}/review", {"action": "confirm"})
        assert r.status_code == 403, role
        assert c.get("/review/").status_code == 403


def test_queue_is_sorted_by_score_and_filterable(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    rows = c.get(f"/api/detections?street={world.street_q}&limit=1000").json["detections"]
    scores = [d["score"] for d in rows]
    assert scores == sorted(scores, reverse=True) and len(rows) >= 90
    high = c.get(f"/api/detections?street={world.street_q}&min_score=0.95&limit=1000").json["detections"]
    assert high and all(d["score"] >= 0.95 for d in high) and len(high) < len(rows)
    assert c.get("/api/detections?klass=bogus").status_code == 400


def test_chips_are_served_from_the_data_folder(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    d = c.get(f"/api/detections/{world.detections_a[0]}").json
    png = c.get(d["chip_after"])
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    assert c.get(f"/review/chips/{world.detections_q[10]}/after.png").status_code == 404
