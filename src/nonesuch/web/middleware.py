"""Two pure-ASGI layers around the app: bounded concurrency, and one log line per request.

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a stream per request
(a large share of a static request's time). Everything here runs on the single event-loop thread,
so a plain integer counts the requests in flight without a lock.
"""

from __future__ import annotations

import logging
import time

from nonesuch.web.connections import printable

access_log = logging.getLogger("nonesuch.web.access")
error_log = logging.getLogger("nonesuch.web")


class ConcurrencyLimit:
    """At most `limit` requests in progress; the next one gets 429 at once, never a queue that
    grows until memory runs out. Paths in `exempt` (the health check) are always answered."""

    def __init__(self, app, limit: int, exempt: tuple[str, ...] = ("/healthz",)):
        if limit < 1:
            raise ValueError(f"max concurrency must be >= 1, got {limit}")
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.in_flight = 0
        self.rejected = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.exempt:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            self.rejected += 1
            return await _send_plain(send, 429, b"Too many requests; try again in a second.\n",
                                     [(b"retry-after", b"1")])
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class AccessLog:
    """`client "METHOD /path" status bytes ms` for every request; the traceback of any error."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        response = {"status": 0, "bytes": 0}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            error_log.exception("error answering %s %s", printable(scope["method"]), printable(scope["path"]))
            if response["status"] == 0:       # nothing sent yet: the client still gets an answer
                response["status"] = 500
                await _send_plain(send, 500, b"Internal server error.\n")
        finally:
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("-", 0)
                # Escaped: the path is the client's to choose, newlines and terminal escapes included.
                access_log.info('%s "%s %s" %d %d %.1fms', client[0], printable(scope["method"]),
                                printable(scope["path"]),
                                response["status"], response["bytes"],
                                1000 * (time.perf_counter() - started))


async def _send_plain(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
