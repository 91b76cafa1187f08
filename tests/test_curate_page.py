"""The labeling page: its HTTP API (one by one, pages, clusters, review), what it refuses from
other sites, and the page itself driven by keys and clicks in Chromium."""

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
from nonesuch.curate.pages import PageConfig
from nonesuch.curate.session import CurationSession

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


TOKEN = "test-token"


@pytest.fixture
def session(embedded_dataset, tmp_path) -> CurationSession:
    return CurationSession(copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True), "smileys")


def test_the_label_page_bounds_connections_as_serve_does(session, monkeypatch):
    """A silent or trickling client is closed (web/connections.py): the labelling server ran
    plain uvicorn, whose connections wait for ever for a request head."""
    import uvicorn

    from nonesuch.curate.app import serve
    from nonesuch.web.connections import DeadlineH11Protocol, uvicorn_limits

    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options))
    serve(session, port=8765, open_browser=False)
    assert ran["http"] is DeadlineH11Protocol and ran.items() >= uvicorn_limits().items()


def page_client(session, **headers):
    """A client that talks to the page as its own script does: loopback host, the page's token."""
    from fastapi.testclient import TestClient

    return TestClient(create_app(session, token=TOKEN), base_url="http://127.0.0.1:8765",
                      headers={"X-Curate-Token": TOKEN, **headers})


def test_api_serves_queries_images_labels_and_live_figures(session):
    client = page_client(session)
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

    undone = client.post("/api/undo").json()["indices"]
    assert undone == [state["recent"][0]["idx"]]
    assert client.get("/api/state").json()["cv"]["labels"] == 15


def truth(session, idx: int) -> str:
    return "keep" if session.dataset.labels()[idx] == "smileys-emotion" else "discard"


def test_a_confirmed_page_labels_every_image_on_it_and_undo_takes_the_page_back(session):
    client = page_client(session)
    first = client.get("/api/page").json()
    assert first["kind"] == "explore" and len(first["items"]) == 25
    assert {item["proposed"] for item in first["items"]} == {"discard"}      # nothing known yet: the usual answer
    answers = [{"idx": item["idx"], "label": truth(session, item["idx"])} for item in first["items"]]
    assert client.post("/api/page", json={"items": answers}).status_code == 200
    assert session.store.current("smileys") == {a["idx"]: a["label"] for a in answers}

    second = client.get("/api/page").json()                  # a classifier now: its proposals, unseen images
    assert second["kind"] == "uncertain" and all(item["probability"] is not None for item in second["items"])
    assert {item["idx"] for item in second["items"]}.isdisjoint(a["idx"] for a in answers)
    assert client.post("/api/page", json={"items": [{"idx": i["idx"], "label": i["proposed"]}
                                                     for i in second["items"]]}).status_code == 200
    assert len(session.store.current("smileys")) == 25 + len(second["items"])

    assert sorted(client.post("/api/undo").json()["indices"]) == sorted(i["idx"] for i in second["items"])
    assert session.store.current("smileys") == {a["idx"]: a["label"] for a in answers}
    assert client.post("/api/page", json={"items": [{"idx": 1, "label": "keep"}] * 2}).status_code == 422
    assert client.post("/api/page", json={"items": [{"idx": 999, "label": "keep"}]}).status_code == 404
    assert len(session.store.current("smileys")) == 25        # a refused page labels nothing


def test_a_cluster_is_labelled_whole_with_its_outliers_shown_first(session):
    client = page_client(session)
    clusters = client.get("/api/clusters").json()
    assert sum(c["size"] for c in clusters) == 48 and all(len(c["typical"]) >= 1 for c in clusters)
    c = clusters[0]
    page = client.get(f"/api/cluster/{c['cluster']}?answer=keep").json()
    shown = [item["idx"] for item in page["items"]]
    assert page["kind"] == "cluster" and {item["proposed"] for item in page["items"]} == {"keep"}
    assert len(shown) + page["unseen"] == c["size"]
    distance = session.centre_distance
    assert [distance[i] for i in shown] == sorted((distance[i] for i in shown), reverse=True)
    members = np.flatnonzero(session.strategy.clusters.assignment == c["cluster"])
    assert distance[shown[-1]] >= np.sort(distance[members])[::-1][len(shown) - 1]   # the farthest ones

    flipped = shown[0]
    items = [{"idx": i, "label": "discard" if i == flipped else "keep"} for i in shown]
    assert client.post("/api/cluster", json={"cluster": c["cluster"], "answer": "keep", "items": items}).status_code == 200
    labels = session.store.current("smileys")
    assert set(labels) == set(members.tolist()) and labels[flipped] == "discard"
    assert sum(v == "keep" for v in labels.values()) == c["size"] - 1
    assert client.post("/api/undo").json()["indices"] and session.store.current("smileys") == {}
    assert client.get("/api/cluster/99?answer=keep").status_code == 404
    assert client.get("/api/cluster/0?answer=maybe").status_code == 422


def test_a_proposed_cluster_page_shows_its_doubtful_members_and_labels_the_rest_unseen(session):
    # 48 images in 16 clusters: pages of 2 and a low bar, so a cluster qualifies
    session = CurationSession(session.dataset, "smileys",
                              page=PageConfig(size=2, choice="clusters", cluster_uniformity=0.5))
    client = page_client(session)
    assert client.get("/api/page").json()["kind"] == "explore"
    session.label_page([(i, "keep" if i < 5 else "discard") for i in range(10)])
    page = client.get("/api/page").json()
    assert page["kind"] == "cluster" and page["shown"] == "doubtful" and page["unseen"] >= 1
    assert {item["proposed"] for item in page["items"]} == {page["answer"]} and len(page["items"]) == 2
    before = session.store.current("smileys")
    members = np.flatnonzero(session.strategy.clusters.assignment == page["cluster"])
    open_members = [int(i) for i in members if int(i) not in before]
    assert len(open_members) == len(page["items"]) + page["unseen"]
    shown = [{"idx": item["idx"], "label": item["proposed"]} for item in page["items"]]
    shown[0]["label"] = "keep" if page["answer"] == "discard" else "discard"          # one flip
    assert client.post("/api/cluster", json={"cluster": page["cluster"], "answer": page["answer"],
                                             "items": shown}).status_code == 200
    labels = session.store.current("smileys")
    assert set(labels) == set(before) | set(open_members)
    assert labels[shown[0]["idx"]] == shown[0]["label"] != page["answer"]
    assert [labels[i] for i in open_members if i != shown[0]["idx"]] == [page["answer"]] * (len(open_members) - 1)


def test_review_puts_a_slipped_label_first(session):
    groups = session.dataset.labels()
    labels = [(i, truth(session, i)) for i in range(48)]
    slip = next(i for i, g in enumerate(groups) if g == "smileys-emotion")
    labels[slip] = (slip, "discard")                             # a smiley let through as a discard
    session.label_page(labels)
    review = page_client(session).get("/api/review?n=5").json()
    assert len(review) == 5 and slip in [r["idx"] for r in review]
    assert review[0]["disagreement"] >= review[-1]["disagreement"]


def test_the_page_refuses_other_sites_foreign_hosts_and_large_bodies(session):
    from fastapi.testclient import TestClient

    client = page_client(session)
    assert client.get("/").status_code == 200 and TOKEN in client.get("/").text   # the page carries its token
    label = {"idx": 0, "label": "keep"}
    refused = {
        "no token": client.post("/api/label", json=label, headers={"X-Curate-Token": ""}),
        "wrong token": client.post("/api/label", json=label, headers={"X-Curate-Token": "guess"}),
        "other origin": client.post("/api/label", json=label, headers={"Origin": "http://evil.example"}),
        "other port": client.post("/api/undo", headers={"Origin": "http://127.0.0.1:9999"}),
        "cross-site fetch": client.post("/api/undo", headers={"Sec-Fetch-Site": "cross-site"}),
        "opaque origin": client.post("/api/undo", headers={"Origin": "null"}),
    }
    assert {why: r.status_code for why, r in refused.items()} == {why: 403 for why in refused}
    rebound = TestClient(create_app(session, token=TOKEN), base_url="http://evil.example:8765")
    assert rebound.get("/api/state").status_code == 421        # DNS rebinding: a foreign name for 127.0.0.1
    assert rebound.get("/").status_code == 421
    big = {"items": [{"idx": 0, "label": "keep"}] * 5000}
    assert client.post("/api/page", json=big).status_code == 413
    assert client.post("/api/page", content=b"x" * 70_000, headers={"Content-Type": "application/json",
                                                                    "Content-Length": "10"}).status_code == 413
    assert session.store.current("smileys") == {}              # nothing got through
    same_site = client.post("/api/label", json=label, headers={"Origin": "http://127.0.0.1:8765",
                                                               "Sec-Fetch-Site": "same-origin"})
    assert same_site.status_code == 200 and session.store.current("smileys") == {0: "keep"}
    for host in ("localhost:8765", "[::1]:8765", "127.0.0.1"):
        assert client.get("/api/state", headers={"Host": host}).status_code == 200


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


def launch_chromium(p):
    """Debian's Chromium, headless, making no request of its own."""
    return p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
        "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run",
        "--disable-component-update", "--disable-sync"])


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")
def test_a_page_flipped_twice_and_confirmed_is_there_after_a_reload(session):
    sync_api = pytest.importorskip("playwright.sync_api")
    session.next_page()                                     # clusters first, as `serve` does before the browser opens
    with BackgroundServer(create_app(session)) as url, sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(120_000)                   # a shared 2-core machine can be very busy
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
        page.goto(url)                                      # pages is the first view
        page.wait_for_function("document.querySelectorAll('#tiles .tile').length === 25")
        tiles = page.locator("#tiles .tile")
        shown = [int(tiles.nth(i).get_attribute("data-idx")) for i in range(25)]
        assert {tiles.nth(i).get_attribute("data-answer") for i in range(25)} == {"discard"}
        page.keyboard.press("c")                            # the key written on the third tile
        tiles.nth(7).click()                                # and the mouse on the eighth
        page.wait_for_function("document.querySelectorAll('#tiles .tile.flipped').length === 2")
        assert tiles.nth(2).get_attribute("data-answer") == tiles.nth(7).get_attribute("data-answer") == "keep"
        assert "c" in tiles.nth(2).text_content() and "keep (flipped)" in tiles.nth(2).text_content()
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#stats').textContent.includes('2 keep · 23 discard')")
        expected = {i: "discard" for i in shown} | {shown[2]: "keep", shown[7]: "keep"}
        assert session.store.current("smileys") == expected

        page.reload()
        page.wait_for_function("document.querySelectorAll('#recent img').length === 25")
        recent = page.eval_on_selector_all("#recent img", "els => els.map(e => [+e.dataset.idx, e.dataset.label])")
        assert dict(recent) == expected
        assert "2 keep · 23 discard" in page.locator("#stats").text_content()
        page.wait_for_function("document.querySelectorAll('#tiles .tile').length > 0")
        assert not set(shown) & {int(t) for t in page.eval_on_selector_all("#tiles .tile", "els => els.map(e => e.dataset.idx)")}
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "curate-page-mode.png"))

        page.get_by_role("button", name="undo last page").first.click()   # the mouse undoes the whole page
        page.wait_for_function("document.querySelector('#stats').textContent.includes('0 keep · 0 discard')")
        assert session.store.current("smileys") == {}
        browser.close()
    assert outside == []


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")
def test_keys_label_images_and_a_reload_shows_them(session):
    sync_api = pytest.importorskip("playwright.sync_api")
    with BackgroundServer(create_app(session)) as url, sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
        page.goto(url + "#one")
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
