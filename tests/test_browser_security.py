"""Roles and scopes in a real browser: refused by URL and by API, forged and token-less POSTs refused."""

from __future__ import annotations

from tests.browser import browser, foreign_requests, login, new_page, shot  # noqa: F401
from tests.webapp import Web, web, world  # noqa: F401

FETCH = """async ([url, body, withToken]) => {
  const headers = {'Content-Type': 'application/json', 'Accept': 'application/json'};
  if (withToken) headers['X-CSRFToken'] = document.querySelector('meta[name=csrf-token]').content;
  const r = await fetch(url, {method: body === null ? 'GET' : 'POST', headers, credentials: 'same-origin',
                              body: body === null ? undefined : JSON.stringify(body)});
  return [r.status, await r.text()];
}"""


def test_street_user_is_refused_another_streets_item_by_url_and_api(browser, web: Web) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users["street"])
    resp = page.goto(f"/items/{web.world.item_b}")
    assert resp.status == 404
    assert "outside your street" in page.inner_text("#error")
    shot(page, "street_refused_other_item")
    status, body = page.evaluate(FETCH, [f"/api/items/{web.world.item_b}", None, True])
    assert status == 404 and "outside your street" in body
    status, _ = page.evaluate(FETCH, [f"/api/items/{web.world.item_b}/transitions",
                                      {"target": "case_filed", "version": 2}, True])
    assert status == 404
    assert page.goto(f"/items/{web.world.items['confirmed']}").status == 200
    assert foreign_requests(rec, web.url) == []
    page.context.close()


def test_viewer_forged_post_is_refused(browser, web: Web) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users["viewer"])
    item = web.world.items["suspected"]
    page.goto(f"/items/{item}")
    assert page.locator("#transition-form").count() == 0  # no buttons for a viewer
    assert page.locator("#nav-review").count() == 0
    status, body = page.evaluate(FETCH, [f"/api/items/{item}/transitions", {"target": "confirmed", "version": 1}, True])
    assert status == 403 and "viewer" in body
    # a hand-made form with a valid token, posted from the page
    page.evaluate("""([url]) => {
        const f = document.createElement('form'); f.method = 'post'; f.action = url;
        for (const [k, v] of [['csrf_token', document.querySelector('meta[name=csrf-token]').content],
                              ['target', 'confirmed'], ['version', '1']]) {
          const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i); }
        document.body.appendChild(f); f.submit(); }""", [f"/items/{item}/transition"])
    page.wait_for_load_state("networkidle")
    assert "may not move an item" in page.inner_text("#error")
    shot(page, "viewer_forged_post")
    status, body = page.evaluate(FETCH, [f"/api/items/{item}", None, True])
    assert status == 200 and '"status":"suspected"' in body.replace(" ", "")
    assert foreign_requests(rec, web.url) == []
    page.context.close()


def test_missing_csrf_token_is_refused(browser, web: Web) -> None:  # noqa: F811
    page, _rec = new_page(browser, web.url)
    login(page, web.world.users["office"])
    item = web.world.items["confirmed"]
    page.goto(f"/items/{item}")
    status, body = page.evaluate(FETCH, [f"/api/items/{item}/transitions", {"target": "case_filed", "version": 2},
                                         False])
    assert status == 400 and "CSRF" in body
    page.evaluate("() => document.querySelector('#transition-form input[name=csrf_token]').remove()")
    page.click("button[data-target='case_filed']")
    page.wait_for_load_state("networkidle")
    assert "CSRF" in page.inner_text("#error")
    status, body = page.evaluate(FETCH, [f"/api/items/{item}", None, True])
    assert '"status":"confirmed"' in body.replace(" ", "")
    page.context.close()


def test_every_role_logs_in_and_pages_stay_on_our_host(browser, web: Web) -> None:  # noqa: F811
    for role in ("admin", "office", "street", "drone", "viewer"):
        page, rec = new_page(browser, web.url)
        login(page, web.world.users[role])
        assert web.world.users[role] in page.inner_text("#who")
        for url in ("/items", f"/items/{web.world.items['closed']}", "/dashboard", "/api/docs"):
            assert page.goto(url).status == 200, (role, url)
        if role in ("admin", "office", "street"):
            assert page.goto("/review/").status == 200
        else:
            assert page.goto("/review/").status == 403
        assert foreign_requests(rec, web.url) == [], role
        page.context.close()
