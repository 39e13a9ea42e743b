"""Logins: argon2 check, audit trail, rate limiting, secure cookies, logout by POST, language switch."""

from __future__ import annotations

from sqlalchemy import select

from geo.models import AuditEntry
from tests.webapp import Client, World, app, client, world  # noqa: F401


def test_login_sets_a_secure_http_only_cookie_and_is_audited(app, world: World, sessions) -> None:  # noqa: F811
    c = Client(app, world.users["office"])
    resp = c.login_response
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert "weijian_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert c.get("/").status_code == 200
    with sessions() as s:
        last = s.scalars(select(AuditEntry).where(AuditEntry.username == world.users["office"])
                         .order_by(AuditEntry.id.desc())).first()
        assert last.action == "login" and last.user_id is not None


def test_wrong_password_is_refused_and_audited(app, world: World, sessions) -> None:  # noqa: F811
    c = Client(app, world.users["viewer"], password="wrong-password")
    assert c.login_response.status_code == 401
    assert "用户名或密码错误" in c.login_response.text
    assert c.get("/api/items").status_code == 401
    with sessions() as s:
        failed = s.scalars(select(AuditEntry).where(AuditEntry.username == world.users["viewer"],
                                                    AuditEntry.action == "login_failed")).all()
        assert failed


def test_login_is_rate_limited(app, world: World) -> None:  # noqa: F811
    name = world.users["drone"]
    for _ in range(5):
        assert Client(app, name, password="nope-nope").login_response.status_code == 401
    blocked = Client(app, name)  # even the right password, for a while
    assert blocked.login_response.status_code == 429
    assert "too many failed logins" in blocked.login_response.text


def test_logout_needs_post_with_csrf(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "admin")
    assert c.get("/logout").status_code == 405
    assert c.post_form("/logout", {}, csrf=False).status_code == 400
    assert c.get("/api/items").status_code == 200
    assert c.post_form("/logout", {}).status_code == 302
    assert c.get("/api/items").status_code == 401


def test_open_redirect_is_refused(app, world: World) -> None:  # noqa: F811
    c = Client(app, None)
    r = c.post_form("/login", {"username": world.users["admin"], "password": "password-123",
                               "next": "https://evil.example/"})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_chinese_by_default_english_on_request(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    page = c.get("/items").text
    assert "图斑清单" in page and 'lang="zh-CN"' in page
    c.get("/lang/en")
    page = c.get("/items").text
    assert 'lang="en"' in page and "Items" in page and "图斑清单" not in page
    assert "confirmed" in c.get(f"/items/{world.items['confirmed']}").text


def test_pages_forbid_foreign_hosts(app, world: World) -> None:  # noqa: F811
    c = client(app, world, "office")
    resp = c.get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    assert "cdn" not in resp.text.lower() and "https://" not in resp.text


def test_one_address_is_limited_too(engine, world: World) -> None:  # noqa: F811
    from tests.builders import unique
    from webmap.factory import create_app

    strict = create_app({"ENGINE": engine, "SECRET_KEY": "test-" + unique("key"), "DATA_DIR": str(world.data_dir),
                         "LOGIN_MAX_FAILURES_PER_IP": 2, "LOGIN_WINDOW_MINUTES": 1})
    for _ in range(2):  # two different unknown names fail from this address
        Client(strict, unique("nobody"), password="whatever-1")
    r = Client(strict, world.users["street_b"]).login_response  # right password, but the address is blocked
    assert r.status_code == 429
