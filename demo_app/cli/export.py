"""``python -m demo_app export DIR``: the model as a deployable app folder (``serving/export.py``)."""

from __future__ import annotations

import argparse
import sys

from .model_flags import deploy_arguments


def add_parser(commands, model_flags: argparse.ArgumentParser) -> None:
    export = commands.add_parser(
        "export", parents=[model_flags],
        help="write the model and the app as a folder a container host or a Hugging Face Space runs")
    export.add_argument("directory", metavar="DIR", help="the folder to write (new or empty)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace what DIR holds (an earlier export is replaced without it)")


def run(options: argparse.Namespace) -> int:
    from ..serving.export import export_app

    export_app(deploy_arguments(options), options.directory, overwrite=options.overwrite,
               say=lambda message: print(message, file=sys.stderr, flush=True))
    return 0
