"""What keeps other web pages away from the labeling page: a pure-ASGI layer in front of the app.

The page listens on 127.0.0.1, but the browser that shows it also shows other sites, and those
can make the browser send requests to 127.0.0.1 too. Three holes, three checks:

- Cross-site requests. A foreign page can POST a form or a `fetch(..., {mode: "no-cors"})` to
  `/api/undo` and wipe a person's labels without ever reading the answer. Every request that
  changes something must carry the session token that only the served page knows (in a header,
  which a cross-site form cannot set and a cross-site fetch can only set after a CORS preflight
  this server never approves), and must not say it comes from another origin (`Origin`,
  `Sec-Fetch-Site`).
- DNS rebinding. A foreign name that resolves to 127.0.0.1 makes the browser treat this server
  as that site's own origin, so it may read answers. Only requests whose `Host` is a loopback
  name (or the host the server was bound to) are answered.
- Unbounded bodies. A label is a few dozen bytes; a page of them a few kilobytes. A body over
  `max_body` is refused from its Content-Length, or cut off where it passes the limit while
  streaming, before the app reads it into memory.
"""

from __future__ import annotations

import hmac
import secrets

TOKEN_HEADER = "x-curate-token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD"})


def new_token() -> str:
    """A fresh secret for one run of the page: 128 random bits."""
    return secrets.token_urlsafe(16)


def host_name(host_header: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '[::1]', 'LocalHost' -> 'localhost'."""
    host = host_header.strip().lower()
    if host.startswith("["):                           # IPv6 literal: the port follows the ']'
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


class LocalPageGuard:
    """Answers only loopback Host names; state changes only with the token and from this origin."""

    def __init__(self, app, token: str, bound_host: str = "127.0.0.1", max_body: int = 64 * 1024):
        self.app = app
        self.token = token.encode()
        self.hosts = LOOPBACK_HOSTS | {bound_host.lower()}
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if host_name(headers.get("host", "")) not in self.hosts:
            return await _refuse(send, 421, "this page answers only to localhost names")
        if scope["method"] not in SAFE_METHODS:
            problem = self._cross_site_problem(headers)
            if problem:
                return await _refuse(send, 403, problem)
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                return await _refuse(send, 413, f"request body over {self.max_body} bytes")
            body = await self._read_body(receive)
            if body is None:
                return await _refuse(send, 413, f"request body over {self.max_body} bytes")
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _cross_site_problem(self, headers: dict[str, str]) -> str | None:
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "cross-site request refused"
        origin = headers.get("origin")              # absent on some same-origin requests: the token decides
        if origin is not None and origin.lower() != "http://" + headers.get("host", "").lower():
            return "request from another origin refused"
        if not hmac.compare_digest(headers.get(TOKEN_HEADER, "").encode(), self.token):
            return "missing or wrong page token: reload the page"
        return None

    async def _read_body(self, receive) -> bytes | None:
        """The whole request body, or None as soon as it passes max_body (chunked uploads too).
        Bodies here are a few kilobytes, so reading them before the app does costs nothing."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":     # the client went away: let the app see no body
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return None
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive):
    """receive() that hands the app the body already read, then whatever the client sends next."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send, status: int, reason: str) -> None:
    body = (reason + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
