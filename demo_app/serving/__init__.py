"""Serving the app: a waitress server in a background thread (``server``, ``waitress_setup``) and
a public URL (``tunnel``: ngrok, ssh, Colab's proxy). The WSGI entry point for process managers
is ``demo_app.wsgi``; Colab's helpers are ``demo_app.colab``."""

from .server import ServerHandle, serve
from .tunnel import Tunnel, TunnelError, open_tunnel

__all__ = ["ServerHandle", "Tunnel", "TunnelError", "open_tunnel", "serve"]
