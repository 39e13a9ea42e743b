"""The dashboard's month counts follow the event log and the street scope."""

from __future__ import annotations

from datetime import UTC, datetime

from geo import items, workflow
from geo.models import Status
from tests.builders import add_violation, square
from tests.webapp import World, app, client, world  # noqa: F401


def test_month_counts_follow_the_event_log_and_scope(app, world: World, sessions) -> None:  # noqa: F811
    when = datetime(2024, 5, 10, 3, tzinfo=UTC)
    with sessions.begin() as s:
        for k in range(3):
            v = add_violation(s, street_id=world.street_b, geom=square(121.41 + k * 0.001, 31.2), when=when,
                              source="imagery" if k else "complaint")
            if k < 2:
                items.transition(s, v.id, workflow.Transition(Status.CONFIRMED, "t"), occurred_at=when)
                items.transition(s, v.id, workflow.Transition(Status.DEMOLISHED, "t", area_m2=50.0),
                                 occurred_at=when)
    office = client(app, world, "office").get("/api/dashboard?month=2024-05").json
    assert office["new_found"] == 3 and abs(office["proactive_rate"] - 2 / 3) < 1e-9
    assert office["steps"]["demolished"] == {"n": 2, "area": 100.0}
    row = next(r for r in office["streets"] if r["id"] == world.street_b)
    assert (row["new_found"], row["demolished"]) == (3, 2)
    street_a = client(app, world, "street").get("/api/dashboard?month=2024-05").json
    assert street_a["new_found"] == 0 and [r["id"] for r in street_a["streets"]] == [world.street_a]
    page = client(app, world, "office").get("/dashboard?month=2024-05").text
    assert "新增违建发现" in page and 'id="c-demolished"' in page
    assert client(app, world, "office").get("/api/dashboard?month=May").status_code == 400
