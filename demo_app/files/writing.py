"""Writing a data file's results: the input row's columns, then the task's result columns, then
``error`` (empty, or why the row has no prediction), so rows in = rows out. CSV and TSV are
written as they came; anything else as JSONL."""

from __future__ import annotations

import csv
import json
from typing import IO, Any, Dict, Optional, Sequence

from ..tasks.fields import is_valid_unicode
from .formats import ERROR_COLUMN, Row, output_format_for


def safe_text(value: object) -> object:
    """``value`` with any lone surrogate (from a JSON escape such as \\ud800) replaced, so
    that the row can be written as UTF-8."""
    if isinstance(value, str) and not is_valid_unicode(value):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


class RowWriter:
    """Writes output rows: the input's columns, then ``result_columns``, then ``error``."""

    def __init__(self, stream: IO[str], format: str, input_columns: Sequence[str],
                 result_columns: Sequence[str], write_header: bool = True) -> None:
        self.stream = stream
        self.format = output_format_for(format)
        self.columns = [*input_columns, *[c for c in result_columns if c not in input_columns]]
        if ERROR_COLUMN not in self.columns:
            self.columns.append(ERROR_COLUMN)
        self._csv = None
        if self.format in ("csv", "tsv"):
            self._csv = csv.writer(stream, delimiter="\t" if self.format == "tsv" else ",",
                                   lineterminator="\n")
            if write_header:
                self._csv.writerow(self.columns)

    def write(self, row: Row, result_columns: Optional[Dict[str, Any]]) -> None:
        values = {key: safe_text(value) for key, value in row.values.items()}
        if self._csv is not None:  # a list (KorQuAD's answers) or an object in a cell: as JSON
            values = {key: json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
                      for key, value in values.items()}
        values.update(result_columns or {})
        values[ERROR_COLUMN] = row.problem or ""
        if self._csv is not None:
            self._csv.writerow(["" if values.get(c) is None else values.get(c) for c in self.columns])
        else:
            self.stream.write(json.dumps({c: values.get(c) for c in self.columns}, ensure_ascii=False) + "\n")


__all__ = ["RowWriter", "safe_text"]
