"""Command line: ``python -m demo_app predict | serve | history | export | push``.

Each command is a module here with ``add_parser(commands, model_flags)`` and ``run(options)``;
the task choices come from the task registry. Errors are one line that says what to fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import export, history, predict, push, serve
from .model_flags import model_flags_parser

COMMANDS = {"predict": predict, "serve": serve, "history": history, "export": export, "push": push}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo_app",
        description="Serve or query a fine-tuned Korean BERT model (document or sentence-pair "
        "classification, NER, QA) or an image classifier. Without model flags the task's bundled "
        "demo model is used.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    model_flags = model_flags_parser()
    for command in COMMANDS.values():
        command.add_parser(commands, model_flags)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    options = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        return COMMANDS[options.command].run(options)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head` stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # noqa: BLE001 - one line that says what to fix, no traceback
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:
        pass


def one_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    if isinstance(error, OSError) and error.strerror and error.filename is None and error.errno:
        text = error.strerror
    return " ".join(text.split())
