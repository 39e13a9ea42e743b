"""Reviewing in a real browser: a detection end to end, then 100 detections by keyboard alone."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.browser import browser, foreign_requests, login, new_page, shot  # noqa: F401
from tests.webapp import Web, web, world  # noqa: F401


def test_review_a_detection_end_to_end(browser, web: Web, tmp_path) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users["office"])
    det = web.world.detections_a[0]
    page.goto(f"/review/?d={det}")
    page.wait_for_function("() => document.body.dataset.queueLoaded === '1'")
    assert page.inner_text("#det-title").startswith(f"#{det}")
    page.wait_for_function("() => [...document.querySelectorAll('#chips img')]"
                           ".every(i => i.complete && i.naturalWidth)")
    shot(page, "review_before_confirm")
    page.keyboard.press("c")
    page.wait_for_function(f"() => document.getElementById('review-message').textContent.includes('#{det}')")
    assert "已确认属实" in page.inner_text("#review-message")
    item_id = page.evaluate(f"() => WJ.api('GET', '/api/detections/{det}').then(d => d.violation_id)")
    assert item_id
    page.goto(f"/items/{item_id}")
    assert page.get_attribute("#item-status", "data-status") == "confirmed"
    assert page.locator("#timeline li").count() == 2
    assert page.locator("#imagery-chips img").count() == 2
    # a field team's next step, with a photo, from the item page
    photo = tmp_path / "现场.png"
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(photo)
    page.fill("#reason", "已立案调查")
    page.set_input_files("#evidence", str(photo))
    page.click("button[data-target='case_filed']")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("#item-status", "data-status") == "case_filed"
    timeline = page.locator("#timeline li")
    assert timeline.count() == 3
    assert "已立案调查" in timeline.nth(2).inner_text() and ".png" in timeline.nth(2).inner_text()
    assert web.world.users["office"] in timeline.nth(2).inner_text()
    shot(page, "item_after_transition")
    assert foreign_requests(rec, web.url) == []
    page.context.close()


def test_a_hundred_detections_without_the_mouse(browser, web: Web) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users["office"])
    page.goto(f"/review/?street={web.world.street_q}")
    page.wait_for_function("() => document.body.dataset.queueLoaded === '1'")
    assert len(web.world.detections_q) == 100
    assert page.evaluate("() => WJ_REVIEW.rows.length") == 100
    for i in range(100):
        if i % 4 == 3:
            page.keyboard.press("d")
            page.keyboard.press(str(1 + i % 3))  # a preset reason by its number
            page.keyboard.press("Enter")
        else:
            page.keyboard.press("c")
        page.wait_for_function(f"() => WJ_REVIEW.done === {i + 1}")
    shot(page, "review_hundred_done")
    left = page.evaluate(f"() => WJ.api('GET', '/api/detections?street={web.world.street_q}&limit=1000')"
                         ".then(d => d.detections.length)")
    assert left == 0
    confirmed = page.evaluate(f"() => WJ.api('GET', '/api/detections?status=confirmed&street={web.world.street_q}"
                              "&limit=1000').then(d => d.detections.length)")
    dismissed = page.evaluate(f"() => WJ.api('GET', '/api/detections?status=dismissed&street={web.world.street_q}"
                              "&limit=1000').then(d => d.detections.length)")
    assert (confirmed, dismissed) == (75, 25)
    assert foreign_requests(rec, web.url) == []
    page.context.close()


def test_merge_by_keyboard_shows_on_the_item_timeline(browser, web: Web) -> None:  # noqa: F811
    page, rec = new_page(browser, web.url)
    login(page, web.world.users["office"])
    det, item_id, code = web.world.detections_a[1], web.world.items["annotated"], web.world.item_codes["annotated"]
    page.goto(f"/review/?d={det}")
    page.wait_for_function("() => document.body.dataset.queueLoaded === '1'")
    assert page.inner_text("#det-title").startswith(f"#{det}")
    page.keyboard.press("m")
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.getElementById('review-message').textContent.includes('#{det}')")
    assert "已合并" in page.inner_text("#review-message")
    page.goto(f"/items/{item_id}")
    merged = page.locator("#timeline li[data-kind='merge']")
    assert merged.count() == 1 and merged.get_attribute("data-detection") == str(det)
    text = merged.inner_text()
    assert f"#{det}" in text and web.world.users["office"] in text
    assert page.locator("#timeline li").last.get_attribute("data-kind") == "merge"
    shot(page, "item_timeline_merge")
    assert foreign_requests(rec, web.url) == []
    page.context.close()
