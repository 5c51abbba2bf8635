"""One line per request on standard error, for ``python -m demo_app.wsgi`` on a host.

waitress logs no requests, and a host's log viewer (a Space's "Logs", ``docker logs``) is where
an owner looks first when visitors say the demo is slow or failing. gunicorn writes its own
(``--access-logfile -``, in the exported start command); this is the same for waitress, in the
Common Log Format's spirit: the peer, the time, the method, the path, the status, the seconds
until the answer began. The query string is left out: it may carry a token.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class AccessLog:
    """WSGI middleware: ``app``, each request written to ``stream`` when its answer begins."""

    def __init__(self, app, stream: TextIO = sys.stderr) -> None:
        self.app, self.stream = app, stream

    def __call__(self, environ, start_response):
        started = time.monotonic()

        def logged_start_response(status, headers, *args):
            when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
            print(f'{environ.get("REMOTE_ADDR", "-")} - [{when}] "{environ.get("REQUEST_METHOD", "-")} '
                  f'{environ.get("SCRIPT_NAME", "")}{environ.get("PATH_INFO", "")} '
                  f'{environ.get("SERVER_PROTOCOL", "-")}" {status.split(" ", 1)[0]} '
                  f'{time.monotonic() - started:.3f}s', file=self.stream, flush=True)
            return start_response(status, headers, *args)

        return self.app(environ, logged_start_response)
