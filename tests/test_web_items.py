"""The item page: timeline, transitions with evidence, exactly the allowed buttons, optimistic locking, CSRF."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from geo import workflow
from geo.models import AuditEntry
from tests.webapp import Client, World, app, client, world  # noqa: F401


def _buttons(html: str) -> set[str]:
    return set(re.findall(r'name="target" value="([a-z_]+)"', html))


def test_buttons_are_exactly_the_allowed_transitions_for_each_role(app, world: World) -> None:  # noqa: F811
    for role in ("admin", "office", "street", "viewer", "drone"):
        c = client(app, world, role)
        for status, item_id in world.items.items():
            html = c.get(f"/items/{item_id}").text
            expected = {s.value for s in workflow.allowed(status, role)}
            assert _buttons(html) == expected, (role, status)
    # the street user sees no office-only move (e.g. annotate) on a confirmed item
    assert "annotated" not in _buttons(client(app, world, "street").get(f"/items/{world.items['confirmed']}").text)


def test_transition_with_evidence_upload_shows_in_the_timeline(app, world: World, sessions) -> None:  # noqa: F811
    c = client(app, world, "street")
    item_id = world.items["case_filed"]
    page = c.get(f"/items/{item_id}").text
    version = int(re.search(r'name="version" value="(\d+)"', page).group(1))
    photo = (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 100), "现场照片.png")
    r = c.post_form(f"/items/{item_id}/transition",
                    {"target": "demolished", "version": str(version), "reason": "当事人自拆", "area_m2": "120.5",
                     "evidence": photo}, content_type="multipart/form-data")
    assert r.status_code == 302
    html = c.get(f"/items/{item_id}").text
    assert 'data-status="demolished"' in html
    assert "当事人自拆" in html and "120.50 m²" in html
    link = re.search(r'href="(/items/\d+/evidence/evidence/[^"]+\.png)"', html)
    assert link, "uploaded photo is linked from the timeline"
    assert c.get(link.group(1)).data.startswith(b"\x89PNG")
    # another street cannot fetch the evidence
    assert client(app, world, "street_b").get(link.group(1)).status_code == 404
    with sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.target == f"violation:{item_id}",
                                                   AuditEntry.action == "transition")).all()[-1]
        assert entry.username == world.users["street"] and entry.detail["to"] == "demolished"


def test_stale_version_gets_a_clear_409(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    item_id = world.items["regularised"]
    version = c.get(f"/api/items/{item_id}").json["version"]
    ok = c.post_json(f"/api/items/{item_id}/transitions", {"target": "closed", "version": version, "reason": "完成"})
    assert ok.status_code == 201 and ok.json["item"]["version"] == version + 1
    other = client(app, world, "admin")
    page = other.post_form(f"/items/{item_id}/transition", {"target": "closed", "version": str(version)})
    assert page.status_code == 409
    assert "已被他人修改" in page.text and "reload the page" in page.text


def test_forbidden_and_invalid_moves(app, world: World) -> None:  # noqa: F811
    viewer = client(app, world, "viewer")
    item_id = world.items["suspected"]
    r = viewer.post_json(f"/api/items/{item_id}/transitions", {"target": "confirmed", "version": 1})
    assert r.status_code == 403
    street = client(app, world, "street")
    r = street.post_json(f"/api/items/{world.items['confirmed']}/transitions", {"target": "annotated", "version": 2})
    assert r.status_code == 403 and "annotated" in r.json["message"]
    office = client(app, world, "office")
    r = office.post_json(f"/api/items/{world.items['dismissed']}/transitions", {"target": "confirmed", "version": 2})
    assert r.status_code == 409 and "dismissed" in r.json["message"] and "confirmed" in r.json["message"]
    r = office.post_json(f"/api/items/{item_id}/transitions", {"target": "confirmed"})
    assert r.status_code == 400 and "version" in r.json["message"]


def test_csrf_is_required_for_forms_and_json(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    item_id = world.items["suspected"]
    r = c.post_form(f"/items/{item_id}/transition", {"target": "confirmed", "version": "1"}, csrf=False)
    assert r.status_code == 400 and "CSRF" in r.text
    r = c.post_json(f"/api/items/{item_id}/transitions", {"target": "confirmed", "version": 1}, csrf=False)
    assert r.status_code == 400 and "CSRF" in r.json["message"]
    assert c.get(f"/api/items/{item_id}").json["status"] == "suspected"


def test_rejected_upload_leaves_nothing(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    item_id = world.items["suspected"]
    before = sorted((world.data_dir / "evidence").rglob("*")) if (world.data_dir / "evidence").exists() else []
    r = c.post_form(f"/items/{item_id}/transition",
                    {"target": "confirmed", "version": "1", "evidence": (io.BytesIO(b"MZ"), "virus.exe")},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and "virus.exe" in r.text
    after = sorted((world.data_dir / "evidence").rglob("*")) if (world.data_dir / "evidence").exists() else []
    assert [p for p in after if p.is_file()] == [p for p in before if p.is_file()]
    assert c.get(f"/api/items/{item_id}").json["status"] == "suspected"


def test_office_hands_an_item_to_another_street(app, world: World, sessions) -> None:  # noqa: F811
    office = client(app, world, "office")
    item_id = world.items["annotation_lifted"]
    version = office.get(f"/api/items/{item_id}").json["version"]
    street = client(app, world, "street")
    r = street.post_json(f"/api/items/{item_id}/assign", {"street_id": world.street_b, "version": version})
    assert r.status_code == 403
    r = office.post_json(f"/api/items/{item_id}/assign", {"street_id": world.street_b, "version": version})
    assert r.status_code == 200 and r.json["item"]["street_id"] == world.street_b
    assert r.json["item"]["version"] == version + 1
    stale = office.post_json(f"/api/items/{item_id}/assign", {"street_id": world.street_a, "version": version})
    assert stale.status_code == 409
    assert street.get(f"/items/{item_id}").status_code == 404  # now out of street A's scope
    assert client(app, world, "street_b").get(f"/items/{item_id}").status_code == 200
    with sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.target == f"violation:{item_id}",
                                                   AuditEntry.action == "item_assign")).one()
        assert entry.detail["to_street"] == world.street_b


def _timeline(html: str) -> list[str]:
    """The entries of the item page's timeline, in page order."""
    block = html.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r"<li (.*?)</li>", block, re.S)


def test_a_merge_shows_on_the_item_timeline_with_who_when_and_which_detection(app, world: World,  # noqa: F811
                                                                              sessions) -> None:
    from zoneinfo import ZoneInfo

    from geo.models import Detection

    item_id, det = world.items["permit_granted"], world.detections_a[1]
    street = client(app, world, "street")
    events_before = [e for e in _timeline(street.get(f"/items/{item_id}").text) if "data-to=" in e]
    assert events_before and not [e for e in _timeline(street.get(f"/items/{item_id}").text) if "merge" in e]
    r = street.post_json(f"/api/detections/{det}/review",
                         {"action": "merge", "violation_id": item_id, "reason": "同一处搭建，再次拍到"})
    assert r.status_code == 200 and r.json["detection"]["review_status"] == "merged"
    with sessions() as s:
        merged_at = s.get(Detection, det).reviewed_at.astimezone(ZoneInfo("Asia/Shanghai"))
    entries = _timeline(street.get(f"/items/{item_id}").text)
    merges = [e for e in entries if 'data-kind="merge"' in e]
    assert len(merges) == 1 and entries[-1] == merges[0]  # after the status events, which are all still there
    assert [e for e in entries if "data-to=" in e] == events_before
    m = merges[0]
    assert f'data-detection="{det}"' in m and f"#{det}" in m  # which detection
    assert world.users["street"] in m and merged_at.strftime("%Y-%m-%d %H:%M") in m  # who and when
    assert "同一处搭建，再次拍到" in m and "新增疑似" in m and "2025-06-10" in m  # why, its class, its imagery
    # a later status step comes after the merge
    office = client(app, world, "office")
    version = office.get(f"/api/items/{item_id}").json["version"]
    assert office.post_json(f"/api/items/{item_id}/transitions",
                            {"target": "closed", "version": version, "reason": "补证销项"}).status_code == 201
    entries = _timeline(office.get(f"/items/{item_id}").text)
    assert 'data-kind="merge"' in entries[-2] and 'data-to="closed"' in entries[-1]
    # in English too
    office.get("/lang/en")
    assert "Detection merged in" in office.get(f"/items/{item_id}").text
    # another street's team cannot open the item
    assert client(app, world, "street_b").get(f"/items/{item_id}").status_code == 404
