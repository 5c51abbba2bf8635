"""Dumping a history to a file: every row as a table (``csv``, ``tsv``, ``jsonl``), or visitors'
corrections as training data in the book's corpus format of the history's task (the task names
it: ``nsmc``, ``klue-nli``, ``ner``, ``korquad``), ready for the next fine-tuning round."""

from __future__ import annotations

import collections
import csv
import dataclasses
import json
from typing import IO, Optional

from ..tasks import SkippedCorrection, training_formats
from .store import History

TABLE_DUMP_FORMATS = ("csv", "tsv", "jsonl")


@dataclasses.dataclass
class CorrectionsReport:
    """What a training-format dump wrote, what it skipped and why, and what the book's own
    reader is known to leave out of what was written: an export never says "4 written" when
    the next training run will read 2."""

    written: int = 0
    skipped: "collections.Counter[str]" = dataclasses.field(default_factory=collections.Counter)
    reader_drops: "collections.Counter[str]" = dataclasses.field(default_factory=collections.Counter)

    def sentences(self) -> str:
        text = f"{self.written} correction{'' if self.written == 1 else 's'} written"
        for reason, count in sorted(self.skipped.items()):
            text += f"; {count} skipped: {reason}"
        for reason, count in sorted(self.reader_drops.items()):
            text += f"; {count} of those written will not be read: {reason}"
        return text


def dump_formats() -> tuple:
    """Every ``format`` :func:`dump` takes: the table formats, then each task's training format."""
    return TABLE_DUMP_FORMATS + tuple(training_formats())


def dump(history: History, stream: IO[str], format: str = "csv", flagged_only: bool = False,
         report: Optional[CorrectionsReport] = None) -> int:
    """Write the history to ``stream``; returns the number of rows written.

    ``csv``, ``tsv``, ``jsonl``: one row per prediction, every column (inputs and outputs as
    JSON in csv/tsv; a csv/tsv cell that a spreadsheet would run as a formula starts with ').
    A task's training format (``nsmc``, ``klue-nli``, ``ner``, ``korquad``: see each task's
    ``write_training_data``): the flagged rows' corrections as training data; ``report`` (if
    given) counts what was skipped and why.
    """
    if format in training_formats():
        return _dump_training(history, stream, format, report if report is not None else CorrectionsReport())
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


def _dump_training(history: History, stream: IO[str], format: str, report: CorrectionsReport) -> int:
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
        try:
            example = task.data.training_row(inputs, row["correction"], labels)
        except SkippedCorrection as skipped:
            report.skipped[str(skipped)] += 1
            continue
        examples.append((row["id"], example))
        dropped = task.data.reader_drops(example)
        if dropped:
            report.reader_drops[dropped] += 1
    task.data.write_training_data(examples, stream)
    report.written = len(examples)
    return len(examples)


def _spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet will not run: text starting with = + - @ (a formula in Excel or
    Sheets) gets a leading apostrophe. Visitors' corrections and answers are free text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


