"""``python -m demo_app serve``: the web demo, local or public, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional

from .model_flags import deploy_arguments


def add_parser(commands, model_flags: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[model_flags], help="serve the web demo")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 for any free port)")
    serve.add_argument("--tunnel", default="none", choices=["none", "ngrok", "ssh"],
                       help="make the demo public (ngrok needs NGROK_AUTHTOKEN)")
    serve.add_argument("--ssh-host", default=None, help="ssh tunnel host (default localhost.run)")
    serve.add_argument("--auth", metavar="USER", default=os.environ.get("DEMO_APP_AUTH"),
                       help="require HTTP basic auth from visitors: asks for USER's password in a "
                            "terminal (Enter, or no terminal: a strong one is generated and shown "
                            "once), or set DEMO_APP_AUTH=user:password (a password on the command "
                            "line shows in ps)")
    serve.add_argument("--rate-limit", metavar="N/minute", default=None,
                       help="per-client limit, e.g. 30/minute (default: $DEMO_APP_RATE_LIMIT; else "
                            "60/minute once a tunnel is open, none without)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="allow this origin to call the API (repeatable); default: "
                            "$DEMO_APP_CORS_ORIGINS, none")
    serve.add_argument("--forwarded-hops", type=int, default=None, metavar="N",
                       help="proxies in front of the app whose X-Forwarded-* headers are trusted (1 "
                            "behind one nginx or a host's proxy); default: $DEMO_APP_FORWARDED_HOPS, "
                            "else 0 (a tunnel: 1)")
    serve.add_argument("--history", metavar="PATH", default=None,
                       help="keep every prediction and visitors' corrections in this SQLite file, "
                            "or a PostgreSQL database several servers share (postgres:// or "
                            "postgresql:// URL; DATABASE_URL: the URL in that variable, out of ps); "
                            "default: $DEMO_APP_HISTORY, off (the page tells visitors)")


def run(options: argparse.Namespace) -> int:
    from ..serving import stop_on_sigterm

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop_on_sigterm()
    try:
        handle, predictor = _start(options)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the model loads or the tunnel opens: a stop too
        print("Stopped.", flush=True)  # a server already listening is stopped at exit (serving.server)
        return 0
    print("Press Ctrl-C to stop.", flush=True)
    handle.wait()
    predictor.close()  # after the step the model is running: no work left when Python exits
    print("Stopped.", flush=True)
    return 0


def _start(options: argparse.Namespace):
    """The model loaded and served as ``options`` say: the server's handle, and the predictor."""
    from ..loading import load_predictor
    from ..serving import serve
    from ..settings import web_options
    from ..web import create_app

    tunnel = None if options.tunnel == "none" else options.tunnel
    logging.getLogger("pyngrok").setLevel(logging.WARNING)
    host_settings = web_options(rate_limit=options.rate_limit, cors_origins=options.cors_origin,
                                forwarded_hops=options.forwarded_hops, history=options.history)  # before the model
    auth = _visitor_auth(options.auth)
    predictor = load_predictor(deploy_arguments(options))
    app = create_app(predictor, auth=auth, **host_settings)
    history = app.extensions["demo_app"].history
    if history is not None:
        print(f"History on: every prediction is kept in {history.location} (the page says so).", flush=True)
        if not history.availability.up:
            print(f"warning: the history cannot be reached now ({history.availability.last_error}); the demo "
                  "serves without it and keeps trying in the background", file=sys.stderr, flush=True)
    tunnel_options = {"ssh_host": options.ssh_host} if tunnel == "ssh" and options.ssh_host else {}
    return serve(app, host=options.host, port=options.port, tunnel=tunnel, **tunnel_options), predictor


def _visitor_auth(auth: Optional[str]) -> Optional[str]:
    """``user:password`` from ``--auth``: a bare user name asks for the password in a terminal;
    a bare user name left as it is makes create_app generate a strong one."""
    if not auth or ":" in auth:
        if auth and "DEMO_APP_AUTH" not in os.environ:
            print("warning: a password given on the command line is visible to other users "
                  "(ps); use --auth USER (asks) or DEMO_APP_AUTH", file=sys.stderr)
        return auth
    if not sys.stdin.isatty():
        return auth
    import getpass

    password = getpass.getpass(f"Password for visitor {auth!r} (Enter: generate a strong one): ")
    return f"{auth}:{password}" if password else auth

