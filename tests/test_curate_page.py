"""The labeling page: its HTTP API, and the page itself driven by keys in Chromium."""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curate_fixtures import copy_dataset, embedded_dataset  # noqa: F401 (fixture)
from nonesuch.curate.app import create_app
from nonesuch.curate.session import CurationSession

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def session(embedded_dataset, tmp_path) -> CurationSession:
    return CurationSession(copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True), "smileys")


def test_api_serves_queries_images_labels_and_live_figures(session):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(session))
    assert "curate.js" in client.get("/").text
    queries = client.get("/api/next?n=4").json()
    assert len(queries) == 4 and all(q["reason"] == "typical" for q in queries)

    idx = queries[0]["idx"]
    png = client.get(f"/image/{idx}.png")
    assert png.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png.content))), session.dataset.images()[idx])
    assert client.get("/image/999.png").status_code == 404

    groups = session.dataset.labels()
    for q in client.get("/api/next?n=16").json():
        label = "keep" if groups[q["idx"]] == "smileys-emotion" else "discard"
        assert client.post("/api/label", json={"idx": q["idx"], "label": label}).status_code == 200
    assert client.post("/api/label", json={"idx": 0, "label": "maybe"}).status_code == 422
    state = client.get("/api/state").json()
    assert state["counts"]["keep"] + state["counts"]["discard"] == 16
    assert state["cv"]["labels"] == 16 and state["predicted_subset"] is not None
    next_ones = client.get("/api/next?n=4").json()
    assert {q["idx"] for q in next_ones}.isdisjoint(r["idx"] for r in state["recent"])

    undone = client.post("/api/undo").json()["idx"]
    assert undone == state["recent"][0]["idx"]
    assert client.get("/api/state").json()["cv"]["labels"] == 15


class BackgroundServer:
    """uvicorn on a free port in a thread, for the length of one test."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")
def test_keys_label_images_and_a_reload_shows_them(session):
    sync_api = pytest.importorskip("playwright.sync_api")
    with BackgroundServer(create_app(session)) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
        page.goto(url)
        current = page.locator("#current")

        def shown() -> int:
            page.wait_for_function("document.querySelector('#current').dataset.idx !== undefined")
            return int(current.get_attribute("data-idx"))

        kept = [shown()]
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.querySelector('#current').dataset.idx !== '{kept[0]}'")
        kept.append(shown())
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.querySelector('#current').dataset.idx !== '{kept[1]}'")
        discarded = shown()
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("document.querySelector('#stats').textContent.includes('2 keep · 1 discard')")
        page.keyboard.press("u")                           # undo the discard: it comes back to be labelled
        page.wait_for_function("document.querySelector('#stats').textContent.includes('2 keep · 0 discard')")
        assert shown() == discarded

        page.reload()
        page.wait_for_function("document.querySelectorAll('#recent img.keep').length === 2")
        shown_kept = page.eval_on_selector_all("#recent img.keep", "els => els.map(e => +e.dataset.idx)")
        assert sorted(shown_kept) == sorted(kept)
        assert "2 keep · 0 discard" in page.locator("#stats").text_content()
        assert session.store.current("smileys") == {kept[0]: "keep", kept[1]: "keep"}

        page.keyboard.press("g")                           # grid view labels the highlighted tile
        page.wait_for_selector("#grid img.cursor")
        tile = int(page.get_attribute("#grid img.cursor", "data-idx"))
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("document.querySelector('#stats').textContent.includes('1 discard')")
        assert session.store.current("smileys")[tile] == "discard"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "curate-label-page.png"))
        browser.close()
    assert outside == []
