"""The labeling page: a small FastAPI app on 127.0.0.1 over one CurationSession.

Three views over one session. One by one: the browser keeps a short queue of images and posts
each key press; the server stores the label, refits and answers with the next images the query
strategy wants. Pages: the server proposes a page of images with an answer on each, the person
flips the wrong ones and confirms, and every image on it is labelled at once (a whole cluster
too, its outliers shown first). Review: the labels the classifier most disagrees with.
Images are the dataset's own pixels, PNG-encoded on request, so nothing is copied out of the
dataset. Everything the page needs is served from `static/`; it makes no outside request.
Requests pass LocalPageGuard first (guard.py): loopback Host names only, and changes only with
the token written into the served page.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pydantic import BaseModel   # imported only by the `curate label` verb, never by `nonesuch --help`

from nonesuch.curate.guard import LocalPageGuard, new_token
from nonesuch.curate.labels import LABELS
from nonesuch.curate.session import CurationSession

STATIC = Path(__file__).parent / "static"


MAX_PAGE = 512                 # images in one confirmed page; a cluster's unseen rest is added server-side


class LabelRequest(BaseModel):
    """One key press: image index and keep / discard / skip."""

    idx: int
    label: str


class PageRequest(BaseModel):
    """A confirmed page: every shown image with the label it ended with."""

    items: list[LabelRequest]


class ClusterRequest(BaseModel):
    """A confirmed cluster page: the shown outliers as they ended, the rest of the cluster gets `answer`."""

    cluster: int
    answer: str
    items: list[LabelRequest]


def create_app(session: CurationSession, token: str | None = None, bound_host: str = "127.0.0.1"):
    """The page's ASGI app. token: the secret every changing request must carry (a fresh one if
    None); bound_host: the address the server listens on, answered as a Host name too."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, Response
    from fastapi.staticfiles import StaticFiles

    app = FastAPI(title=f"nonesuch curate: {session.target}", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    pixels = session.dataset.images()          # [N, R, R, 3] uint8, memory-mapped
    count = len(session.dataset)
    token = token or new_token()
    # The token goes into the page itself: only a page this server served can read it.
    index_html = (STATIC / "index.html").read_text().replace("{{TOKEN}}", token)

    def check(idx: int) -> int:
        if not 0 <= idx < count:
            raise HTTPException(404, f"no image {idx} (dataset has {count})")
        return idx

    def checked_items(items: list[LabelRequest], allowed=LABELS) -> list[tuple[int, str]]:
        if len(items) > MAX_PAGE:
            raise HTTPException(422, f"a page holds at most {MAX_PAGE} images")
        if len({item.idx for item in items}) != len(items):
            raise HTTPException(422, "an image appears twice on the page")
        for item in items:
            if item.label not in allowed:
                raise HTTPException(422, f"label must be one of {', '.join(allowed)}")
        return [(check(item.idx), item.label) for item in items]

    def page_json(page, unseen: int | None = None, shown: str | None = None) -> dict:
        """unseen: a cluster page's members that confirming labels without showing them."""
        json = {"kind": page.kind, "unseen": unseen,
                "items": [{"idx": i.idx, "proposed": i.proposed, "probability": i.probability} for i in page.items]}
        if page.kind == "cluster":
            json |= {"cluster": page.cluster, "answer": page.items[0].proposed, "shown": shown}
        return json

    @app.get("/")
    def index():
        return HTMLResponse(index_html, headers={"Cache-Control": "no-store"})

    @app.get("/image/{idx}.png")
    def image(idx: int):
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.asarray(pixels[check(idx)])).save(buffer, format="PNG", compress_level=1)
        # Pixels of a dataset index never change, so the browser may keep them.
        return Response(buffer.getvalue(), media_type="image/png",
                        headers={"Cache-Control": "max-age=86400, immutable"})

    @app.get("/api/next")
    def next_images(n: int = 12, exclude: str = ""):
        try:
            skip = {int(i) for i in exclude.split(",") if i.strip()}   # the page's queue, not to repeat
        except ValueError:
            raise HTTPException(422, "exclude must be comma-separated image indices") from None
        return [{"idx": q.idx, "reason": q.reason, "probability": q.probability}
                for q in session.next_queries(min(max(n, 1), 64), skip)]

    @app.post("/api/label")
    def label(request: LabelRequest):
        if request.label not in LABELS:
            raise HTTPException(422, f"label must be one of {', '.join(LABELS)}")
        session.label(check(request.idx), request.label)
        return {"ok": True}

    @app.get("/api/page")
    def next_page():
        page = session.next_page()
        if page.kind == "cluster":         # confirmed through /api/cluster, which labels the unseen rest
            return page_json(page, unseen=len(page.unseen), shown=session.page_config.cluster_shown)
        return page_json(page)

    @app.post("/api/page")
    def confirm_page(request: PageRequest):
        session.label_page(checked_items(request.items))
        return {"ok": True}

    @app.get("/api/clusters")
    def clusters():
        return cluster_summaries(session)

    @app.get("/api/cluster/{cluster}")
    def cluster_page(cluster: int, answer: str = "keep"):
        check_cluster(cluster, answer)
        page, unlabelled = session.cluster_page(cluster, answer)
        return page_json(page, unseen=unlabelled - len(page.items), shown="far")

    @app.post("/api/cluster")
    def confirm_cluster(request: ClusterRequest):
        check_cluster(request.cluster, request.answer)
        session.label_cluster(request.cluster, request.answer, checked_items(request.items, ("keep", "discard")))
        return {"ok": True}

    def check_cluster(cluster: int, answer: str) -> None:
        if answer not in ("keep", "discard"):
            raise HTTPException(422, "a cluster's answer must be keep or discard")
        if not 0 <= cluster < len(session.strategy.clusters.sizes):
            raise HTTPException(404, f"no cluster {cluster} (there are {len(session.strategy.clusters.sizes)})")

    @app.get("/api/review")
    def review(n: int = 20):
        return [{"idx": r.idx, "label": r.label, "disagreement": r.disagreement}
                for r in session.review(min(max(n, 1), 100))]

    @app.post("/api/undo")
    def undo():
        return {"indices": session.undo()}

    @app.get("/api/state")
    def state():
        return page_state(session)

    return LocalPageGuard(app, token, bound_host)


def cluster_summaries(session: CurationSession) -> list[dict]:
    """Per cluster: size, labels so far, the classifier's predicted keep share, 4 typical members."""
    clusters = session.strategy.clusters
    current = session.store.current(session.target)
    probability = session.predict().probability
    summaries = []
    for c, size in enumerate(clusters.sizes):
        members = np.flatnonzero(clusters.assignment == c)
        labels = [current[i] for i in members.tolist() if i in current]
        typical = members[np.argsort(-clusters.typicality[members], kind="stable")][:4]
        summaries.append({"cluster": c, "size": size, "keep": labels.count("keep"), "discard": labels.count("discard"),
                          "predicted_keep": None if probability is None else float((probability[members] >= 0.5).mean()),
                          "typical": typical.tolist()})
    return summaries


def page_state(session: CurationSession) -> dict:
    """Live figures: label counts, cross-validated accuracy/AP, predicted subset size, recent labels."""
    current = session.store.current(session.target)
    counts = {name: sum(1 for v in current.values() if v == name) for name in LABELS}
    report = session.report()
    prediction = session.predict()
    return {
        "target": session.target, "dataset": str(session.dataset.root), "images": len(session.dataset),
        "resolution": session.dataset.resolution, "counts": counts,
        "cv": {"labels": report.labels, "accuracy": report.cv_accuracy, "ap": report.cv_ap, "folds": report.cv_folds},
        "predicted_subset": int(len(session.kept())) if prediction.probability is not None else None,
        "recent": [{"idx": i, "label": label} for i, label in session.store.recent(session.target, 40)],
    }


def serve(session: CurationSession, port: int = 8765, open_browser: bool = True) -> None:
    """Run the page until Ctrl-C."""
    import threading
    import webbrowser

    import uvicorn

    from nonesuch.progress import console
    from nonesuch.web.connections import uvicorn_limits

    url = f"http://127.0.0.1:{port}/"
    console.print(f"labeling {session.target!r} at {url}  (p pages, o one by one, c clusters, r review; "
                  f"keys are shown on the page; Ctrl-C stops)")
    session.next_queries(1)   # build the clusters before the first page load
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    # serve's connection bounds: a client that opens connections and sends nothing, or trickles
    # a body, holds no descriptor for long here either.
    uvicorn.run(create_app(session), host="127.0.0.1", port=port, log_level="warning", **uvicorn_limits())
