"""``python -m demo_app push SPACE_ID [DIR]``: an exported folder uploaded to a Hugging Face
Space (``serving/push.py``)."""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List


def add_parser(commands, model_flags: argparse.ArgumentParser) -> None:
    push = commands.add_parser(
        "push", help="upload an exported folder to a Hugging Face Space (the token: HF_TOKEN)")
    push.add_argument("space_id", metavar="SPACE_ID", help="the Space, as user/name (made if it does not exist)")
    push.add_argument("directory", metavar="DIR", nargs="?", default=".",
                      help="the exported folder (`export DIR` wrote it; default: this folder)")
    push.add_argument("--private", action="store_true", help="make a new Space private")
    push.add_argument("--secret", action="append", default=[], metavar="NAME",
                      help="set the Space's secret NAME to this environment's $NAME (e.g. DEMO_APP_HISTORY, "
                           "DEMO_APP_AUTH); the value is never on the command line")
    push.add_argument("--variable", action="append", default=[], metavar="NAME=VALUE",
                      help="set a plain variable of the Space (e.g. DEMO_APP_RATE_LIMIT=30/minute)")
    push.add_argument("--timeout", type=float, default=60.0, metavar="S",
                      help="seconds to wait for each answer of the hub (default 60)")


def run(options: argparse.Namespace) -> int:
    from ..serving.push import push_to_space

    address = push_to_space(options.directory, options.space_id, private=options.private,
                            secrets=options.secret, variables=_variables(options.variable),
                            timeout_s=options.timeout,
                            say=lambda message: print(message, file=sys.stderr, flush=True))
    print(address)
    return 0


def _variables(pairs: List[str]) -> Dict[str, str]:
    variables = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise ValueError(f"--variable {pair!r}: write NAME=VALUE (a secret: --secret NAME)")
        variables[name] = value
    return variables
