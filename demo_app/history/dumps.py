"""Dumping a history to a file: every row as a table (``csv``, ``tsv``, ``jsonl``), or visitors'
corrections as training data in the book's corpus format of the history's task (the task names
it: ``nsmc``, ``klue-nli``, ``ner``, ``korquad``), ready for the next fine-tuning round."""

from __future__ import annotations

import csv
import json
from typing import IO

from ..tasks import training_formats
from .store import History

TABLE_DUMP_FORMATS = ("csv", "tsv", "jsonl")


def dump_formats() -> tuple:
    """Every ``format`` :func:`dump` takes: the table formats, then each task's training format."""
    return TABLE_DUMP_FORMATS + tuple(training_formats())


def dump(history: History, stream: IO[str], format: str = "csv", flagged_only: bool = False) -> int:
    """Write the history to ``stream``; returns the number of rows written.

    ``csv``, ``tsv``, ``jsonl``: one row per prediction, every column (inputs and outputs as
    JSON in csv/tsv; a csv/tsv cell that a spreadsheet would run as a formula starts with ').
    A task's training format (``nsmc``, ``klue-nli``, ``ner``, ``korquad``: see each task's
    ``write_training_data``): the flagged rows' corrections as training data.
    """
    if format in training_formats():
        return _dump_training(history, stream, format)
    if format not in TABLE_DUMP_FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(dump_formats())}")
    written = 0
    writer = None
    for row in history.rows(flagged_only=flagged_only):
        if format == "jsonl":
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            if writer is None:
                writer = csv.writer(stream, delimiter="\t" if format == "tsv" else ",", lineterminator="\n")
                writer.writerow(list(row))
            writer.writerow([_spreadsheet_safe(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                                               else ("" if v is None else v)) for v in row.values()])
        written += 1
    return written


def _dump_training(history: History, stream: IO[str], format: str) -> int:
    """The flagged rows' corrections, as the task whose format ``format`` is writes them."""
    task = training_formats()[format]
    present = history.tasks()
    if present and task.name not in present:
        fitting = [name for name, other in training_formats().items() if other.name in present]
        raise ValueError(f"this history holds {', '.join(present)} predictions, and {format} is the "
                         f"{task.name} task's format: use {' or '.join(fitting) or 'csv, tsv or jsonl'}")
    examples = []
    for row in history.rows(flagged_only=True):
        if row["task"] != task.name or not row["correction"]:
            continue
        labels = [bar["label"] for bar in row["outputs"].get("probabilities", [])]
        inputs = tuple(row["inputs"][field] for field in task.inputs.fields)
        example = task.data.training_row(inputs, row["correction"], labels)
        if example is not None:
            examples.append((row["id"], example))
    task.data.write_training_data(examples, stream)
    return len(examples)


def _spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet will not run: text starting with = + - @ (a formula in Excel or
    Sheets) gets a leading apostrophe. Visitors' corrections and answers are free text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


