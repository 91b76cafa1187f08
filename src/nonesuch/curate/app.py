"""The labeling page: a small FastAPI app on 127.0.0.1 over one CurationSession.

The browser keeps a short queue of images to label and posts each key press; the server stores
the label, refits the classifier and answers with the next images the strategy wants. Images are
the dataset's own pixels, PNG-encoded on request, so nothing is copied out of the dataset.
Everything the page needs is served from `static/`; it makes no outside request.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pydantic import BaseModel   # imported only by the `curate label` verb, never by `nonesuch --help`

from nonesuch.curate.labels import LABELS
from nonesuch.curate.session import CurationSession

STATIC = Path(__file__).parent / "static"


class LabelRequest(BaseModel):
    """One key press: image index and keep / discard / skip."""

    idx: int
    label: str


def create_app(session: CurationSession):
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse, Response
    from fastapi.staticfiles import StaticFiles

    app = FastAPI(title=f"nonesuch curate: {session.target}", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    pixels = session.dataset.images()          # [N, R, R, 3] uint8, memory-mapped
    count = len(session.dataset)

    def check(idx: int) -> int:
        if not 0 <= idx < count:
            raise HTTPException(404, f"no image {idx} (dataset has {count})")
        return idx

    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html")

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

    @app.post("/api/undo")
    def undo():
        return {"idx": session.undo()}

    @app.get("/api/state")
    def state():
        return page_state(session)

    return app


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

    url = f"http://127.0.0.1:{port}/"
    console.print(f"labeling {session.target!r} at {url}  (→ keep, ← discard, ↓ skip, u undo, g grid; Ctrl-C stops)")
    session.next_queries(1)   # build the clusters before the first page load
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(create_app(session), host="127.0.0.1", port=port, log_level="warning")
