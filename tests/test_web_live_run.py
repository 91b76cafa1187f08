"""Publish and serve with the real generate stage: a real run folder (the GAN stage's format,
untrained weights, which cost the same to run as trained ones), watermarked and signed images
that `verify` traces back. The page in live mode is checked in Chromium too."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from typer.testing import CliRunner

from generate_fixtures import conditional_run, nonesuch_home  # noqa: F401  (fixtures)
from nonesuch.cli import app
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.verify import verify_bytes
from nonesuch.web.live_pool import PoolConfig
from nonesuch.web.server import LiveConfig, ServerConfig, start_server
from web_fixtures import CHROMIUM

GROUPS = {"animals-nature", "food-drink", "objects", "smileys-emotion"}


def test_publish_a_run_generates_signed_images_that_verify(conditional_run, nonesuch_home, tmp_path):
    site = tmp_path / "site"
    result = CliRunner().invoke(app, ["publish", str(conditional_run), "--out", str(site),
                                      "--count", "4", "--size", "128", "--title", "Emoji, made up"])
    assert result.exit_code == 0, result.output
    index = json.loads((site / "images.json").read_text())
    assert sorted(entry["record"]["seed"] for entry in index) == [0, 1, 2, 3]
    for entry in index:
        data = (site / entry["file"]).read_bytes()
        assert entry["file"] == f"img/{hashlib.sha256(data).hexdigest()[:16]}.jpg"
        assert entry["record"]["sha256"] == entry["sha256"]       # the generate stage's own record
        assert entry["record"]["class_name"] in GROUPS
        report = verify_bytes(data, entry["file"], registry=Registry())
        assert report.verdict == "verified", report
        assert report.watermark["watermark_id"] == entry["record"]["watermark_id"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # generated files cleaned up


@pytest.fixture(scope="module")
def live_run_server(conditional_run, nonesuch_home):
    config = ServerConfig(port=0, access_log=False, title="This emoji does not exist",
                          live=LiveConfig(size=128, pool=PoolConfig(capacity=8, batch_size=4)))
    with start_server(conditional_run, config) as server:
        yield server


def test_live_mode_serves_fresh_images_that_verify(live_run_server):
    client = httpx.Client(base_url=live_run_server.url, timeout=30)
    entries = [client.get("/api/next").json() for _ in range(3)]
    assert len({entry["record"]["seed"] for entry in entries}) == 3
    for entry in entries:
        image = client.get(entry["src"])
        assert image.headers["content-type"] == "image/jpeg"
        report = verify_bytes(image.content, entry["file"], registry=Registry())
        assert report.verdict == "verified" and report.c2pa["status"] == "valid"
        assert report.registry["status"] == "match"       # registered before it was handed out
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["produced"] >= 3 and health["errors"] == 0


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")
def test_live_page_with_the_real_generator(live_run_server):
    from playwright.sync_api import sync_playwright

    from test_web_browser import check_page
    from web_fixtures import launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        check_page(browser, live_run_server.url + "/", live_run_server.url + "/", "live-real-run.png")
        browser.close()


def test_publish_and_serve_pass_the_screen_choice_to_generate(conditional_run, nonesuch_home, tmp_path):
    # The run carries no screen: asking for one must reach the generate stage and be refused
    # there in one line, in publish and in live serve alike.
    result = CliRunner().invoke(app, ["publish", str(conditional_run), "--out", str(tmp_path / "site"),
                                      "--count", "2", "--screen"])
    assert result.exit_code == 1 and "screen.npz" in result.output, result.output
    assert not (tmp_path / "site").exists()
    config = ServerConfig(port=0, access_log=False, live=LiveConfig(screen=True))
    with pytest.raises(Exception, match="screen.npz"):
        with start_server(conditional_run, config):
            pass
