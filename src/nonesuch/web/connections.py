"""What a server owes its file descriptors and its log, whatever clients do.

uvicorn times a connection out only after it has answered a request on it (keep-alive), so a
client that opens connections and sends nothing, or sends its headers a byte a minute, holds one
descriptor each for ever: a few thousand exhaust the process's limit and /healthz stalls. Here a
connection must deliver a complete request head within REQUEST_HEAD_S of opening, or is closed;
after that uvicorn's own keep-alive timeout applies. That timeout restarts on every byte received,
and uvicorn discards the rest of a body whose request it has already answered (no route here reads
a body): a client trickling a byte of a 1 GB Content-Length every few seconds held its connection
for ever. Such bytes no longer restart it, so an answered connection closes KEEP_ALIVE_S later
unless a new request begins; a client holds descriptors only while it sends requests. uvicorn's limit_concurrency is NOT used: it counts open connections,
so idle ones would turn /healthz into 503 (measured: 2000 idle sockets); requests in progress
are bounded by middleware.ConcurrencyLimit, which exempts /healthz. Log lines are rate-limited:
a flood of bad requests costs one summary line a second, not a million lines in 30 s.
"""

from __future__ import annotations

import logging
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_HEAD_S = 10.0      # from connect to a complete request line and headers
KEEP_ALIVE_S = 5           # idle between requests on one connection (uvicorn's timeout_keep_alive)
LOG_LINES_PER_S = 20       # per logger; the rest are counted and summarised once a second


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus: close a connection that has not sent a whole request head
    REQUEST_HEAD_S after opening."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_deadline = self.loop.call_later(REQUEST_HEAD_S, self._close_if_no_request)

    def connection_lost(self, exc) -> None:
        self._head_deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY:
            # The rest of an answered request's body: uvicorn drops it, and it must not restart
            # the keep-alive timer set when the answer went out (see the module docstring).
            self.conn.receive_data(data)
            self.handle_events()
            return
        super().data_received(data)

    def _close_if_no_request(self) -> None:
        if self.cycle is None and not self.transport.is_closing():  # no request head yet
            self.transport.close()


def uvicorn_limits() -> dict:
    """The uvicorn.Config arguments that bound connections' lifetimes; one place for serve and start_server."""
    return dict(http=DeadlineH11Protocol, timeout_keep_alive=KEEP_ALIVE_S, h11_max_incomplete_event_size=16 * 1024)


class RateLimit(logging.Filter):
    """At most `per_second` records a second pass; the rest are dropped and counted, and the next
    record that passes after the second is over is preceded by one line saying how many."""

    def __init__(self, per_second: int = LOG_LINES_PER_S, clock=time.monotonic):
        super().__init__()
        self.per_second, self.clock = per_second, clock
        self.window_start, self.passed, self.dropped = clock(), 0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        if now - self.window_start >= 1.0:
            if self.dropped:
                record.msg = f"({self.dropped} log lines dropped in the last second: too many) {record.msg}"
            self.window_start, self.passed, self.dropped = now, 0, 0
        if self.passed >= self.per_second:
            self.dropped += 1
            return False
        self.passed += 1
        return True


def printable(text: str) -> str:
    """`text` with every control or otherwise unprintable character written as an escape, so a
    request path holding %0a (decoded: a newline) cannot start a forged log line."""
    return "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii")
                   for c in text)
