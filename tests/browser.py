"""Playwright driving Debian's Chromium, for the browser tests.

Import the fixtures with ``from tests.browser import browser, page  # noqa: F401``.
Every page records the hosts it requests; :func:`foreign_requests` lists those that are
not the app's own. Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the module."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (make setup does it)"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Recorder:
    """Requests a page made, and console errors."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []

    def hosts(self) -> set[str]:
        return {urlsplit(u).netloc for u in self.urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")}


def new_page(browser: Any, base_url: str) -> tuple[Any, Recorder]:
    """A fresh context (own cookies) and page that records its requests."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=base_url, locale="zh-CN")
    page = context.new_page()
    rec = Recorder()
    page.on("request", lambda req: rec.urls.append(req.url))
    page.on("console", lambda msg: rec.errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(15000)
    return page, rec


def foreign_requests(rec: Recorder, base_url: str) -> list[str]:
    """Requested URLs whose host is not the app's own."""
    own = urlsplit(base_url).netloc
    return [u for u in rec.urls if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != own]


def login(page: Any, username: str, password: str = "password-123") -> None:
    """Log in through the form."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_load_state("networkidle")


def shot(page: Any, name: str) -> Path:
    """Save a screenshot under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
