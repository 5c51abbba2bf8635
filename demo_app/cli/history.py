"""``python -m demo_app history PATH``: write a demo's history to a file (``serve --history``)."""

from __future__ import annotations

import argparse
import os
import sys

from ..history.dumps import TABLE_DUMP_FORMATS, dump_formats
from ..tasks import training_formats


def add_parser(commands, model_flags: argparse.ArgumentParser) -> None:
    history = commands.add_parser("history", help="write a demo's history to a file: a table, or corrections "
                                                  "as training data (serve --history)")
    history.add_argument("path", metavar="PATH", help="the history file, or its PostgreSQL URL; DATABASE_URL (the "
                                                      "word): the URL in that variable, out of ps")
    history.add_argument("--flagged", action="store_true", help="only results visitors marked wrong")
    history.add_argument("--format", default="csv", choices=dump_formats(),
                         help="csv/tsv/jsonl: every column; "
                              + ", ".join(f"{name} ({task.name})" for name, task in training_formats().items())
                              + ": flagged corrections as training data in the book's corpus format")
    history.add_argument("--output", metavar="FILE", help="write here instead of standard output")


def run(options: argparse.Namespace) -> int:
    from ..history import History, dump, history_location, is_database_url
    from ..history.dumps import CorrectionsReport

    location = history_location(options.path) or options.path
    if not is_database_url(location) and not os.path.isfile(location):
        raise FileNotFoundError(f"no such history file: {location}")
    history = History(location)
    report = CorrectionsReport()
    output = open(options.output, "w", encoding="utf-8", newline="") if options.output else sys.stdout
    try:
        written = dump(history, output, options.format, flagged_only=options.flagged, report=report)
    finally:
        if output is not sys.stdout:
            output.close()
    where = f" to {options.output}" if options.output else ""
    if options.format in TABLE_DUMP_FORMATS:
        print(f"{written} row{'' if written == 1 else 's'} written{where}", file=sys.stderr)
    else:
        print(report.sentences().replace(" written", " written" + where, 1), file=sys.stderr)
    return 0
