"""Data files: the formats demo_app reads and writes, and the words the readers and writers share.

Formats: CSV, TSV (NSMC's layout), JSONL and JSON arrays, and each task's book corpus (NER's
``text␞labelled_text`` lines, KorQuAD's JSON). Reading them is ``reading.py`` (rows, columns,
checks) over ``text_source.py`` (bytes, encodings, lines and offsets); writing is ``writing.py``.
A data row becomes a :class:`Row`: its line number, its values as read, the task's input, and for
a row that cannot be used, the problem.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..tasks import training_formats

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "json"}
TABLE_FILE_FORMATS = ("csv", "tsv", "jsonl", "json")  # the book's corpus formats come from the tasks
MAX_LINE_BYTES = 1 << 20  # a longer line is a bad row, skipped without being kept in memory
ERROR_COLUMN = "error"


class DataFileError(ValueError):
    """The file as a whole cannot be read (its format, its columns); the message says what to fix."""


@dataclasses.dataclass
class Row:
    """One data row. ``line`` is where it starts in the file (its item number in a JSON array);
    ``values`` are its columns as read; ``item`` the task's input (None for a bad row);
    ``gold`` the label its gold column names; ``problem`` why it cannot be used, if it cannot."""

    line: int
    values: Dict[str, Any]
    item: object = None
    gold: Optional[str] = None
    problem: Optional[str] = None


def input_formats() -> Tuple[str, ...]:
    """The formats a data file can be read in: tables, and the book's training corpora."""
    return TABLE_FILE_FORMATS + tuple(training_formats())


def output_format_for(input_format: str) -> str:
    """The format results are written in for an input in ``input_format``: CSV and TSV as they
    came, anything else (JSON, a corpus file) as JSONL."""
    return input_format if input_format in ("csv", "tsv") else "jsonl"


def file_format(name: str, requested: Optional[str] = None) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``json`` (or a task's corpus format, when ``requested``),
    from ``requested`` or the file name's extension."""
    if requested:
        known = input_formats()
        if requested not in known:
            raise DataFileError(f"unknown file format {requested!r}; choose {', '.join(known)}")
        return requested
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise DataFileError(f"cannot tell the format of {Path(name).name!r} from its extension; "
                            "use .csv, .tsv (or NSMC's .txt), .jsonl or .json")
    return FORMATS[suffix]


__all__ = ["DataFileError", "ERROR_COLUMN", "FORMATS", "MAX_LINE_BYTES", "Row", "TABLE_FILE_FORMATS", "file_format",
           "input_formats", "output_format_for"]
