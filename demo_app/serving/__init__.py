"""Serving the app: a waitress server in a background thread (``server``, ``waitress_setup``) and
a public URL (``tunnel``: ngrok, ssh, Colab's proxy). The WSGI entry point for process managers
is ``demo_app.wsgi``; Colab's helpers are ``demo_app.colab``. ``export``: the model and the app
as a folder a container host or a Hugging Face Space runs; ``push``: that folder uploaded to a Space."""

from .export import export_app
from .push import HubError, push_to_space
from .server import ServerHandle, serve, stop_on_sigterm
from .tunnel import Tunnel, TunnelError, open_tunnel

__all__ = ["HubError", "ServerHandle", "Tunnel", "TunnelError", "export_app", "open_tunnel", "push_to_space", "serve",
           "stop_on_sigterm"]
