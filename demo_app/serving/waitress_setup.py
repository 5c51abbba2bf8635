"""waitress, set up for a public demo: many idle visitors, slow ones, big bodies, clean stops.

waitress reads every request on one event loop and hands only complete requests to its worker
threads, so a slow or idle connection costs a socket, never a thread. What this module adds:

- room for thousands of connections (poll() instead of select(), whose limit is 1024 sockets),
  closed when idle for ``IDLE_TIMEOUT_S``, still sending headers after ``HEADER_TIMEOUT_S``, or
  sending a body slower than ``MIN_BODY_BYTES_PER_S`` (after ``BODY_GRACE_S``);
- near the connection limit, the connections that have waited longest without a request being
  answered are closed to make room, so a flood through a tunnel (every visitor 127.0.0.1)
  cannot keep new visitors out;
- the app can tell that a client has gone while its request waits for the model
  (``waitress.client_disconnected``), so its work is dropped;
- bodies over the app's limit are read and thrown away (up to ``DISCARD_LIMIT_BYTES``) instead
  of stored, chunked ones too, so the app answers its own JSON 413 to a client still sending;
- one address other than loopback may hold at most ``CONNECTIONS_PER_ADDRESS`` connections;
- waitress's own error pages (400, 413, 431, ...) carry the app's security headers;
- a request with both Transfer-Encoding and Content-Length closes its connection (RFC 9112);
- ``stop_listening()`` and ``close()``, which the event loop's own thread carries out (no socket
  is closed under a running poll()), ending every connection and every worker thread.
"""

from __future__ import annotations

import io
import select
import tempfile
import threading
import time
from typing import Dict, Optional

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.receiver import ChunkedReceiver, FixedStreamReceiver
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask

from ..web.visitors import LOOPBACK_PEERS

try:
    import resource
except ImportError:  # Windows: its own limits apply
    resource = None  # type: ignore[assignment]

CONNECTION_LIMIT = 4000
CONNECTIONS_PER_ADDRESS = 200  # for peers other than loopback (a tunnel agent is everyone)
IDLE_TIMEOUT_S = 60
HEADER_TIMEOUT_S = 20
BODY_GRACE_S = 10  # then a body must have come at MIN_BODY_BYTES_PER_S on average
MIN_BODY_BYTES_PER_S = 1024
CROWDED = 0.9  # of the connection limit: make room from here ...
ROOMY = 0.8  # ... down to here
DISCARD_LIMIT_BYTES = 64 * 1024 * 1024  # over this waitress answers 413 and closes at once


class _LimitedBody:
    """Stands in for waitress's body buffer: keeps a body of at most ``limit`` bytes (in memory
    up to 1 MiB, then in a temporary file) and of a longer one only its length, which is all the
    app needs to refuse it (413)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.length = 0
        # Large kept bodies (file and image uploads) go to a temporary file, as waitress does.
        self.kept = tempfile.SpooledTemporaryFile(max_size=1 << 20)

    def __len__(self) -> int:
        return self.length

    def append(self, data: bytes) -> None:
        self.length += len(data)
        if self.length <= self.limit:
            self.kept.write(data)

    def getfile(self):
        if self.length > self.limit:
            self.kept.close()
            return io.BytesIO()
        self.kept.seek(0)
        return self.kept

    def close(self) -> None:
        self.kept.close()


class _Parser(HTTPRequestParser):
    def __init__(self, adj, discard_bodies_over: Optional[int],
                 larger_bodies: Optional[Dict[str, int]] = None) -> None:
        super().__init__(adj)
        self.started = time.monotonic()
        self.body_started: Optional[float] = None
        self.body_bytes = 0
        self.discard_bodies_over = discard_bodies_over
        self.larger_bodies = larger_bodies or {}

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.body_started is not None:
            self.body_bytes += consumed
        return consumed

    def too_slow(self, now: float) -> bool:
        """Headers still coming after HEADER_TIMEOUT_S, or a body slower than the minimum rate."""
        if self.completed:
            return False
        if not self.headers_finished:
            return now - self.started > HEADER_TIMEOUT_S
        late = now - (self.body_started or now) - BODY_GRACE_S
        return late > 0 and self.body_bytes < MIN_BODY_BYTES_PER_S * late

    def parse_header(self, header_plus: bytes) -> None:
        self.body_started = time.monotonic()
        super().parse_header(header_plus)
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            self.headers["CONNECTION"] = "close"  # waitress closes after answering
        over = self.larger_bodies.get(self.path, self.discard_bodies_over)
        if over is None:
            return
        if self.chunked:  # the length is known only at the end: keep up to the limit, count the rest
            self.body_rcv = ChunkedReceiver(_LimitedBody(over))
        elif over < self.content_length <= DISCARD_LIMIT_BYTES:
            # The app refuses this body by its Content-Length without reading it.
            self.body_rcv = FixedStreamReceiver(self.content_length, _LimitedBody(0))


class _ErrorTask(ErrorTask):
    def execute(self) -> None:
        self.response_headers.extend(self.channel.server.extra_headers.items())
        super().execute()  # writes the response, headers first


class _Channel(HTTPChannel):
    error_task_class = _ErrorTask

    def parser_class(self, adj):  # called by HTTPChannel as self.parser_class(self.adj)
        return _Parser(adj, self.server.discard_bodies_over, self.server.larger_bodies)


class DemoWSGIServer(TcpWSGIServer):
    """A waitress server with the settings above; ``extra_headers`` go on its own error pages."""

    channel_class = _Channel

    def __init__(self, app, *, host: str, port: int, threads: int,
                 discard_bodies_over: Optional[int] = None,
                 larger_bodies: Optional[Dict[str, int]] = None,
                 extra_headers: Optional[Dict[str, str]] = None) -> None:
        self.discard_bodies_over = discard_bodies_over
        self.larger_bodies = dict(larger_bodies or {})  # path -> its own body limit
        self.extra_headers = dict(extra_headers or {})
        self._listening = True
        self._closing = threading.Event()
        adj = Adjustments(
            host=host, port=port, threads=threads, ident="demo_app",
            connection_limit=_connection_limit(), channel_timeout=IDLE_TIMEOUT_S,
            cleanup_interval=2, asyncore_use_poll=hasattr(select, "poll"),
            max_request_body_size=DISCARD_LIMIT_BYTES + 1,  # waitress refuses from this size on
            channel_request_lookahead=1,  # keeps reading while a request runs: a client's leaving shows
            # X-Forwarded-For reaches the app, which trusts only the hops it is told to.
            clear_untrusted_proxy_headers=False,
        )
        super().__init__(app, map={}, adj=adj, sockinfo=adj.listen[0])

    def run(self) -> None:
        """The event loop, one poll() at a time, so that a stop is seen within a poll's timeout
        (1 s) even when the trigger that wakes it cannot be pulled."""
        while not self._closing.is_set():
            if not self._listening and self.socket is not None:
                wasyncore.dispatcher.close(self)  # the listener alone; connections stay
            wasyncore.loop(timeout=self.adj.asyncore_loop_timeout, map=self._map,
                           use_poll=self.adj.asyncore_use_poll, count=1)
        for dispatcher in list(self._map.values()):
            if dispatcher is not self.trigger:
                dispatcher.close()
        self.trigger.close()

    def stop_listening(self) -> None:
        """Refuse new connections; those already open stay."""
        self._listening = False
        self._wake()

    def close_everything(self, loop: threading.Thread, timeout: float = 5.0) -> None:
        """Close the listener and every connection (on the loop's thread, which then ends), then
        end the worker threads. Requests still running are cut off."""
        self._listening = False
        self._closing.set()
        self._wake()
        loop.join(timeout)
        self.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)

    def _wake(self) -> None:
        try:
            self.trigger.pull_trigger()
        except OSError:  # already closed: the loop sees the flags within a poll's timeout
            pass

    def handle_accept(self) -> None:
        before = set(self.active_channels)
        super().handle_accept()
        self._make_room()
        for fileno in set(self.active_channels) - before:  # the connection just accepted
            channel = self.active_channels[fileno]
            peer = channel.addr[0] if isinstance(channel.addr, tuple) else None
            if peer not in LOOPBACK_PEERS and sum(
                    1 for other in self.active_channels.values()
                    if isinstance(other.addr, tuple) and other.addr[0] == peer) > CONNECTIONS_PER_ADDRESS:
                channel.close()  # one address may not hold every connection slot

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections
        monotonic_now = time.monotonic()
        for channel in list(self.active_channels.values()):
            request = channel.request
            if request is not None and request.too_slow(monotonic_now):
                channel.will_close = True  # slowloris: headers or a body trickling in
        self._make_room()

    def _make_room(self) -> None:
        """Near the connection limit, close the connections that have gone longest without
        activity and have no request being answered (idle, or still sending one)."""
        limit = self.adj.connection_limit
        if len(self.active_channels) < CROWDED * limit:
            return
        waiting = sorted((c for c in self.active_channels.values() if not c.requests and not c.will_close),
                         key=lambda c: c.last_activity)
        for channel in waiting[:max(0, len(self.active_channels) - int(ROOMY * limit))]:
            channel.will_close = True


def _connection_limit() -> int:
    """CONNECTION_LIMIT, raising this process's open-file limit if it is lower (and may be)."""
    if resource is None:
        return CONNECTION_LIMIT
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTION_LIMIT + 200  # model files, logs and the tunnel need some too
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return CONNECTION_LIMIT
    return max(100, min(CONNECTION_LIMIT, soft - 200))
