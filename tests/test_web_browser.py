"""The page in a real browser (Debian's Chromium via Playwright): static over HTTP, static from
file://, and live. Screenshots go to test-artifacts/ to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from nonesuch.web.live_pool import PoolConfig
from nonesuch.web.publish import publish_site
from nonesuch.web.server import LiveConfig, ServerConfig, start_server
from web_fixtures import CHROMIUM, EmojiProducer, PageWatch, launch_chromium

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(emoji_folder, tmp_path_factory):
    return publish_site(emoji_folder, tmp_path_factory.mktemp("browse") / "site",
                        title="This emoji does not exist").site


def check_page(browser, url: str, origin: str, screenshot: str) -> None:
    """Everything a visitor relies on, checked on the page at `url`; every request must stay
    under `origin`."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = PageWatch(page)
    page.goto(url)
    first = watch.shown_image()
    assert first["naturalWidth"] > 0 and first["visible"] and first["width"] >= 400
    assert first["alt"].startswith("An AI-generated image")
    label = page.locator("#ai-label")
    assert label.is_visible() and label.inner_text() == "AI-generated"

    second = watch.next_image(lambda: page.click("#next-image"))      # click
    third = watch.next_image(lambda: page.keyboard.press("Space"))    # focus is on the image button
    page.locator("body").focus()
    fourth = watch.next_image(lambda: page.keyboard.press("ArrowRight"))
    assert len({first["src"], second["src"], third["src"], fourth["src"]}) == 4
    back = watch.next_image(lambda: page.keyboard.press("ArrowLeft"))
    assert back["src"] == third["src"]

    page.click("#about summary")
    record = page.inner_text("#record")
    assert "sha256" in record and "file" in record
    words = page.inner_text("#about-words")          # in words, above the table
    assert "made this image" in words and "not a photograph" in words
    if screenshot == "live-test-producer.png":   # the fixture producer names its generator and data
        assert "The generator “emoji-test” made this image (checkpoint 000000064)" in words
        assert "learned from 48 images of emoji, licensed CC BY-SA 4.0" in words
        assert "Credit: OpenMoji." in words and "generated on 2026-12-03 at 08:00 UTC from seed" in words
    assert page.inner_text("#verify-command").startswith("nonesuch verify ")
    assert page.get_attribute("#download", "href")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / screenshot, full_page=True)

    assert watch.errors == []
    outside = [u for u in watch.requests if not u.startswith(origin) and not u.startswith("data:")]
    assert outside == [], outside
    page.close()


def test_static_site_over_http(browser, site):
    with start_server(site, ServerConfig(port=0, access_log=False)) as server:
        check_page(browser, server.url + "/", server.url + "/", "static-http.png")


def test_static_site_from_file_url(browser, site):
    check_page(browser, (site / "index.html").as_uri(), site.as_uri() + "/", "static-file.png")


def test_live_mode(browser, emoji_folder):
    config = ServerConfig(port=0, access_log=False, title="This emoji does not exist (live)",
                          live=LiveConfig(pool=PoolConfig(capacity=8, batch_size=4)))
    with start_server("(test producer)", config, producer=EmojiProducer(emoji_folder, delay_s=0.05)) as server:
        check_page(browser, server.url + "/", server.url + "/", "live-test-producer.png")
