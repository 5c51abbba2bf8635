"""Serving the app with waitress in a background thread, so a notebook cell returns at once."""

from __future__ import annotations

import atexit
import errno
import logging
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Dict, Optional, Tuple

if TYPE_CHECKING:  # imported when a tunnel opens: pyngrok is not needed otherwise
    from .tunnel import Tunnel

logger = logging.getLogger(__name__)

# The servers this process started, by (host, port): re-running a notebook cell replaces them.
_running: Dict[Tuple[str, int], "ServerHandle"] = {}
_running_lock = threading.Lock()


class ServerHandle:
    """A running demo server. ``url`` is its local address, ``public_url`` the tunnel's (or None).

    Use ``stop()`` (or a ``with`` block) to end it: new connections are refused, requests in
    flight finish, then the tunnel and the server close. A stopped handle stays stopped.
    """

    def __init__(self, app, host: str, port: int, threads: int) -> None:
        from ..web import security_headers
        from .waitress_setup import DemoWSGIServer

        self.app = app
        # Bodies over the app's limit are read and discarded, so the app can answer its JSON 413.
        flask_config = getattr(app, "config", {})
        self._server = DemoWSGIServer(
            app, host=host, port=port, threads=threads,
            discard_bodies_over=flask_config.get("MAX_CONTENT_LENGTH"),
            larger_bodies=flask_config.get("DEMO_APP_BODY_LIMITS"),
            extra_headers=security_headers(),
        )
        self.host = host
        self.port = int(self._server.effective_port)
        self.tunnel: Optional[Tunnel] = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._server.run, name=f"demo_app-server-{self.port}",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{self.port}"

    @property
    def public_url(self) -> Optional[str]:
        return self.tunnel.public_url if self.tunnel is not None else None

    @property
    def running(self) -> bool:
        return not self._stopped.is_set() and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop: refuse new connections, let requests in flight finish (up to ``timeout`` s),
        close the tunnel, then close every connection and end every thread of this server.
        Returns as soon as that is done. Safe to call more than once."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._server.stop_listening()
        deadline = time.monotonic() + timeout
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.tunnel is not None:
            self.tunnel.close()
        self._server.close_everything(self._thread)
        state = getattr(self.app, "extensions", {}).get("demo_app")
        if state is not None:
            state.close()  # its file jobs stop, and their files are deleted
        with _running_lock:
            if _running.get((self.host, self.port)) is self:
                del _running[(self.host, self.port)]

    def wait(self) -> None:
        """Block until the server stops or Ctrl-C, then stop it (for the command line)."""
        try:
            while self.running:
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def _busy(self) -> bool:
        channels = list(self._server.active_channels.values())
        return any(c.requests or c.total_outbufs_len for c in channels)

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        public = f", public_url={self.public_url!r}" if self.public_url else ""
        return f"<ServerHandle {state} url={self.url!r}{public}>"


def serve(
    app,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    tunnel: Optional[str] = None,
    threads: int = 48,
    quiet: bool = False,
    free_port_if_taken: bool = False,
    **tunnel_options,
) -> ServerHandle:
    """Start ``app`` with waitress in a background thread and return at once.

    ``port=0`` picks a free port. A server this process started earlier on the same port is
    stopped first, so re-running a notebook cell just works; a port held by another program is
    an error saying what to do, or with ``free_port_if_taken`` a free port, named in the output.
    ``tunnel`` (``"ngrok"``, ``"ssh"`` or ``"colab"``) also makes the app public (see
    :func:`demo_app.open_tunnel`); if that fails the local server keeps running, a one-line
    reason is printed and, inside Colab, the app is shown in the notebook instead. A public app
    made without ``rate_limit`` gets 60 requests a minute per visitor. Prints the URLs unless
    ``quiet``.
    """
    say = (lambda message: None) if quiet else (lambda message: print(message, flush=True))
    _stop_earlier_server(host, port)
    try:
        handle = ServerHandle(app, host, port, threads)
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        if not free_port_if_taken:
            raise OSError(error.errno, f"port {port} on {host} is in use by another program; stop it "
                                       f"or choose another port, e.g. serve(app, port={port + 1}) "
                                       "or port=0 for any free port") from None
        handle = ServerHandle(app, host, 0, threads)
        say(f"Port {port} is in use by another program: using port {handle.port} instead.")
    with _running_lock:
        _running[(host, handle.port)] = handle
    everywhere = " (listening on every network interface)" if host in ("0.0.0.0", "", "::") else ""
    say(f"demo_app is serving at {handle.url}{everywhere}")
    if tunnel:
        _open_public_url(handle, tunnel, say, **tunnel_options)
    return handle


def _open_public_url(handle: ServerHandle, provider: str, say, **tunnel_options) -> None:
    """Open ``handle``'s tunnel; on failure say why and keep the local server (in Colab, show
    the app in the notebook instead). A public app gets the public rate limit."""
    from ..colab import in_colab
    from ..web import limit_public_traffic
    from .tunnel import TunnelError, open_tunnel

    try:
        handle.tunnel = open_tunnel(handle.port, provider=provider, **tunnel_options)
    except TunnelError as error:
        print(f"No public URL: {error}", file=sys.stderr, flush=True)
        if in_colab() and provider != "colab":
            # 127.0.0.1 is the Colab machine, not the student's browser: show it here instead.
            say("Showing the app below instead, visible only to you in this notebook.")
            handle.tunnel = open_tunnel(handle.port, provider="colab")
        else:
            say(f"The local server keeps running at {handle.url}")
        return
    if handle.public_url:
        say(f"Public URL: {handle.public_url}")
        limit = limit_public_traffic(handle.app, handle.tunnel.forwarded_hops if handle.tunnel else 0)
        if limit:
            say(f"Visitors are limited to {limit} each (set rate_limit in create_app to change).")


def stop_on_sigterm() -> None:
    """Stop a server waiting in the main thread on SIGTERM (``kill``, ``docker stop``, a process
    manager) as Ctrl-C does: ``ServerHandle.wait`` sees a KeyboardInterrupt."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_earlier_server(host: str, port: int) -> None:
    if port == 0:
        return
    with _running_lock:
        earlier = [h for (h_host, h_port), h in _running.items() if h_port == port]
    for handle in earlier:
        logger.info("stopping the earlier demo server on port %s", port)
        print(f"Stopping the earlier demo_app server on port {port} (started by this process).",
              flush=True)
        handle.stop()


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        handles = list(_running.values())
    for handle in handles:
        handle.stop(timeout=2)
