"""Helpers for the web tests: a stand-in producer of real images, and the browser.

EmojiProducer is a test double for nonesuch.generate.pipeline.Producer, for tests of the server's
mechanics (pool, 429, health): it "generates" by putting a real emoji on a background colour
that depends on the seed, so every image is distinct, decodable, and quick to make. The live
tests with the real generator use a real run instead.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path

from PIL import Image

from nonesuch.generate.pipeline import ProducedImage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


class EmojiProducer:
    def __init__(self, emoji_folder: Path, delay_s: float = 0.0, gate: threading.Event | None = None,
                 fail: bool = False):
        self.pngs = sorted(emoji_folder.glob("*/*.png"))
        self.delay_s = delay_s      # seconds per batch, like a forward pass
        self.gate = gate            # when given, produce() waits until it is set
        self.fail = fail
        self.batches: list[list[int]] = []

    def produce(self, seeds: list[int]) -> list[ProducedImage]:
        if self.gate is not None:
            self.gate.wait()
        if self.fail:
            raise RuntimeError("the generator is broken (test)")
        time.sleep(self.delay_s)
        self.batches.append(list(seeds))
        return [self._image(seed) for seed in seeds]

    def _image(self, seed: int) -> ProducedImage:
        png = self.pngs[seed % len(self.pngs)]
        emoji = Image.open(png).convert("RGBA").resize((128, 128), Image.LANCZOS)
        colour = tuple(int(b) for b in hashlib.sha256(str(seed).encode()).digest()[:3])
        canvas = Image.new("RGBA", emoji.size, colour + (255,))
        buffer = io.BytesIO()
        Image.alpha_composite(canvas, emoji).convert("RGB").save(buffer, "PNG")
        data = buffer.getvalue()
        record = {"seed": seed, "class_name": png.parent.name, "watermark_id": seed * 7919,
                  "sha256": hashlib.sha256(data).hexdigest(), "run": "emoji-test", "checkpoint": "000000064",
                  "trained_on": "48 images of emoji", "licence": "CC BY-SA 4.0",
                  "attribution": "OpenMoji", "created": "2026-12-03T08:00:00+00:00"}
        return ProducedImage(data, "image/png", "png", record)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


class PageWatch:
    """Records what a page does: console errors, page errors, every request URL."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def shown_image(self) -> dict:
        """Wait until #picture shows a decoded image; its src, natural size, alt and box."""
        self.page.wait_for_function(
            "() => { const p = document.getElementById('picture');"
            " return p.complete && p.naturalWidth > 0 && p.src && !p.classList.contains('loading'); }")
        return self.page.eval_on_selector("#picture", """p => ({src: p.src, naturalWidth: p.naturalWidth,
            alt: p.alt, width: p.getBoundingClientRect().width, visible: p.checkVisibility()})""")

    def next_image(self, action) -> dict:
        """Do `action` (click, key press) and wait until a different image is shown."""
        before = self.shown_image()["src"]
        action()
        self.page.wait_for_function(
            "before => { const p = document.getElementById('picture');"
            " return p.src !== before && p.complete && p.naturalWidth > 0; }", arg=before)
        return self.shown_image()
