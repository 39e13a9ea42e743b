"""A small world for the web tests, and the real app served by waitress on a loopback port.

Import the fixtures into a test module with ``from tests.webapp import web, world  # noqa: F401``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.builders import add_detection, add_parcel, add_scene, add_street, add_user, add_violation, square, unique

PASSWORD = "password-123"
#: Street A (west), street B (east) and the queue street Q (further east), 0.04° squares; a world
#: built with ``shift`` lies that many degrees further north (the map tests use one, so that no
#: other module's world overlaps theirs on the map).
STREET_A = (121.36, 31.19)
STREET_B = (121.40, 31.19)
STREET_Q = (121.44, 31.19)
#: Where the items of street A lie (a 5 × 2 block, one item per status).
ITEMS_ORIGIN = (121.372, 31.205)
ITEM_SIZE = 0.0012
STATUSES = ("suspected", "confirmed", "dismissed", "case_filed", "demolished", "permit_granted", "annotated",
            "annotation_lifted", "regularised", "closed")
#: How each status is reached from suspected.
PATHS: dict[str, tuple[str, ...]] = {
    "suspected": (), "confirmed": ("confirmed",), "dismissed": ("dismissed",),
    "case_filed": ("confirmed", "case_filed"), "demolished": ("confirmed", "demolished"),
    "permit_granted": ("confirmed", "permit_granted"), "annotated": ("confirmed", "annotated"),
    "annotation_lifted": ("confirmed", "annotated", "annotation_lifted"), "regularised": ("confirmed", "regularised"),
    "closed": ("confirmed", "demolished", "closed"),
}


@dataclass
class World:
    """Ids and logins of the test world."""

    street_a: int = 0
    street_b: int = 0
    street_q: int = 0
    street_a_name: str = ""
    street_b_name: str = ""
    users: dict[str, str] = field(default_factory=dict)  # role or "street_b" → username
    items: dict[str, int] = field(default_factory=dict)  # status → item id in street A
    item_codes: dict[str, str] = field(default_factory=dict)
    item_b: int = 0  # a confirmed item in street B
    item_b_code: str = ""
    detections_a: list[int] = field(default_factory=list)
    detections_b: list[int] = field(default_factory=list)
    detections_q: list[int] = field(default_factory=list)
    data_dir: Path = Path()
    shift: float = 0.0  # degrees north of the base layout

    def at(self, point: tuple[float, float]) -> tuple[float, float]:
        """A point of the base layout (lon, lat) moved to this world."""
        return point[0], point[1] + self.shift

    @property
    def items_origin(self) -> tuple[float, float]:
        return self.at(ITEMS_ORIGIN)

    @property
    def street_b_origin(self) -> tuple[float, float]:
        return self.at(STREET_B)


def _chip(path: Path, built: bool) -> None:
    img = np.full((128, 128, 3), (60, 110, 70), np.uint8)
    if built:
        cv2.rectangle(img, (32, 32), (96, 96), (200, 200, 210), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def build_world(sessions: sessionmaker[Session], data_dir: Path, queue_size: int = 100,
                shift: float = 0.0) -> World:
    """Create streets, parcels, items in every status, detections with chips, and one login per role."""
    from geo import items, workflow
    from geo.models import Status

    w = World(data_dir=data_dir, shift=shift)
    street_a, street_b, street_q, origin = w.at(STREET_A), w.at(STREET_B), w.at(STREET_Q), w.items_origin
    with sessions.begin() as s:
        a = add_street(s, unique("甲街道"), *street_a)
        b = add_street(s, unique("乙街道"), *street_b)
        q = add_street(s, unique("队列街道"), *street_q)
        w.street_a, w.street_b, w.street_q = a.id, b.id, q.id
        w.street_a_name, w.street_b_name = a.name, b.name
        for role in ("admin", "office", "drone", "viewer"):
            w.users[role] = add_user(s, role).username
        w.users["street"] = add_user(s, "street", street=a.name).username
        w.users["street_b"] = add_user(s, "street", street=b.name).username
        for i in range(6):
            for j in range(6):
                lon, lat = origin[0] - 0.002 + i * 0.0016, origin[1] - 0.002 + j * 0.0016
                add_parcel(s, square(lon, lat, 0.0014), street_id=a.id, address=f"甲路{i * 6 + j + 1}号")
        for k, status in enumerate(STATUSES):
            lon = origin[0] + (k % 5) * 0.0016
            lat = origin[1] + (k // 5) * 0.0016
            item = add_violation(s, street_id=a.id, geom=square(lon, lat, ITEM_SIZE), address=f"甲路{100 + k}号",
                                 when=datetime(2025, 3, 1 + k, tzinfo=UTC), is_key=k % 2 == 0)
            for step in PATHS[status]:
                items.transition(s, item.id, workflow.Transition(Status(step), "测试员", "测试"))
            w.items[status] = item.id
            w.item_codes[status] = item.code
        other = add_violation(s, street_id=b.id, geom=square(street_b[0] + 0.01, street_b[1] + 0.015, ITEM_SIZE),
                              address="乙路1号")
        items.transition(s, other.id, workflow.Transition(Status.CONFIRMED, "测试员", "测试"))
        w.item_b, w.item_b_code = other.id, other.code
        before = add_scene(s, captured_at=datetime(2025, 1, 10, tzinfo=UTC))
        after = add_scene(s, captured_at=datetime(2025, 6, 10, tzinfo=UTC))
        for k in range(3):
            cb, ca = f"chips/a{k}_before.png", f"chips/a{k}_after.png"
            _chip(data_dir / cb, False)
            _chip(data_dir / ca, True)
            d = add_detection(s, after, before, street_id=a.id, lon=origin[0] + k * 0.0016,
                              lat=origin[1] + 0.0040, size_deg=0.0008, score=0.95 - k * 0.01,
                              chip_before=cb, chip_after=ca)
            w.detections_a.append(d.id)
        for k in range(2):
            d = add_detection(s, after, before, street_id=b.id, lon=street_b[0] + 0.005 + k * 0.002,
                              lat=street_b[1] + 0.02, score=0.8)
            w.detections_b.append(d.id)
        for k in range(queue_size):
            d = add_detection(s, after, before, street_id=q.id, lon=street_q[0] + 0.001 + (k % 10) * 0.003,
                              lat=street_q[1] + 0.001 + (k // 10) * 0.003, score=0.99 - k * 0.001)
            w.detections_q.append(d.id)
    return w


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The Flask app served by waitress (a real WSGI server) on 127.0.0.1 in a thread."""

    def __init__(self, app: object, threads: int = 8) -> None:
        from waitress.server import create_server

        self.port = free_port()
        self.server = create_server(app, host="127.0.0.1", port=self.port, threads=threads)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server on port {self.port} did not start")

    def stop(self) -> None:
        """Finish running requests first, then close every socket (so no closed descriptor is written to)."""
        from waitress import wasyncore

        self.server.task_dispatcher.shutdown()
        # close every socket inside the server's own loop thread, which then ends
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(timeout=5)


@dataclass
class Web:
    """The world, the app and its live server."""

    world: World
    app: object
    url: str


@pytest.fixture(scope="module")
def world(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> World:
    """A fresh world per test module (its own streets, users and items)."""
    from geo.db import session_factory

    return build_world(session_factory(engine), tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def web(engine: Engine, world: World) -> Iterator[Web]:
    """The real app on a real WSGI server on a free loopback port, against the test database."""
    from webmap.factory import create_app

    app = create_app({"ENGINE": engine, "SECRET_KEY": "test-" + unique("key"), "DATA_DIR": str(world.data_dir)})
    server = LiveServer(app).start()
    try:
        yield Web(world=world, app=app, url=server.url)
    finally:
        server.stop()


class Client:
    """A Flask test client logged in as one user, with the session's CSRF token."""

    def __init__(self, app: object, username: str | None, password: str = PASSWORD) -> None:
        import re

        self.http = app.test_client()  # type: ignore[attr-defined]
        page = self.http.get("/login")
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        self.login_response = None
        if username:
            self.login_response = self.http.post("/login", data={"username": username, "password": password,
                                                                  "csrf_token": self.csrf})
            page = self.http.get("/items")
            found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            if found:
                self.csrf = found.group(1)

    def get(self, url: str, **kw: object) -> object:
        return self.http.get(url, **kw)

    def post_json(self, url: str, body: object, csrf: bool = True) -> object:
        headers = {"X-CSRFToken": self.csrf} if csrf else {}
        return self.http.post(url, json=body, headers=headers)

    def post_form(self, url: str, data: dict[str, object], csrf: bool = True, **kw: object) -> object:
        form = dict(data)
        if csrf:
            form["csrf_token"] = self.csrf
        return self.http.post(url, data=form, **kw)


@pytest.fixture(scope="module")
def app(engine: Engine, world: World) -> object:
    """The app against the test database (for Flask's test client)."""
    from webmap.factory import create_app

    return create_app({"ENGINE": engine, "SECRET_KEY": "test-" + unique("key"), "DATA_DIR": str(world.data_dir)})


def client(app: object, world: World, role: str) -> Client:
    """A client logged in as the world's user of ``role`` (or ``street_b``)."""
    return Client(app, world.users[role])
