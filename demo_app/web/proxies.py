"""Trusting the proxies in front of the app: Werkzeug's ``ProxyFix``, with the count read per request.

A proxy appends what it saw to ``X-Forwarded-For`` (the visitor's address), ``-Proto``, ``-Host``
and ``-Prefix`` (the path it serves the app under: ``/demo/`` behind an nginx ``location``,
``/user/NAME/proxy/5000/`` behind jupyter-server-proxy). ``forwarded_hops`` says how many
proxies do so; their entries are trusted **from any peer** (a Space's or a container host's proxy
is not on loopback), everything to the left of them is the visitor's own and ignored. That is
ProxyFix's rule, so ProxyFix applies it: a maintained implementation of a subtle header format.

The count is read at each request because ``serve(tunnel=...)`` raises it after the app is
made (a tunnel's edge appends one entry). With no proxy trusted (0, the default), a request from
loopback may still say its prefix: on this machine, only a local agent (a tunnel, Jupyter's
proxy) forwards requests, and the prefix only shapes the links of that request's own page.
"""

from __future__ import annotations

from typing import Dict

from werkzeug.middleware.proxy_fix import ProxyFix

from .options import WebOptions
from .visitors import LOOPBACK_PEERS


class TrustedProxies:
    """WSGI middleware: ``app`` sees the visitor's address, scheme, host and path prefix as the
    trusted proxies (``settings.forwarded_hops``) report them."""

    def __init__(self, app, settings: WebOptions) -> None:
        self.app, self.settings = app, settings
        self._fixes: Dict[int, ProxyFix] = {}
        self._prefix_only = ProxyFix(app, x_for=0, x_proto=0, x_host=0, x_prefix=1)

    def __call__(self, environ, start_response):
        hops = self.settings.forwarded_hops
        if hops:
            return self._fix_for(hops)(environ, start_response)
        if environ.get("REMOTE_ADDR") in LOOPBACK_PEERS:
            return self._prefix_only(environ, start_response)
        return self.app(environ, start_response)

    def _fix_for(self, hops: int) -> ProxyFix:
        if hops not in self._fixes:
            self._fixes[hops] = ProxyFix(self.app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)
        return self._fixes[hops]
